package match

import (
	"testing"

	"github.com/djmeta/enrichment/internal/provider"
)

func TestCloseCallOf(t *testing.T) {
	tests := []struct {
		name          string
		artist, title string
		duration      int
		cands         []provider.Recording
		wantReason    string // "" = not a close call
		wantFirst     string // the first candidate listed
	}{
		{
			name: "a match is no close call", artist: "Bicep", title: "Glue",
			cands: []provider.Recording{rec("glue", "Bicep", "Glue", 269000)},
		},
		{
			name: "only another version: version conflict", artist: "Bicep", title: "Apricots (Extended Mix)",
			cands:      []provider.Recording{rec("orig", "Bicep", "Apricots", 289000), rec("other", "Someone", "Elsewhere", 200000)},
			wantReason: ReasonVersionConflict, wantFirst: "orig",
		},
		{
			name: "another artist's song of the same title: no close call", artist: "Bicep", title: "Glue",
			cands: []provider.Recording{rec("other", "Completely Different Band", "Glue", 200000)},
		},
		{
			name: "two recordings within the margin: margin", artist: "Bicep", title: "Glue",
			cands:      []provider.Recording{rec("a", "Bicep", "Glue", 269000), rec("b", "Bicep", "Glue", 330000)},
			wantReason: ReasonMargin, wantFirst: "a",
		},
		{
			name: "a partial credit nothing confirms: artist conflict", artist: "Topic", title: "Breaking Me",
			cands:      []provider.Recording{{Provider: "test", ID: "tb", Title: "Breaking Me", Artists: []string{"Topic", "A7S"}, DurationMS: 166000}},
			wantReason: ReasonArtistConflict, wantFirst: "tb",
		},
		{
			name: "no candidates", artist: "Bicep", title: "Glue",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := Query{Track: Parse(tt.artist, tt.title), DurationMS: tt.duration}
			d, cands := Choose(DefaultConfig(), q, tt.cands)
			cc, ok := CloseCallOf(DefaultConfig(), d, cands)
			if got := cc.Reason; got != tt.wantReason || ok != (tt.wantReason != "") {
				t.Fatalf("CloseCallOf() = %q, %v (decision %+v); want %q", got, ok, d, tt.wantReason)
			}
			if !ok {
				return
			}
			if got := cc.Candidates[0].Recording.ID; got != tt.wantFirst {
				t.Errorf("first candidate = %s, want %s", got, tt.wantFirst)
			}
			for i, c := range cc.Candidates {
				if c.Why == "" || c.Version == "" {
					t.Errorf("candidate %d has no why or version: %+v", i, c)
				}
			}
			if len(cc.Candidates) > ReviewCandidates {
				t.Errorf("%d candidates kept, want at most %d", len(cc.Candidates), ReviewCandidates)
			}
		})
	}
}

func TestNameKey(t *testing.T) {
	same := [][2][2]string{
		{{"Bicep", "Glue"}, {"BICEP", "glue"}},
		{{"Bicep feat. Clara La San", "Water"}, {"Bicep", "Water (feat. Clara La San)"}},
		{{"Röyksopp", "Eple"}, {"Royksopp", "Eple"}},
		{{"Bicep", "Apricots (Extended Mix)"}, {"Bicep", "Apricots - Extended Mix"}},
		{{"Disclosure & Eliza Doolittle", "You & Me"}, {"Eliza Doolittle & Disclosure", "You and Me"}},
	}
	for _, p := range same {
		a, b := NameKey(p[0][0], p[0][1]), NameKey(p[1][0], p[1][1])
		if a != b || a == "" {
			t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q; want the same", p[0], a, p[1], b)
		}
	}
	differ := [][2][2]string{
		{{"Bicep", "Apricots"}, {"Bicep", "Apricots (Extended Mix)"}},
		{{"Bicep", "Glue"}, {"Bicep", "Glue (Hammer Remix)"}},
		{{"Bicep", "Glue"}, {"Hammer", "Glue"}},
	}
	for _, p := range differ {
		if a, b := NameKey(p[0][0], p[0][1]), NameKey(p[1][0], p[1][1]); a == b {
			t.Errorf("NameKey(%q) = NameKey(%q) = %q; want different keys", p[0], p[1], a)
		}
	}
	if got := NameKey("ID", "ID"); got != "" {
		t.Errorf("NameKey of a placeholder = %q, want \"\"", got)
	}
}
