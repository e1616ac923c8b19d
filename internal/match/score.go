package match

import (
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/djmeta/enrichment/internal/provider"
)

// Weights of the score components (docs/matching.md). Title and artists
// decide most; duration counts only when both sides know it.
const (
	WeightTitle    = 3.0
	WeightArtist   = 2.0
	WeightDuration = 2.0
	WeightISRC     = 3.0
)

// Defaults of the decision rule.
const (
	// ThresholdDefault is the least total score of an accepted match.
	ThresholdDefault = 0.82
	// MarginDefault is how far the best must lead the best *different*
	// recording.
	MarginDefault = 0.05
	// DurationGraceMS is the difference that costs nothing; the penalty then
	// grows linearly to 1 at DurationGraceMS+DurationSpanMS.
	DurationGraceMS = 4000
	DurationSpanMS  = 26000
	// SameRecordingMS: two candidates of the same title, version and
	// artists whose durations differ by at most this are the same recording
	// (a single and its album copy).
	SameRecordingMS = 3000
	// TitleGate is the least title similarity of a candidate: below it the
	// titles name different songs, however well the rest fits.
	TitleGate = 0.8
	// SubtitlePenalty is what a bracketed subtitle of the candidate that the
	// scrape leaves out keeps of the title similarity ("Blue" vs "Blue (Da
	// Ba Dee)": 0.85).
	SubtitlePenalty = 0.85
	// GuestPenalty is what each featured guest that one side names and the
	// other leaves out costs the artist similarity.
	GuestPenalty = 0.1
	// SubsetPenalty is what each credited main artist that the line leaves
	// out costs the artist similarity, when a partial credit is accepted
	// (ScoreRecording: the duration, the ISRC or the id confirms it).
	SubsetPenalty = 0.2
	// SubsetTitle is the least title similarity of a partial credit
	// confirmed by the duration: the titles must agree, not merely resemble.
	SubsetTitle = 0.9
)

// MatcherVersion is the matcher's version, stored with each decision
// (enrichment_status.matcher_version): a row decided by an older matcher may
// be decided again from the cached answers (enrichctl rematch). Bump it
// whenever a change can alter a decision.
//
//	1  the matcher of issues 4 to 15
//	2  issue 16: partial credits, version from the duration, aliases and
//	   name variations, typo tolerance, what earlier providers established
const MatcherVersion = 2

// Config tunes the decision rule.
type Config struct {
	Threshold float64
	Margin    float64
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{Threshold: ThresholdDefault, Margin: MarginDefault} }

// Query is what a tracklist entry tells us.
type Query struct {
	Track      Track
	DurationMS int    // hint, 0 when unknown
	ISRC       string // known or learned ISRC, "" when unknown
	// ID is the task's id hint for the provider being asked ("" when none):
	// a candidate with that id is the recording the task points at.
	ID string
	// Learned is what the providers asked before established about the
	// recording (nil when nothing).
	Learned *Learned
}

// Learned is what accepted matches at earlier providers established about
// the recording a line names: facts about the recording, not about the
// line, that a later provider's candidates are judged with.
type Learned struct {
	// Aliases are, by artist key of the line, the other names the matched
	// artist goes by (a former name, a name variation, today's name).
	Aliases map[string][]string
	// Guests are the artist keys a provider credits as featured guests
	// ("feat."): another provider that lists them as plain artists (Spotify)
	// is not crediting another collaborator.
	Guests []string
	// DurationMS is the recording's length (0 when unknown).
	DurationMS int
}

// Score is one candidate's evaluation.
type Score struct {
	Total    float64 `json:"total"`
	Title    float64 `json:"title"`
	Artist   float64 `json:"artist"`
	Duration float64 `json:"duration,omitempty"`
	ISRC     float64 `json:"isrc,omitempty"`
	// Rejected says why a candidate cannot match whatever its similarity
	// (other version, other artist); Total is 0 then.
	Rejected string `json:"rejected,omitempty"`
	// Rules names the issue-16 rules that let the candidate through: "partial
	// credit" (confirmed by "duration", "isrc" or "id"), "version from the
	// duration", "alias".
	Rules []string `json:"rules,omitempty"`
}

// Candidate is a provider recording with its parse and score.
type Candidate struct {
	Recording provider.Recording `json:"-"`
	Track     Track              `json:"track"`
	Score     Score              `json:"score"`
	// Raw is Score.Total before a rejection zeroed it: how close a rejected
	// candidate came (close calls, CloseCallOf).
	Raw float64 `json:"-"`
}

// ParseRecording parses a provider candidate; MusicBrainz's disambiguation
// ("extended mix") counts as version information. The artists a credit with
// join phrases names after "feat." are featured guests; the other names of
// each artist (provider.Recording.ArtistNames) are kept as AltNames.
func ParseRecording(r provider.Recording) Track {
	title := r.Title
	if r.Disambiguation != "" {
		if _, ok := classify(r.Disambiguation); ok {
			title += " (" + r.Disambiguation + ")"
		}
	}
	t := Parse(strings.Join(r.Artists, ", "), title)
	if r.Credit != "" && mayFeature(r.Credit) {
		if loc := featSplit.FindStringIndex(" " + r.Credit + " "); loc != nil {
			for _, g := range splitArtists((" " + r.Credit + " ")[loc[1]:]) {
				if containsName(t.Artists, g) && !containsName(t.Featured, g) {
					t.Featured = append(t.Featured, g)
				}
			}
		}
	}
	for i, others := range r.ArtistNames {
		if i >= len(r.Artists) || len(others) == 0 {
			continue
		}
		keys := splitArtists(r.Artists[i])
		if len(keys) != 1 {
			continue
		}
		for _, o := range others {
			if k := ArtistKey(o); k != "" && k != keys[0] {
				if t.AltNames == nil {
					t.AltNames = map[string][]string{}
				}
				t.AltNames[keys[0]] = append(t.AltNames[keys[0]], k)
			}
		}
	}
	return t
}

// ScoreRecording scores one candidate against the query.
func ScoreRecording(q Query, r provider.Recording) Candidate {
	ct := ParseRecording(r)
	c := Candidate{Recording: r, Track: ct}
	s := &c.Score
	s.Title = titleScore(q.Track, ct)
	art := compareArtists(q.Track, ct, q.Learned)
	s.Artist = art.score

	sum, weights := WeightTitle*s.Title+WeightArtist*s.Artist, WeightTitle+WeightArtist
	isrcMatch := q.ISRC != "" && containsISRC(r.ISRCs, q.ISRC)
	if isrcMatch {
		s.ISRC = 1
		sum += WeightISRC
		weights += WeightISRC
	}
	if q.DurationMS > 0 && r.DurationMS > 0 {
		d := math.Abs(float64(q.DurationMS - r.DurationMS))
		s.Duration = 1 - clamp((d-DurationGraceMS)/DurationSpanMS)
		sum += WeightDuration * s.Duration
		weights += WeightDuration
	}
	s.Total = sum / weights
	if art.alias {
		s.Rules = append(s.Rules, "alias")
	}

	// What confirms the recording beyond its title and artists: the task's
	// (or a learned) ISRC, the task's id, or the length within the grace
	// (the hint's, else the one an earlier provider's match established).
	idMatch := q.ID != "" && r.ID == q.ID
	durationAgrees := func() bool {
		if r.DurationMS <= 0 {
			return false
		}
		d := q.DurationMS
		if d <= 0 && q.Learned != nil {
			d = q.Learned.DurationMS
		}
		return d > 0 && math.Abs(float64(d-r.DurationMS)) <= DurationGraceMS
	}
	versionSame := q.Track.Version.Same(ct.Version)
	if !versionSame && inferredExtended(q.Track, ct) && q.DurationMS > 0 && durationAgrees() {
		// A plain title whose duration is the extended mix's: the line names
		// the extended mix without writing it (never a remix nor an edit).
		versionSame = true
		s.Rules = append(s.Rules, "version from the duration")
	}
	switch {
	case !versionSame:
		s.Rejected = "version: want " + q.Track.Version.String() + ", candidate is " + ct.Version.String()
	case s.Title < TitleGate:
		s.Rejected = "title: too different"
	case !numbersAgree(q.Track, ct):
		s.Rejected = "title: other numbers"
	case art.rejected != "":
		s.Rejected = "artist: " + art.rejected
	case isrcMatch && s.Duration == 0 && q.DurationMS > 0 && r.DurationMS > 0:
		s.Rejected = "duration: differs by more than 30s despite the same ISRC"
	case len(art.subset) > 0:
		// The line names some of the credited main artists: the same
		// recording only when something beyond the names confirms it.
		switch {
		case isrcMatch:
			s.Rules = append(s.Rules, "partial credit (isrc)")
		case idMatch:
			s.Rules = append(s.Rules, "partial credit (id)")
		case s.Title >= SubsetTitle && durationAgrees():
			s.Rules = append(s.Rules, "partial credit (duration)")
		default:
			s.Rejected = "artist: also credits " + strings.Join(art.subset, ", ") + " (a partial credit needs the duration, the ISRC or the id to agree)"
		}
	}
	c.Raw = s.Total
	if s.Rejected != "" {
		s.Total = 0
	}
	return c
}

// inferredExtended reports whether candidate c is the extended mix of the
// plain title q names, so that a duration that fits it may pick it: q
// writes no version, c is an Extended Mix (not a remix, not an edit).
func inferredExtended(q, c Track) bool {
	return !q.VersionWritten && q.Version.Kind == VersionOriginal && len(q.Version.Remixers) == 0 &&
		c.Version.Kind == VersionExtended && len(c.Version.Remixers) == 0 && !c.Version.Extended
}

// Decision is the outcome of choosing among candidates.
type Decision struct {
	// Best is the accepted candidate; nil when there is no match.
	Best *Candidate `json:"-"`
	// Equivalent are other candidates that are the same recording as Best
	// (other releases of it), best first.
	Equivalent []Candidate `json:"-"`
	// RunnerUp is the best different recording's score (0 if none).
	RunnerUp float64 `json:"runner_up"`
	// Reason explains a refusal: below threshold, ambiguous, all rejected.
	Reason string `json:"reason,omitempty"`
	// Considered is the number of candidates scored.
	Considered int `json:"considered"`
}

// Choose scores every candidate and picks one above the threshold that
// leads the best different recording by the margin.
func Choose(cfg Config, q Query, recs []provider.Recording) (Decision, []Candidate) {
	cands := make([]Candidate, 0, len(recs))
	for _, r := range recs {
		cands = append(cands, ScoreRecording(q, r))
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].Score.Total > cands[j].Score.Total })
	d := Decision{Considered: len(cands)}
	if len(cands) == 0 {
		d.Reason = "no candidates"
		return d, cands
	}
	best := cands[0]
	if best.Score.Total == 0 {
		d.Reason = "every candidate rejected: " + best.Score.Rejected
		return d, cands
	}
	if best.Score.Total < cfg.Threshold {
		d.Reason = "best score below threshold"
		return d, cands
	}
	for _, c := range cands[1:] {
		if c.Score.Total == 0 {
			break
		}
		if sameRecording(best, c) {
			d.Equivalent = append(d.Equivalent, c)
			continue
		}
		if d.RunnerUp == 0 {
			d.RunnerUp = c.Score.Total
		}
	}
	if best.Score.Total-d.RunnerUp < cfg.Margin {
		d.Reason = "ambiguous: a different recording scores within the margin"
		d.Equivalent = nil
		return d, cands
	}
	d.Best = &cands[0]
	return d, cands
}

// sameRecording reports whether two candidates are one recording: the same
// id, a shared ISRC, or the same title, version and artists at the same
// length.
func sameRecording(a, b Candidate) bool {
	ra, rb := a.Recording, b.Recording
	if ra.ID == rb.ID && ra.Provider == rb.Provider && ra.Position == rb.Position {
		return true
	}
	for _, i := range ra.ISRCs {
		if containsISRC(rb.ISRCs, i) {
			return true
		}
	}
	if a.Track.Base != b.Track.Base || !a.Track.Version.Same(b.Track.Version) ||
		compareArtists(a.Track, b.Track, nil).score < 1 {
		return false
	}
	if ra.DurationMS == 0 || rb.DurationMS == 0 {
		return true
	}
	return math.Abs(float64(ra.DurationMS-rb.DurationMS)) <= SameRecordingMS
}

func containsISRC(list []string, isrc string) bool {
	for _, x := range list {
		if strings.EqualFold(x, isrc) {
			return true
		}
	}
	return false
}

func clamp(x float64) float64 { return math.Max(0, math.Min(1, x)) }

// nameMatch compares two artist keys, tolerating small spelling variants,
// spacing ("ce ce peniston") and a "dj" prefix one side leaves out.
func nameMatch(a, b string) bool {
	if a == b {
		return true
	}
	a, b = strings.TrimPrefix(a, "dj "), strings.TrimPrefix(b, "dj ")
	if strings.ReplaceAll(a, " ", "") == strings.ReplaceAll(b, " ", "") {
		return true
	}
	if isASCII(a) && isASCII(b) {
		if typo([]byte(a), []byte(b)) {
			return true
		}
	} else if typo([]rune(a), []rune(b)) {
		return true
	}
	return ratio(a, b) >= 0.9
}

// typo reports whether two names of five letters or more differ by a typo:
// one letter changed, dropped, doubled or two neighbours swapped
// ("cristoph", "christoph"; "bicpe", "bicep"); two such in names of ten
// letters or more ("boris brechja", "boris brejcha"). Shorter names are
// other artists ("tiga", "tyga"; "atb", "atc").
func typo[E byte | rune](a, b []E) bool {
	n := min(len(a), len(b))
	if n < 5 || len(a)-len(b) > 2 || len(b)-len(a) > 2 {
		return false
	}
	if swapped(a, b) {
		return true
	}
	limit := 1
	if n >= 10 {
		limit = 2
	}
	return withinEdits(a, b, limit)
}

// withinEdits reports whether the edit distance of a and b is at most k,
// giving up on a row whose every entry is beyond k (most name pairs are
// far apart: a few rows decide).
func withinEdits[E byte | rune](a, b []E, k int) bool {
	var buf [2 * 64]int
	var prev, cur []int
	if len(b) < 64 {
		prev, cur = buf[:len(b)+1], buf[64:64+len(b)+1]
	} else {
		prev, cur = make([]int, len(b)+1), make([]int, len(b)+1)
	}
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		low := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			low = min(low, cur[j])
		}
		if low > k {
			return false
		}
		prev, cur = cur, prev
	}
	return prev[len(b)] <= k
}

// swapped reports whether a and b differ only by two neighbouring elements
// swapped ("bicpe", "bicep").
func swapped[E byte | rune](a, b []E) bool {
	if len(a) != len(b) {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && slices.Equal(a[i+2:], b[i+2:])
}

// artistResult is the comparison of two artist sets.
type artistResult struct {
	score    float64
	rejected string
	// subset are the main artists the candidate credits and the line leaves
	// out: the line names a partial credit, accepted only when something
	// beyond the names confirms it (ScoreRecording).
	subset []string
	// alias reports that a name matched only as another name of the artist.
	alias bool
}

// NamesMatch reports whether line artist a is candidate c's artist b: the
// same name (nameMatch), or one of b's other names (c.AltNames), or a name
// an earlier provider established for a (l.Aliases). alias reports that only
// another name matched.
func NamesMatch(a, b string, c Track, l *Learned) (match, alias bool) {
	if nameMatch(a, b) {
		return true, false
	}
	for _, o := range c.AltNames[b] {
		if nameMatch(a, o) {
			return true, true
		}
	}
	if l != nil {
		for _, o := range l.Aliases[a] {
			if nameMatch(o, b) {
				return true, true
			}
		}
	}
	return false, false
}

// compareArtists compares the query's artists with a candidate's. The
// score is the fuzzy Jaccard similarity of the two sets. Every main artist
// of the query must be credited; a featured guest of the query may be left
// out by the provider (their credits often miss guests), and a guest the
// candidate names in its title or its credit (or that an earlier provider
// credits as a guest, l) may be left out by the scrape. Main artists the
// candidate credits and the line leaves out make a partial credit (subset),
// which ScoreRecording accepts only with a duration, ISRC or id that agrees.
// When names do not line up one to one but the two sides use the same words
// ("Paul & Fritz Kalkbrenner" and "Paul Kalkbrenner, Fritz Kalkbrenner"),
// the sets are the same.
func compareArtists(q, c Track, l *Learned) artistResult {
	if len(q.Artists) == 0 || len(c.Artists) == 0 {
		return artistResult{rejected: "no artist in common"}
	}
	var res artistResult
	used := make([]bool, len(c.Artists))
	matched := 0
	var missingMain, missingGuest []string
	for _, a := range q.Artists {
		found := false
		for j, b := range c.Artists {
			if used[j] {
				continue
			}
			if ok, alias := NamesMatch(a, b, c, l); ok {
				used[j], found = true, true
				res.alias = res.alias || alias
				matched++
				break
			}
		}
		switch {
		case found:
		case containsName(q.Featured, a):
			missingGuest = append(missingGuest, a)
		default:
			missingMain = append(missingMain, a)
		}
	}
	var extra, extraGuest []string
	for j, b := range c.Artists {
		switch {
		case used[j] || containsName(q.Artists, b):
		case containsName(c.Featured, b) || l != nil && containsName(l.Guests, b):
			// A guest the candidate itself calls featured ("Title (feat.
			// X)", "A feat. X"), or one an earlier provider credits so, may
			// be missing from the scrape.
			extraGuest = append(extraGuest, b)
		default:
			extra = append(extra, b)
		}
	}
	if len(missingGuest) > 0 && len(extraGuest) > 0 {
		// Each side names a guest the other does not: other guests.
		extra = append(extra, extraGuest...)
		extraGuest = nil
	}
	score := float64(matched) / float64(len(q.Artists)+len(c.Artists)-matched)
	switch {
	case len(missingMain) == 0 && len(extra) == 0:
		// The main artists agree; a guest one side leaves out costs
		// GuestPenalty, not a share of the set.
		guests := float64(len(missingGuest) + len(extraGuest))
		res.score = math.Max(score, 1-GuestPenalty*guests)
		return res
	case sameWords(q.Artists, c.Artists):
		res.score = 1
		return res
	case matched == 0:
		res.rejected = "no artist in common"
		return res
	case len(missingMain) > 0:
		res.score, res.rejected = score, "not credited: "+strings.Join(missingMain, ", ")
		return res
	}
	// A partial credit: the line names some of the credited main artists.
	guests := float64(len(missingGuest) + len(extraGuest))
	res.score = math.Max(score, math.Max(0.4, 1-SubsetPenalty*float64(len(extra))-GuestPenalty*guests))
	res.subset = extra
	return res
}

// sameWords reports whether two artist lists use the same words, ignoring
// "and" and one-letter words (a joining "x" or "Λ").
func sameWords(a, b []string) bool {
	set := func(names []string) map[string]bool {
		out := map[string]bool{}
		for _, n := range names {
			for _, w := range strings.Fields(n) {
				if w != "and" && len([]rune(w)) > 1 {
					out[w] = true
				}
			}
		}
		return out
	}
	sa, sb := set(a), set(b)
	if len(sa) == 0 || len(sa) != len(sb) {
		return false
	}
	for w := range sa {
		if !sb[w] {
			return false
		}
	}
	return true
}

// numbersAgree reports whether two titles carry the same numbers, the
// candidate's subtitle left out when the scrape leaves it out.
func numbersAgree(q, c Track) bool {
	n := numbers(q.Base)
	return n == numbers(c.Base) || q.Main == "" && c.Main != "" && n == numbers(c.Main)
}

// titleScore compares two titles: the whole titles, or, when the candidate
// carries bracketed words that the scraped title leaves out ("Blue" and
// "Blue (Da Ba Dee)"), the titles without them, at SubtitlePenalty. The
// other way round ("One (Your Name)" and "One") is not forgiven: the scrape
// names words the candidate does not have.
func titleScore(q, c Track) float64 {
	best := similarity(q.Base, c.Base)
	if q.Main == "" && c.Main != "" {
		best = math.Max(best, SubtitlePenalty*similarity(q.Base, c.Main))
	}
	return best
}

// similarity of two title keys: the better of a character-level ratio and a
// word-level match (word order and small typos tolerated).
func similarity(a, b string) float64 {
	if a == b {
		return 1
	}
	if a == "" || b == "" {
		return 0
	}
	return math.Max(ratio(a, b), wordSimilarity(a, b))
}

// ratio is 1 - Levenshtein distance / longer length, over runes (bytes
// for ASCII text, where they are the same).
func ratio(a, b string) float64 {
	if isASCII(a) && isASCII(b) {
		return ratioOf([]byte(a), []byte(b))
	}
	return ratioOf([]rune(a), []rune(b))
}

// ratioOf is ratio over bytes or runes; two neighbours swapped count as one
// edit ("goodbey", "goodbye").
func ratioOf[E byte | rune](a, b []E) float64 {
	n := max(len(a), len(b))
	if n == 0 {
		return 1
	}
	d := levenshtein(a, b)
	if d == 2 && swapped(a, b) {
		d = 1
	}
	return 1 - float64(d)/float64(n)
}

// levenshtein is the edit distance of a and b, with its rows on the stack
// for short b.
func levenshtein[E byte | rune](a, b []E) int {
	var buf [2 * 64]int
	var prev, cur []int
	if len(b) < 64 {
		prev, cur = buf[:len(b)+1], buf[64:64+len(b)+1]
	} else {
		prev, cur = make([]int, len(b)+1), make([]int, len(b)+1)
	}
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// wordSimilarity is Picard's word-level similarity: best per-word ratios of
// the shorter list, with 0.4 charged for each unmatched word of the longer.
func wordSimilarity(a, b string) float64 {
	wa, wb := strings.Fields(a), strings.Fields(b)
	if len(wa) > len(wb) {
		wa, wb = wb, wa
	}
	used := make([]bool, len(wb))
	total := 0.0
	for _, w := range wa {
		best, bi := 0.0, -1
		for j, v := range wb {
			if used[j] {
				continue
			}
			if r := ratio(w, v); r > best {
				best, bi = r, j
			}
		}
		if bi >= 0 && best > 0.6 {
			used[bi] = true
			total += best
		}
	}
	left := 0
	for _, u := range used {
		if !u {
			left++
		}
	}
	return total / (float64(len(wa)) + 0.4*float64(left))
}
