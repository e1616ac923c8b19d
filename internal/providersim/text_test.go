package providersim

import "testing"

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Kölsch", "kolsch"},
		{"Âme & Dixon", "ame and dixon"},
		{"Röyksopp - What Else Is There? (Trentemøller Remix)", "royksopp what else is there trentemoller remix"},
		{"Fred again..", "fred again"},
		{"You Don't Know Me", "you dont know me"},
		{"RÜFÜS DU SOL", "rufus du sol"},
		{"Café Del Mar", "cafe del mar"},
		{"Raw Cuts #3", "raw cuts 3"},
	}
	for _, tt := range tests {
		if got := fold(tt.in); got != tt.want {
			t.Errorf("fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWordMatches(t *testing.T) {
	tests := []struct {
		q, w string
		want bool
	}{
		{"glue", "glue", true},
		{"apric", "apricots", true}, // prefix of 4+
		{"gl", "glue", false},
		{"rhythm", "rhythim", true}, // one edit
		{"rhytm", "rhythim", false}, // two edits
		{"strobe", "strobes", true},
		{"opus", "opus2", true},
		{"ocean", "octan", true},
		{"ocean", "oceans", true},
		{"ocean", "ocea", false},
	}
	for _, tt := range tests {
		if got := wordMatches(tt.q, tt.w); got != tt.want {
			t.Errorf("wordMatches(%q, %q) = %v, want %v", tt.q, tt.w, got, tt.want)
		}
	}
}

func TestWithinOneEdit(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"abc", "abc", true}, {"abc", "abd", true}, {"abc", "abcd", true}, {"abc", "xabc", true},
		{"abc", "acb", false}, {"abc", "abcde", false}, {"", "a", true}, {"kitten", "sitting", false},
	}
	for _, tt := range tests {
		if got := withinOneEdit(tt.a, tt.b); got != tt.want {
			t.Errorf("withinOneEdit(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
