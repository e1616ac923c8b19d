package match

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/djmeta/enrichment/internal/provider"
)

// Close-call bands (docs/matching.md, "Close calls"): a provider whose
// decision found no match, but only narrowly, keeps its top candidates for a
// person to review (enrichctl review).
const (
	// ReviewBelowThreshold: a best candidate scoring at least Threshold
	// minus this, but under the threshold, is a close call ("threshold").
	ReviewBelowThreshold = 0.10
	// ReviewTitle and ReviewArtist: a candidate rejected for its version or
	// its artist credit is a close call ("version conflict", "artist
	// conflict") when its title is at least ReviewTitle similar and its
	// artists at least ReviewArtist (version) or some artist is shared
	// (artist): the same song, another version or credit. Another artist's
	// song of the same title is not one.
	ReviewTitle  = 0.90
	ReviewArtist = 0.80
	// ReviewCandidates is how many candidates a close call keeps.
	ReviewCandidates = 5
)

// Close-call reasons.
const (
	ReasonThreshold       = "threshold"
	ReasonMargin          = "margin"
	ReasonVersionConflict = "version conflict"
	ReasonArtistConflict  = "artist conflict"
)

// CloseCall is a decision that found no match only narrowly.
type CloseCall struct {
	// Reason is one of the Reason* constants.
	Reason string `json:"reason"`
	// Detail says it in numbers ("best 0.78, threshold 0.82").
	Detail string `json:"detail"`
	// Candidates are the top candidates, best first.
	Candidates []ReviewCandidate `json:"candidates"`
}

// ReviewCandidate is one candidate of a close call, with what a person needs
// to judge it and why the matcher did not take it.
type ReviewCandidate struct {
	Recording provider.Recording `json:"recording"`
	Version   string             `json:"version"`
	Score     Score              `json:"score"`
	// Close is how close it came: its total, or before a rejection zeroed
	// it, what it would have scored.
	Close float64 `json:"close"`
	Why   string  `json:"why"`
}

// CloseCallOf reports whether decision d on cands (as Choose returned them)
// is a close call, and the candidates to review. An accepted match is never
// one.
func CloseCallOf(cfg Config, d Decision, cands []Candidate) (CloseCall, bool) {
	if d.Best != nil || len(cands) == 0 {
		return CloseCall{}, false
	}
	best := cands[0]
	var cc CloseCall
	switch {
	case strings.HasPrefix(d.Reason, "ambiguous"):
		cc.Reason = ReasonMargin
		cc.Detail = fmt.Sprintf("best %.3f leads a different recording (%.3f) by less than the margin %.2f", best.Score.Total, d.RunnerUp, cfg.Margin)
	case best.Score.Total > 0 && best.Score.Total >= cfg.Threshold-ReviewBelowThreshold:
		cc.Reason = ReasonThreshold
		cc.Detail = fmt.Sprintf("best %.3f, threshold %.2f", best.Score.Total, cfg.Threshold)
	default:
		for _, c := range cands {
			s := c.Score
			if s.Rejected == "" || s.Title < ReviewTitle {
				continue
			}
			if strings.HasPrefix(s.Rejected, "version:") && s.Artist >= ReviewArtist {
				cc.Reason, cc.Detail = ReasonVersionConflict, s.Rejected
				break
			}
			if strings.HasPrefix(s.Rejected, "artist:") && s.Artist > 0 {
				cc.Reason, cc.Detail = ReasonArtistConflict, s.Rejected
				break
			}
		}
		if cc.Reason == "" {
			return CloseCall{}, false
		}
	}
	order := slices.Clone(cands)
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].Score.Total != order[j].Score.Total {
			return order[i].Score.Total > order[j].Score.Total
		}
		return order[i].Raw > order[j].Raw
	})
	for i, c := range order[:min(len(order), ReviewCandidates)] {
		rc := ReviewCandidate{Recording: c.Recording, Version: c.Track.Version.String(), Score: c.Score, Close: round3(c.Raw)}
		switch {
		case c.Score.Rejected != "":
			rc.Why = "rejected: " + c.Score.Rejected
		case c.Score.Total < cfg.Threshold:
			rc.Why = fmt.Sprintf("%.3f is below the threshold %.2f", c.Score.Total, cfg.Threshold)
		case i == 0 && cc.Reason == ReasonMargin:
			rc.Why = fmt.Sprintf("leads a different recording by %.3f, less than the margin %.2f", c.Score.Total-d.RunnerUp, cfg.Margin)
		default:
			rc.Why = fmt.Sprintf("within the margin %.2f of a different recording", cfg.Margin)
		}
		cc.Candidates = append(cc.Candidates, rc)
	}
	return cc, true
}

func round3(x float64) float64 { return float64(int(x*1000+0.5)) / 1000 }

// NameKey is the key an override by artist and title is stored under: the
// line's main artists (featured guests left out, in key order), its title
// key and its version, so that the next scrape of the same track, spelled
// the same way up to case, punctuation, diacritics and the place of
// "feat.", finds it. "" for a placeholder or a line with no title.
func NameKey(artist, title string) string {
	t := Parse(artist, title)
	if t.Placeholder || t.Base == "" {
		return ""
	}
	var main []string
	for _, a := range t.Artists {
		if !slices.Contains(t.Featured, a) && !slices.Contains(main, a) {
			main = append(main, a)
		}
	}
	sort.Strings(main)
	return strings.Join(main, ", ") + " - " + t.Base + " [" + t.Version.String() + "]"
}

// Closest returns the candidate of recs that comes closest to q, rejected
// or not (the track of a Discogs release a person accepted): the highest
// total, then the highest score before a rejection. ok is false for none.
func Closest(q Query, recs []provider.Recording) (provider.Recording, bool) {
	var best Candidate
	found := false
	for _, r := range recs {
		c := ScoreRecording(q, r)
		if !found || c.Score.Total > best.Score.Total || (c.Score.Total == best.Score.Total && c.Raw > best.Raw) {
			best, found = c, true
		}
	}
	return best.Recording, found
}
