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
		id            string   // the task's id hint for the provider
		learned       *Learned // what earlier providers established
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
		{
			name: "another number is another track", artist: "Motor City Drum Ensemble", title: "Raw Cuts #5",
			cands:  []provider.Recording{rec("3", "Motor City Drum Ensemble", "Raw Cuts #3", 400000), rec("4", "Motor City Drum Ensemble", "Raw Cuts #4", 410000)},
			wantID: "",
		},
		{
			name: "a number missing from the title is another track", artist: "Hardfloor", title: "Acperience",
			cands:  []provider.Recording{rec("1", "Hardfloor", "Acperience 1", 400000)},
			wantID: "",
		},
		{
			name: "spelled and written numbers agree", artist: "Underworld", title: "2 Months Off",
			cands:  []provider.Recording{rec("u", "Underworld", "Two Months Off", 400000)},
			wantID: "u",
		},
		{
			name: "a title that only shares words is another song", artist: "Daft Punk", title: "Harder, Better, Faster, Stronger (Live)",
			cands:  []provider.Recording{rec("medley", "Daft Punk", "Harder, Better, Faster, Stronger / Around the World (live)", 420000)},
			wantID: "",
		},
		{
			name: "a subtitle the scrape leaves out", artist: "Eiffel 65", title: "Blue",
			cands:  []provider.Recording{rec("b", "Eiffel 65", "Blue (Da Ba Dee)", 220000)},
			wantID: "b",
		},
		{
			name: "a subtitle with a number the scrape leaves out", artist: "Duke Dumont", title: "Need U",
			cands:  []provider.Recording{rec("n", "Duke Dumont", "Need U (100%)", 200000)},
			wantID: "n",
		},
		{
			name: "a subtitle the provider lacks is another song", artist: "Swedish House Mafia", title: "One (Your Name)",
			cands:  []provider.Recording{rec("one", "Swedish House Mafia", "One", 250000)},
			wantID: "",
		},
		{
			name: "the exact title beats one with a subtitle", artist: "Inner City", title: "Good Life", duration: 233000,
			cands:  []provider.Recording{rec("bv", "Inner City", "Good Life (Buena Vida)", 237000), rec("gl", "Inner City", "Good Life", 234000)},
			wantID: "gl",
		},
		{
			name: "remixer listed as an artist is not a performer", artist: "Eiffel 65", title: "Blue (Da Ba Dee) (Gabry Ponte Ice Pop Mix)",
			cands: []provider.Recording{{Provider: "t", ID: "r", Title: "Blue (Da Ba Dee) - Gabry Ponte Ice Pop Mix",
				Artists: []string{"Eiffel 65", "Gabry Ponte"}, DurationMS: 380000}},
			wantID: "r",
		},
		{
			name: "one artist of a pair is another artist set", artist: "Dubfire", title: "Dios",
			cands:  []provider.Recording{{Provider: "t", ID: "d", Title: "Dios", Artists: []string{"Dubfire", "Oliver Huntemann"}, DurationMS: 400000}},
			wantID: "",
		},
		{
			name: "a pair where the provider has one of them is another artist set", artist: "Paul & Fritz Kalkbrenner", title: "Aaron",
			cands:  []provider.Recording{rec("a", "Paul Kalkbrenner", "Aaron", 400000)},
			wantID: "",
		},
		{
			name: "a shared surname", artist: "Paul & Fritz Kalkbrenner", title: "Sky And Sand",
			cands:  []provider.Recording{{Provider: "t", ID: "s", Title: "Sky and Sand", Artists: []string{"Paul Kalkbrenner", "Fritz Kalkbrenner"}, DurationMS: 400000}},
			wantID: "s",
		},
		{
			name: "presents, order and vs.", artist: "Frankie Knuckles pres. Satoshi Tomiie", title: "Tears",
			cands:  []provider.Recording{{Provider: "t", ID: "t", Title: "Tears", Artists: []string{"Satoshi Tomiie", "Frankie Knuckles"}, DurationMS: 400000}},
			wantID: "t",
		},
		{
			name: "a guest the provider leaves out", artist: "Black Coffee feat. Bucie", title: "Superman",
			cands:  []provider.Recording{rec("s", "Black Coffee", "Superman", 400000)},
			wantID: "s",
		},
		{
			name: "a guest the scrape leaves out, named featured by the provider", artist: "Purple Disco Machine", title: "Fireworks",
			cands: []provider.Recording{{Provider: "t", ID: "f", Title: "Fireworks (feat. Moss Kena & The Knocks)",
				Artists: []string{"Purple Disco Machine", "Moss Kena", "The Knocks"}, DurationMS: 220000}},
			wantID: "f",
		},
		{
			name: "another guest is another recording", artist: "Justin Timberlake", title: "My Love (feat. Jess Glynne)",
			cands: []provider.Recording{{Provider: "t", ID: "jt", Title: "My Love (feat. T.I.)",
				Artists: []string{"Justin Timberlake", "T.I."}, DurationMS: 276000}},
			wantID: "",
		},
		{
			name: "a DJ prefix, a country tag and a typo in a long name", artist: "DJ Tiësto & WEISS (UK) & CamelPhat & Christoph", title: "Traffic",
			cands: []provider.Recording{{Provider: "t", ID: "x", Title: "Traffic",
				Artists: []string{"Tiësto", "WEISS", "CamelPhat", "Cristoph"}, DurationMS: 276000}},
			wantID: "x",
		},
		{
			name: "an edit is not the radio edit", artist: "Boris Brejcha", title: "Purple Noise (Edit)",
			cands:  []provider.Recording{rec("r", "Boris Brejcha", "Purple Noise - Radio Edit", 200000), rec("o", "Boris Brejcha", "Purple Noise", 400000)},
			wantID: "",
		},
		{
			name: "an extended remix is not the remix", artist: "Bonobo", title: "Cirrus (Solomun Extended Remix)",
			cands:  []provider.Recording{rec("r", "Bonobo", "Cirrus (Solomun Remix)", 400000), rec("e", "Bonobo", "Cirrus - Solomun Remix (Extended Mix)", 480000)},
			wantID: "e",
		},
		{
			name: "the ISRC of a recording with another title is not enough", artist: "Daft Punk", title: "Harder, Better, Faster, Stronger (Live)", isrc: "FRZ039800212",
			cands:  []provider.Recording{rec("medley", "Daft Punk", "Harder, Better, Faster, Stronger / Around the World (live)", 420000, "FRZ039800212")},
			wantID: "",
		},
		// Partial credits (issue 16): the line names some of the credited main
		// artists; accepted only when the duration, the ISRC or the id agrees.
		{
			name: "partial credit, the duration agrees", artist: "Dubfire", title: "Dios", duration: 401000,
			cands:  []provider.Recording{{Provider: "t", ID: "d", Title: "Dios", Artists: []string{"Dubfire", "Oliver Huntemann"}, DurationMS: 400000}},
			wantID: "d",
		},
		{
			name: "partial credit, the duration differs", artist: "Dubfire", title: "Dios", duration: 420000,
			cands:  []provider.Recording{{Provider: "t", ID: "d", Title: "Dios", Artists: []string{"Dubfire", "Oliver Huntemann"}, DurationMS: 400000}},
			wantID: "",
		},
		{
			name: "partial credit, the task's ISRC agrees", artist: "Kygo", title: "Higher Love", isrc: "GBCWO1913323",
			cands:  []provider.Recording{{Provider: "t", ID: "k", Title: "Higher Love", Artists: []string{"Kygo", "Whitney Houston"}, DurationMS: 228000, ISRCs: []string{"GBCWO1913323"}}},
			wantID: "k",
		},
		{
			name: "partial credit, the task's id agrees", artist: "Joel Corry", title: "Head & Heart", id: "j",
			cands:  []provider.Recording{{Provider: "t", ID: "j", Title: "Head & Heart", Artists: []string{"Joel Corry", "MNEK"}, DurationMS: 166000}},
			wantID: "j",
		},
		{
			name: "partial credit of another recording: the exact credit wins", artist: "Robin S", title: "Show Me Love", duration: 254000,
			cands: []provider.Recording{{Provider: "t", ID: "angello", Title: "Show Me Love", Artists: []string{"Steve Angello", "Laidback Luke", "Robin S"}, DurationMS: 252000},
				rec("robin", "Robin S", "Show Me Love", 254500)},
			wantID: "robin",
		},
		{
			name: "a guest the provider's credit calls featured", artist: "Calvin Harris", title: "Sweet Nothing",
			cands: []provider.Recording{{Provider: "t", ID: "s", Title: "Sweet Nothing", Artists: []string{"Calvin Harris", "Florence Welch"},
				Credit: "Calvin Harris feat. Florence Welch", DurationMS: 212000}},
			wantID: "s",
		},
		{
			name: "a guest another provider's credit calls featured", artist: "Calvin Harris", title: "Sweet Nothing",
			learned: &Learned{Guests: []string{"florence welch"}},
			cands:   []provider.Recording{{Provider: "t", ID: "s", Title: "Sweet Nothing", Artists: []string{"Calvin Harris", "Florence Welch"}, DurationMS: 212000}},
			wantID:  "s",
		},
		{
			name: "a partial credit confirmed by the length another provider established", artist: "Mark Knight", title: "Downpipe",
			learned: &Learned{DurationMS: 403000},
			cands:   []provider.Recording{{Provider: "t", ID: "d", Title: "Downpipe", Artists: []string{"Mark Knight", "Underworld"}, DurationMS: 402000}},
			wantID:  "d",
		},
		// A plain title whose duration is the extended mix's.
		{
			name: "the duration of a plain title picks the extended mix", artist: "Bicep", title: "Apricots", duration: 412000,
			cands:  []provider.Recording{rec("orig", "Bicep", "Apricots", 289000), rec("ext", "Bicep", "Apricots - Extended Mix", 412000)},
			wantID: "ext",
		},
		{
			name: "'Original Mix' is written: never the extended", artist: "Bicep", title: "Apricots (Original Mix)", duration: 412000,
			cands:  []provider.Recording{rec("ext", "Bicep", "Apricots - Extended Mix", 412000)},
			wantID: "",
		},
		{
			name: "the duration never picks a named remix", artist: "Bicep", title: "Apricots", duration: 395000,
			cands:  []provider.Recording{rec("orig", "Bicep", "Apricots", 289000), rec("rmx", "Bicep", "Apricots (Patrick Topping Remix)", 395000)},
			wantID: "",
		},
		{
			name: "the duration never picks a radio edit", artist: "Bicep", title: "Apricots", duration: 201000,
			cands:  []provider.Recording{rec("radio", "Bicep", "Apricots (Radio Edit)", 201000)},
			wantID: "",
		},
		// Other names.
		{
			name: "a former name the provider lists", artist: "The Chemical Brothers", title: "Song To The Siren",
			cands: []provider.Recording{{Provider: "t", ID: "c", Title: "Song To The Siren", Artists: []string{"The Dust Brothers"},
				ArtistNames: [][]string{{"The Chemical Brothers"}}, DurationMS: 390000}},
			wantID: "c",
		},
		{
			name: "a former name another provider established", artist: "The Dust Brothers", title: "Song To The Siren",
			learned: &Learned{Aliases: map[string][]string{"dust brothers": {"chemical brothers"}}},
			cands:   []provider.Recording{{Provider: "t", ID: "c", Title: "Song To The Siren", Artists: []string{"The Chemical Brothers"}, DurationMS: 390000}},
			wantID:  "c",
		},
		{
			name: "an alias is not every artist", artist: "The Dust Brothers", title: "Song To The Siren",
			cands: []provider.Recording{{Provider: "t", ID: "x", Title: "Song To The Siren", Artists: []string{"This Mortal Coil"},
				ArtistNames: [][]string{{"TMC"}}, DurationMS: 390000}},
			wantID: "",
		},
		{
			name: "the remixer abbreviated to initials", artist: "Jamiroquai", title: "Canned Heat (MAW Remix)",
			cands:  []provider.Recording{rec("m", "Jamiroquai", "Canned Heat (Masters At Work Remix)", 400000), rec("o", "Jamiroquai", "Canned Heat", 300000)},
			wantID: "m",
		},
		// Typos and spellings.
		{
			name: "two letters swapped in the artist", artist: "Bicpe", title: "Glue",
			cands:  []provider.Recording{rec("g", "Bicep", "Glue", 269000)},
			wantID: "g",
		},
		{
			name: "two letters swapped in the title", artist: "Apparat", title: "Goodbey",
			cands:  []provider.Recording{rec("g", "Apparat", "Goodbye", 269000)},
			wantID: "g",
		},
		{
			name: "a short name one letter off is another artist", artist: "Tiga", title: "Taste",
			cands:  []provider.Recording{rec("t", "Tyga", "Taste", 233000)},
			wantID: "",
		},
		{
			name: "two letters off in a short name is another artist", artist: "Sigala", title: "Changing",
			cands:  []provider.Recording{rec("s", "Sigma", "Changing", 229000)},
			wantID: "",
		},
		{
			name: "'N'' and '+' are 'and'", artist: "Orbital", title: "Halcyon And On And On",
			cands:  []provider.Recording{rec("h", "Orbital", "Halcyon + On + On", 560000)},
			wantID: "h",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := Query{Track: Parse(tt.artist, tt.title), DurationMS: tt.duration, ISRC: tt.isrc, ID: tt.id, Learned: tt.learned}
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

func TestBroadQuery(t *testing.T) {
	for _, tt := range []struct {
		artist, title string
		a, t          string
		ok            bool
	}{
		{"Bicep", "Glue", "Bicep", "Glue", false},
		{"Adam Beyer & Bart Skils", "Your Mind", "Adam Beyer", "Your Mind", true},
		{"Kungs vs Cookin' on 3 Burners", "This Girl", "Kungs", "This Girl", true},
		{"Spiller feat. Sophie Ellis-Bextor", "Groovejet (If This Ain't Love) (Original Mix)", "Spiller", "Groovejet (If This Ain't Love)", true},
		{"Gorgon City", "Ready For Your Love (feat. MNEK) (Extended Mix)", "Gorgon City", "Ready For Your Love (Extended Mix)", true},
		{"WEISS (UK)", "Feel My Needs", "WEISS", "Feel My Needs", true},
		{"Four Tet x Skrillex x Fred again..", "Baby again.. - Original Mix", "Four Tet", "Baby again..", true},
	} {
		a, title, ok := BroadQuery(tt.artist, tt.title)
		if a != tt.a || title != tt.t || ok != tt.ok {
			t.Errorf("BroadQuery(%q, %q) = %q, %q, %v; want %q, %q, %v", tt.artist, tt.title, a, title, ok, tt.a, tt.t, tt.ok)
		}
	}
}

func FuzzScore(f *testing.F) {
	for _, s := range [][4]string{
		{"Bicep", "Glue (Hammer Remix) [Extended]", "Bicep, Hammer", "Glue - Hammer Remix"},
		{"A feat. B & C", "T - X Remix", "A (2)*", "T (feat. B) (X Remix)"},
		{"ID", "ID", "ID", "ID"},
		{"Paul & Fritz Kalkbrenner", "Sky And Sand", "Paul Kalkbrenner, Fritz Kalkbrenner", "Sky and Sand"},
		{"Ø", "(((", "", ")))"},
		{"DJ X (UK)", "Raw Cuts #3", "X", "Raw Cuts #03"},
	} {
		f.Add(s[0], s[1], s[2], s[3], 300000, 301000)
	}
	f.Fuzz(func(t *testing.T, qa, qt, ca, ct string, qd, cd int) {
		q := Query{Track: Parse(qa, qt), DurationMS: qd}
		c := ScoreRecording(q, provider.Recording{ID: "x", Title: ct, Artists: []string{ca}, DurationMS: cd})
		s := c.Score
		if s.Total < 0 || s.Total > 1 || s.Title < 0 || s.Title > 1 || s.Artist < 0 || s.Artist > 1 {
			t.Fatalf("score out of [0,1]: %+v", s)
		}
		if s.Rejected != "" && s.Total != 0 {
			t.Fatalf("rejected candidate with a total: %+v", s)
		}
		a, title, _ := BroadQuery(qa, qt)
		if len(a) > len(qa)+1 || len(title) > len(qt)+1 {
			t.Fatalf("BroadQuery(%q, %q) grew: %q, %q", qa, qt, a, title)
		}
	})
}
