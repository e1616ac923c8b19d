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
	s.Title = similarity(q.Track.Base, ct.Base)
	s.Artist = artistScore(q.Track.Artists, ct.Artists)

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
	case s.Artist == 0:
		s.Rejected = "artist: no artist in common"
	case !mainArtistPresent(q.Track.Artists, ct.Artists):
		s.Rejected = "artist: a credited artist is missing"
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
		artistScore(a.Track.Artists, b.Track.Artists) < 1 {
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

// nameMatch compares two artist keys, tolerating small spelling variants.
func nameMatch(a, b string) bool {
	if a == b {
		return true
	}
	if strings.ReplaceAll(a, " ", "") == strings.ReplaceAll(b, " ", "") {
		return true
	}
	return ratio(a, b) >= 0.9
}

// artistScore is the fuzzy Jaccard similarity of two artist sets.
func artistScore(q, c []string) float64 {
	if len(q) == 0 || len(c) == 0 {
		return 0
	}
	used := make([]bool, len(c))
	matched := 0
	for _, a := range q {
		for j, b := range c {
			if !used[j] && nameMatch(a, b) {
				used[j] = true
				matched++
				break
			}
		}
	}
	return float64(matched) / float64(len(q)+len(c)-matched)
}

// mainArtistPresent requires every queried artist but featured guests to be
// credited: here, every queried artist must be present unless the candidate
// credits more artists than asked (a guest the scraper left out).
func mainArtistPresent(q, c []string) bool {
	missing := 0
	for _, a := range q {
		if !containsName(c, a) {
			missing++
		}
	}
	// One missing artist out of several is tolerated (a featured guest that
	// the provider does not credit); a single queried artist must be there.
	return missing == 0 || (len(q) > 1 && missing == 1)
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

// ratio is 1 - Levenshtein distance / longer length, over runes.
func ratio(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	n := max(len(ra), len(rb))
	if n == 0 {
		return 1
	}
	return 1 - float64(levenshtein(ra, rb))/float64(n)
}

func levenshtein(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
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
