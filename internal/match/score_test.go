package match

import (
	"testing"

	"github.com/djmeta/enrichment/internal/provider"
)

func rec(id, artists, title string, dur int, isrcs ...string) provider.Recording {
	return provider.Recording{Provider: "test", ID: id, Title: title, Artists: []string{artists}, DurationMS: dur, ISRCs: isrcs}
}

func TestChoose(t *testing.T) {
	tests := []struct {
		name          string
		artist, title string
		duration      int
		isrc          string
		cands         []provider.Recording
		wantID        string // "" = no match
	}{
		{
			name: "extended mix beats original and radio edit", artist: "Bicep", title: "Apricots (Extended Mix)",
			cands:  []provider.Recording{rec("orig", "Bicep", "Apricots", 289000), rec("ext", "Bicep", "Apricots - Extended Mix", 412000), rec("radio", "Bicep", "Apricots (Radio Edit)", 201000)},
			wantID: "ext",
		},
		{
			name: "plain title is the original, not the extended", artist: "Bicep", title: "Apricots",
			cands:  []provider.Recording{rec("ext", "Bicep", "Apricots (Extended Mix)", 412000), rec("orig", "Bicep", "Apricots", 289000)},
			wantID: "orig",
		},
		{
			name: "only the wrong version: no match", artist: "Bicep", title: "Apricots (Extended Mix)",
			cands:  []provider.Recording{rec("orig", "Bicep", "Apricots", 289000), rec("radio", "Bicep", "Apricots (Radio Edit)", 201000)},
			wantID: "",
		},
		{
			name: "named remix never matches another remixer", artist: "Bicep", title: "Glue (Hammer Remix)",
			cands:  []provider.Recording{rec("orig", "Bicep", "Glue", 269000), rec("other", "Bicep", "Glue (Ross From Friends Remix)", 300000)},
			wantID: "",
		},
		{
			name: "different artist, same title: no match", artist: "Bicep", title: "Glue",
			cands:  []provider.Recording{rec("x", "Glue Gang", "Glue", 200000), rec("y", "Bicepz Tribute Band", "Glue", 269000)},
			wantID: "",
		},
		{
			name: "duration hint picks between plain versions", artist: "Bicep", title: "Glue", duration: 269000,
			cands:  []provider.Recording{rec("a", "Bicep", "Glue", 269500, "GB1"), rec("b", "Bicep", "Glue", 350000, "GB2")},
			wantID: "a",
		},
		{
			name: "two plain versions, no hint: ambiguous", artist: "Bicep", title: "Glue",
			cands:  []provider.Recording{rec("a", "Bicep", "Glue", 269500, "GB1"), rec("b", "Bicep", "Glue", 350000, "GB2")},
			wantID: "",
		},
		{
			name: "single and album copy are one recording", artist: "Bicep", title: "Glue",
			cands:  []provider.Recording{rec("single", "Bicep", "Glue", 269000, "GB1"), rec("album", "Bicep", "Glue", 269000, "GB1")},
			wantID: "single",
		},
		{
			name: "diacritics and feat in the other field", artist: "Âme feat. Dixon", title: "Rej",
			cands:  []provider.Recording{{Provider: "t", ID: "r", Title: "Rej (feat. Dixon)", Artists: []string{"Ame"}, DurationMS: 500000}},
			wantID: "r",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := Query{Track: Parse(tt.artist, tt.title), DurationMS: tt.duration, ISRC: tt.isrc}
			d, cands := Choose(DefaultConfig(), q, tt.cands)
			got := ""
			if d.Best != nil {
				got = d.Best.Recording.ID
			}
			if got != tt.wantID {
				for _, c := range cands {
					t.Logf("  %s %+v", c.Recording.ID, c.Score)
				}
				t.Errorf("Choose() = %q (%s), want %q", got, d.Reason, tt.wantID)
			}
		})
	}
}
