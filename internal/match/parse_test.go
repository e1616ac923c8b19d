package match

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParse(t *testing.T) {
	tests := []struct {
		artist, title string
		want          Track
	}{
		{"Bicep", "Apricots", Track{Base: "apricots", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep"}}},
		{"Bicep", "Apricots (Original Mix)", Track{Base: "apricots", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep"}}},
		{"Bicep", "Apricots (Extended Mix)", Track{Base: "apricots", Version: Version{Kind: VersionExtended}, Artists: []string{"bicep"}}},
		{"Bicep", "Apricots - Extended Mix", Track{Base: "apricots", Version: Version{Kind: VersionExtended}, Artists: []string{"bicep"}}},
		{"Bicep", "Glue [Radio Edit]", Track{Base: "glue", Version: Version{Kind: VersionRadio}, Artists: []string{"bicep"}}},
		{"Bicep", "Glue (Hammer Remix)", Track{Base: "glue", Version: Version{Kind: VersionRemix, Remixers: []string{"hammer"}}, Artists: []string{"bicep"}}},
		{"Bicep, Hammer", "Glue - Hammer Remix", Track{Base: "glue", Version: Version{Kind: VersionRemix, Remixers: []string{"hammer"}}, Artists: []string{"bicep"}}},
		{"Bicep", "Glue (Hammer Extended Remix)", Track{Base: "glue", Version: Version{Kind: VersionRemix, Remixers: []string{"hammer"}, Extended: true}, Artists: []string{"bicep"}}},
		{"Bicep", "Glue (Hammer Remix) [Extended Mix]", Track{Base: "glue", Version: Version{Kind: VersionRemix, Remixers: []string{"hammer"}, Extended: true}, Artists: []string{"bicep"}}},
		{"Bicep feat. Clara La San", "Saku", Track{Base: "saku", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep", "clara la san"}}},
		{"Bicep", "Saku (feat. Clara La San)", Track{Base: "saku", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep", "clara la san"}}},
		{"Bicep", "Saku ft. Clara La San", Track{Base: "saku", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep", "clara la san"}}},
		{"Âme & Dixon", "Rej (Dub)", Track{Base: "rej", Version: Version{Kind: VersionDub}, Artists: []string{"ame", "dixon"}}},
		{"Röyksopp vs. Kölsch", "Eple (VIP)", Track{Base: "eple", Version: Version{Kind: VersionVIP}, Artists: []string{"kolsch", "royksopp"}}},
		{"Fred again.. x Skrillex", "Rumble", Track{Base: "rumble", Version: Version{Kind: VersionOriginal}, Artists: []string{"fred again", "skrillex"}}},
		{"Bicep (2)", "Glue", Track{Base: "glue", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep"}}},
		{"The Chemical Brothers", "Galvanize (Instrumental)", Track{Base: "galvanize", Version: Version{Kind: VersionInstrumental}, Artists: []string{"chemical brothers"}}},
		{"Adele", "Hello (A Cappella)", Track{Base: "hello", Version: Version{Kind: VersionAcappella}, Artists: []string{"adele"}}},
		{"Bicep", "Atlas (2021 Remaster)", Track{Base: "atlas", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep"}}},
		{"Daft Punk", "Something About Us (Love Theme from Interstella 5555)", Track{Base: "something about us love theme from interstella 5555", Version: Version{Kind: VersionOriginal}, Artists: []string{"daft punk"}}},
		{"ID", "ID", Track{Base: "id", Version: Version{Kind: VersionOriginal}, Artists: []string{"id"}, Placeholder: true}},
		{"Bicep", "ID", Track{Base: "id", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep"}, Placeholder: true}},
		{"Above & Beyond", "Sun & Moon (Club Mix)", Track{Base: "sun and moon", Version: Version{Kind: VersionClub}, Artists: []string{"above", "beyond"}}},
		{"Solomun", "Home (Edit)", Track{Base: "home", Version: Version{Kind: VersionEdit}, Artists: []string{"solomun"}}},
		{"Solomun", "Home (Dixon Edit)", Track{Base: "home", Version: Version{Kind: VersionEdit, Remixers: []string{"dixon"}}, Artists: []string{"solomun"}}},
	}
	for _, tt := range tests {
		got := Parse(tt.artist, tt.title)
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Parse(%q, %q) mismatch (-want +got):\n%s", tt.artist, tt.title, diff)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{{"Bicep", "Glue (Hammer Remix) [Extended]"}, {"A feat. B & C", "T - X Remix"}, {"ID", "ID"}, {"Ø", "((("}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, artist, title string) {
		tr := Parse(artist, title)
		for _, a := range tr.Artists {
			if a == "" {
				t.Fatalf("Parse(%q, %q) produced an empty artist", artist, title)
			}
		}
		if tr.Version.Kind == "" {
			t.Fatalf("Parse(%q, %q) produced no version kind", artist, title)
		}
		if !tr.Version.Same(tr.Version) {
			t.Fatalf("version not equal to itself")
		}
	})
}
