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
		{"Bicep feat. Clara La San", "Saku", Track{Base: "saku", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep", "clara la san"}, Featured: []string{"clara la san"}}},
		{"Bicep", "Saku (feat. Clara La San)", Track{Base: "saku", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep", "clara la san"}, Featured: []string{"clara la san"}}},
		{"Bicep", "Saku ft. Clara La San", Track{Base: "saku", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep", "clara la san"}, Featured: []string{"clara la san"}}},
		{"Âme & Dixon", "Rej (Dub)", Track{Base: "rej", Version: Version{Kind: VersionDub}, Artists: []string{"ame", "dixon"}}},
		{"Röyksopp vs. Kölsch", "Eple (VIP)", Track{Base: "eple", Version: Version{Kind: VersionVIP}, Artists: []string{"kolsch", "royksopp"}}},
		{"Fred again.. x Skrillex", "Rumble", Track{Base: "rumble", Version: Version{Kind: VersionOriginal}, Artists: []string{"fred again", "skrillex"}}},
		{"Bicep (2)", "Glue", Track{Base: "glue", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep"}}},
		{"The Chemical Brothers", "Galvanize (Instrumental)", Track{Base: "galvanize", Version: Version{Kind: VersionInstrumental}, Artists: []string{"chemical brothers"}}},
		{"Adele", "Hello (A Cappella)", Track{Base: "hello", Version: Version{Kind: VersionAcappella}, Artists: []string{"adele"}}},
		{"Bicep", "Atlas (2021 Remaster)", Track{Base: "atlas", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep"}}},
		{"Daft Punk", "Something About Us (Love Theme from Interstella 5555)", Track{Base: "something about us love theme from interstella 5555", Main: "something about us", Version: Version{Kind: VersionOriginal}, Artists: []string{"daft punk"}}},
		{"ID", "ID", Track{Base: "id", Version: Version{Kind: VersionOriginal}, Artists: []string{"id"}, Placeholder: true}},
		{"Bicep", "ID", Track{Base: "id", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep"}, Placeholder: true}},
		{"Above & Beyond", "Sun & Moon (Club Mix)", Track{Base: "sun and moon", Version: Version{Kind: VersionClub}, Artists: []string{"above", "beyond"}}},
		{"Solomun", "Home (Edit)", Track{Base: "home", Version: Version{Kind: VersionEdit}, Artists: []string{"solomun"}}},
		{"Solomun", "Home (Dixon Edit)", Track{Base: "home", Version: Version{Kind: VersionEdit, Remixers: []string{"dixon"}}, Artists: []string{"solomun"}}},
		{"Frankie Knuckles pres. Satoshi Tomiie", "Tears", Track{Base: "tears", Version: Version{Kind: VersionOriginal}, Artists: []string{"frankie knuckles", "satoshi tomiie"}}},
		{"Adam Port, Stryv & Keinemusik", "Move (feat. Malachiii)", Track{Base: "move", Version: Version{Kind: VersionOriginal}, Artists: []string{"adam port", "keinemusik", "malachiii", "stryv"}, Featured: []string{"malachiii"}}},
		{"Eiffel 65", "Blue (Da Ba Dee)", Track{Base: "blue da ba dee", Main: "blue", Version: Version{Kind: VersionOriginal}, Artists: []string{"eiffel 65"}}},
		{"Eiffel 65, Gabry Ponte", "Blue (Da Ba Dee) - Gabry Ponte Ice Pop Mix", Track{Base: "blue da ba dee", Main: "blue", Version: Version{Kind: VersionRemix, Remixers: []string{"gabry ponte ice pop"}}, Artists: []string{"eiffel 65"}}},
		{"Röyksopp", "Poor Leno (Jakatta Vocal Mix)", Track{Base: "poor leno", Version: Version{Kind: VersionRemix, Remixers: []string{"jakatta vocal"}}, Artists: []string{"royksopp"}}},
		{"Moloko", "Sing It Back (Vocal Mix)", Track{Base: "sing it back", Version: Version{Kind: VersionVocal}, Artists: []string{"moloko"}}},
		{"Orbital", "Chime - 2015 Remaster", Track{Base: "chime", Version: Version{Kind: VersionOriginal}, Artists: []string{"orbital"}}},
		{"Orbital", "Chime (Live at Glastonbury 1994)", Track{Base: "chime", Version: Version{Kind: VersionLive}, Artists: []string{"orbital"}}},
		{"Metallica", "One (Demo)", Track{Base: "1", Version: Version{Kind: VersionDemo}, Artists: []string{"metallica"}}},
		{"Four Tet", "ID (Bicep Remix)", Track{Base: "id", Version: Version{Kind: VersionRemix, Remixers: []string{"bicep"}}, Artists: []string{"four tet"}, Placeholder: true}},
		{"Unknown Artist", "Untitled", Track{Base: "untitled", Version: Version{Kind: VersionOriginal}, Artists: []string{"unknown artist"}, Placeholder: true}},
		{"ID & ID", "ID - ID", Track{Base: "id id", Version: Version{Kind: VersionOriginal}, Artists: []string{"id"}, Placeholder: true}},
		{"Bicep", "Untitled ID", Track{Base: "untitled id", Version: Version{Kind: VersionOriginal}, Artists: []string{"bicep"}, Placeholder: true}},
		{"Kings Of Tomorrow", "Finally (Sandy Rivera's Classic Mix)", Track{Base: "finally", Version: Version{Kind: VersionRemix, Remixers: []string{"sandy riveras classic"}}, Artists: []string{"kings of tomorrow"}}},
		{"Kings Of Tomorrow, Sandy Rivera", "Finally - Sandy Rivera's Classic Mix", Track{Base: "finally", Version: Version{Kind: VersionRemix, Remixers: []string{"sandy riveras classic"}}, Artists: []string{"kings of tomorrow"}}},
		{"Boris Brejcha", "Purple Noise [Extended Vocal Mix]", Track{Base: "purple noise", Version: Version{Kind: VersionVocal, Extended: true}, Artists: []string{"boris brejcha"}}},
	}
	for _, tt := range tests {
		got := Parse(tt.artist, tt.title)
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Track{}, "VersionWritten")); diff != "" {
			t.Errorf("Parse(%q, %q) mismatch (-want +got):\n%s", tt.artist, tt.title, diff)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{
		{"Bicep", "Glue (Hammer Remix) [Extended]"}, {"A feat. B & C", "T - X Remix"}, {"ID", "ID"}, {"Ø", "((("},
		{"Four Tet x Skrillex x Fred again..", "Baby again.."}, {"Larry Heard pres. Mr. White", "The Sun Can't Compare"},
		{"Dusky (2)", "Nobody Else (Original Mix)"}, {"Duke Dumont feat. A*M*E", "Need U (100%) (Extended Mix)"},
		{"Eiffel 65, Gabry Ponte", "Blue (Da Ba Dee) - Gabry Ponte Ice Pop Mix"}, {"Orbital", "Chime - 2015 Remaster"},
		{"Bonobo", "Cirrus (Solomun Remix) [Extended Mix]"}, {"&ME, Rampa & Adam Port", "Muyè"}, {"", ""},
		{"Unknown Artist", "Untitled"}, {"Bicep", "ID2"}, {"Axwell Λ Ingrosso", "More Than You Know"},
	} {
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
		for _, g := range tr.Featured {
			if !containsName(tr.Artists, g) {
				t.Fatalf("Parse(%q, %q): featured %q is not among the artists %q", artist, title, g, tr.Artists)
			}
		}
		if again := Parse(artist, title); again.Base != tr.Base || !again.Version.Same(tr.Version) {
			t.Fatalf("Parse(%q, %q) is not deterministic", artist, title)
		}
	})
}
