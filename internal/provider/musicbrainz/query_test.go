package musicbrainz

import (
	"testing"

	"github.com/djmeta/enrichment/internal/provider"
)

func TestEscapeLucene(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"Apricots", "Apricots"},
		{"Apricots (Extended Mix)", `Apricots \(Extended Mix\)`},
		{"a+b-c", `a\+b\-c`},
		{"Simon && Garfunkel || Art", `Simon \&\& Garfunkel \|\| Art`},
		{"Kraft & Wolf", `Kraft \& Wolf`},
		{"Wow!", `Wow\!`},
		{"{x} [y]", `\{x\} \[y\]`},
		{"a^2 ~b", `a\^2 \~b`},
		{`say "hi"`, `say \"hi\"`},
		{"*?", `\*\?`},
		{"Title: Subtitle", `Title\: Subtitle`},
		{`back\slash`, `back\\slash`},
		{"AC/DC", `AC\/DC`},
		{"Beyoncé", "Beyoncé"},
		{"倖田來未 (feat)", `倖田來未 \(feat\)`},
		{`+-&|!(){}[]^"~*?:\/`, `\+\-\&\|\!\(\)\{\}\[\]\^\"\~\*\?\:\\\/`},
	}
	for _, tt := range tests {
		if got := escapeLucene(tt.in); got != tt.want {
			t.Errorf("escapeLucene(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSearchQuery(t *testing.T) {
	tests := []struct {
		name          string
		artist, title string
		want          string
		wantErr       bool
	}{
		{
			name: "plain title", artist: "Bicep", title: "Apricots",
			want: `recording:"Apricots" AND artist:"Bicep"`,
		},
		{
			name: "bracketed version and feat. artist", artist: "Bicep feat. Clara La San", title: "Apricots (Extended Mix)",
			want: `(recording:"Apricots \(Extended Mix\)" OR recording:"Apricots") AND artist:"Bicep"`,
		},
		{
			name: "square brackets", artist: "Fred again..", title: "Jungle [VIP]",
			want: `(recording:"Jungle \[VIP\]" OR recording:"Jungle") AND artist:"Fred again.."`,
		},
		{
			name: "dashed version suffix", artist: "Rüfüs Du Sol", title: "Innerbloom - What So Not Remix",
			want: `(recording:"Innerbloom \- What So Not Remix" OR recording:"Innerbloom") AND artist:"Rüfüs Du Sol"`,
		},
		{
			name: "dash without version kept", artist: "Orbital", title: "Halcyon - On - On",
			want: `recording:"Halcyon \- On \- On" AND artist:"Orbital"`,
		},
		{
			name: "feat. in title dropped", artist: "Disclosure", title: "Latch (feat. Sam Smith)",
			want: `recording:"Latch" AND artist:"Disclosure"`,
		},
		{
			name: "unbracketed feat. in title with version", artist: "Disclosure", title: "Latch ft. Sam Smith (Extended Mix)",
			want: `(recording:"Latch \(Extended Mix\)" OR recording:"Latch") AND artist:"Disclosure"`,
		},
		{
			name: "ampersand artists", artist: "Chase & Status", title: "Blind Faith",
			want: `recording:"Blind Faith" AND artist:"Chase"`,
		},
		{
			name: "x collaboration", artist: "Bicep x Hammer", title: "Glue",
			want: `recording:"Glue" AND artist:"Bicep"`,
		},
		{
			name: "comma list", artist: "Keinemusik, &ME, Rampa", title: "Move",
			want: `recording:"Move" AND artist:"Keinemusik"`,
		},
		{
			name: "special characters escaped", artist: "AC/DC", title: `What? "Really": 100% {Live}`,
			want: `recording:"What\? \"Really\"\: 100% \{Live\}" AND artist:"AC\/DC"`,
		},
		{
			name: "lucene operators are literal", artist: "NOT Me", title: "A AND B || C",
			want: `recording:"A AND B \|\| C" AND artist:"NOT Me"`,
		},
		{
			name: "white space collapsed", artist: "  Bicep\t", title: " Apricots \n (Extended  Mix) ",
			want: `(recording:"Apricots \(Extended Mix\)" OR recording:"Apricots") AND artist:"Bicep"`,
		},
		{
			name: "whole title bracketed", artist: "Unknown", title: "(Untitled)",
			want: `recording:"\(Untitled\)" AND artist:"Unknown"`,
		},
		{
			name: "no artist", artist: "", title: "Apricots",
			want: `recording:"Apricots"`,
		},
		{
			name: "no title", artist: "Bicep", title: "  ", wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SearchQuery(provider.Query{Artist: tt.artist, Title: tt.title})
			if (err != nil) != tt.wantErr {
				t.Fatalf("SearchQuery() error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("SearchQuery() =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

func TestFuzzySearchQuery(t *testing.T) {
	tests := []struct {
		q    provider.Query
		want string
	}{
		{provider.Query{Artist: "Bicpe", Title: "Glue"}, `+recording:(glue~) artist:(bicpe~)`},
		{provider.Query{Artist: "Amelie Lnes feat. X", Title: "Higher (Extended Mix)"}, `+recording:(higher~) artist:(amelie~ lnes~)`},
		{provider.Query{Artist: "Mu-Ziq", Title: "Hasty Boom Alert"}, `+recording:(hasty~ boom~ alert~) artist:(mu ziq~)`},
		{provider.Query{Artist: "", Title: "Goodbey (feat. Soap&Skin)"}, `+recording:(goodbey~)`},
		{provider.Query{Artist: "A", Title: `C:\ "x" ~y`}, `+recording:(c x y) artist:(a)`},
	}
	for _, tt := range tests {
		got, err := FuzzySearchQuery(tt.q)
		if err != nil || got != tt.want {
			t.Errorf("FuzzySearchQuery(%+v) = %q, %v; want %q", tt.q, got, err, tt.want)
		}
	}
	if _, err := FuzzySearchQuery(provider.Query{Artist: "A", Title: " ()"}); err == nil {
		t.Error("FuzzySearchQuery without a title word: want an error")
	}
}
