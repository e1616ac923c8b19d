package match

import (
	"math"
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
)

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
}

// Candidate is a provider recording with its parse and score.
type Candidate struct {
	Recording provider.Recording `json:"-"`
	Track     Track              `json:"track"`
	Score     Score              `json:"score"`
}

// ParseRecording parses a provider candidate; MusicBrainz's disambiguation
// ("extended mix") counts as version information.
func ParseRecording(r provider.Recording) Track {
	title := r.Title
	if r.Disambiguation != "" {
		if _, ok := classify(r.Disambiguation); ok {
			title += " (" + r.Disambiguation + ")"
		}
	}
	return Parse(strings.Join(r.Artists, ", "), title)
}

// ScoreRecording scores one candidate against the query.
func ScoreRecording(q Query, r provider.Recording) Candidate {
	ct := ParseRecording(r)
	c := Candidate{Recording: r, Track: ct}
	s := &c.Score
	s.Title = titleScore(q.Track, ct)
	art := compareArtists(q.Track, ct)
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

	switch {
	case !q.Track.Version.Same(ct.Version):
		s.Rejected = "version: want " + q.Track.Version.String() + ", candidate is " + ct.Version.String()
	case s.Title < TitleGate:
		s.Rejected = "title: too different"
	case !numbersAgree(q.Track, ct):
		s.Rejected = "title: other numbers"
	case art.rejected != "":
		s.Rejected = "artist: " + art.rejected
	case isrcMatch && s.Duration == 0 && q.DurationMS > 0 && r.DurationMS > 0:
		s.Rejected = "duration: differs by more than 30s despite the same ISRC"
	}
	if s.Rejected != "" {
		s.Total = 0
	}
	return c
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
		compareArtists(a.Track, b.Track).score < 1 {
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
		if min(len(a), len(b)) >= 6 && levenshtein([]byte(a), []byte(b)) <= 1 {
			return true // one typo in a longer name ("cristoph", "christoph")
		}
	} else if ra, rb := []rune(a), []rune(b); min(len(ra), len(rb)) >= 6 && levenshtein(ra, rb) <= 1 {
		return true
	}
	return ratio(a, b) >= 0.9
}

// artistResult is the comparison of two artist sets.
type artistResult struct {
	score    float64
	rejected string
}

// compareArtists compares the query's artists with a candidate's. The
// score is the fuzzy Jaccard similarity of the two sets. Every main artist
// of the query must be credited; a featured guest of the query may be left
// out by the provider (their credits often miss guests), and a guest the
// candidate names in its title may be left out by the scrape; any other
// artist the candidate credits but the query does not name makes another
// artist set.
// When names do not line up one to one but the two sides use the same words
// ("Paul & Fritz Kalkbrenner" and "Paul Kalkbrenner, Fritz Kalkbrenner"),
// the sets are the same.
func compareArtists(q, c Track) artistResult {
	if len(q.Artists) == 0 || len(c.Artists) == 0 {
		return artistResult{rejected: "no artist in common"}
	}
	used := make([]bool, len(c.Artists))
	matched := 0
	var missingMain, missingGuest []string
	for _, a := range q.Artists {
		found := false
		for j, b := range c.Artists {
			if !used[j] && nameMatch(a, b) {
				used[j], found = true, true
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
		case containsName(c.Featured, b):
			// A guest the candidate itself calls featured ("Title (feat.
			// X)") may be missing from the scrape.
			extraGuest = append(extraGuest, b)
		default:
			extra = append(extra, b)
		}
	}
	if len(missingGuest) > 0 && len(extraGuest) > 0 {
		// Each side names a guest the other does not: other guests.
		extra = append(extra, extraGuest...)
	}
	score := float64(matched) / float64(len(q.Artists)+len(c.Artists)-matched)
	switch {
	case len(missingMain) == 0 && len(extra) == 0:
		// The main artists agree; a guest one side leaves out costs
		// GuestPenalty, not a share of the set.
		guests := float64(len(missingGuest) + len(extraGuest))
		return artistResult{score: math.Max(score, 1-GuestPenalty*guests)}
	case sameWords(q.Artists, c.Artists):
		return artistResult{score: 1}
	case matched == 0:
		return artistResult{rejected: "no artist in common"}
	case len(missingMain) > 0:
		return artistResult{score: score, rejected: "not credited: " + strings.Join(missingMain, ", ")}
	}
	return artistResult{score: score, rejected: "also credits " + strings.Join(extra, ", ")}
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
		n := max(len(a), len(b))
		if n == 0 {
			return 1
		}
		return 1 - float64(levenshtein([]byte(a), []byte(b)))/float64(n)
	}
	ra, rb := []rune(a), []rune(b)
	n := max(len(ra), len(rb))
	if n == 0 {
		return 1
	}
	return 1 - float64(levenshtein(ra, rb))/float64(n)
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
