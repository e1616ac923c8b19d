package task

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHostileTrackIDRefused(t *testing.T) {
	for _, id := range []string{"a\x1bb", "a\x07", "a\r\nb", "a\u202eb", "a\u2028b", "a\u2029b", "a\u0085b",
		"a\u2066b\u2069", "\ufeffa", "a\u200fb", "a\x7fb", "a\x00b"} {
		body := `{"track_id":` + jsonString(id) + `,"artist":"Bicep","title":"Glue"}`
		_, err := Parse([]byte(body), "application/json", 0)
		ie, ok := err.(*InvalidError)
		if !ok || ie.Field != "track_id" {
			t.Errorf("Parse(track_id %q) error = %v, want invalid track_id", id, err)
			continue
		}
		if strings.ContainsFunc(ie.Error(), hostile) {
			t.Errorf("Parse(track_id %q) error %q carries the hostile character", id, ie.Error())
		}
	}
}

func TestHostileNamesCleaned(t *testing.T) {
	tests := []struct {
		give, want string
	}{
		{"Bicep", "Bicep"},
		{"\x1b[2J\x1b]0;pwned\x07Bicep", "[2J]0;pwnedBicep"},
		{"Bi\u202ecep", "Bicep"},
		{"Line one\r\nLine two", "Line one Line two"},
		{"A\u2028B\u2029C", "A B C"},
		{"tab\there", "tab here"},
		{"\u2066isolated\u2069", "isolated"},
		{"soft\u00adhyphen", "softhyphen"},
		{"\ufeffBOM", "BOM"},
		{"NUL\x00inside", "NULinside"},
		{"C1\u0085NEL", "C1 NEL"},
		{"C1\u009bCSI", "C1CSI"},
		{"می\u200cخواهم", "می\u200cخواهم"},     // ZWNJ is spelling
		{"👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"}, // ZWJ joins emoji
		{"Kölsch – Grey (Extended Mix)", "Kölsch – Grey (Extended Mix)"},
	}
	for _, tt := range tests {
		body := `{"track_id":"t1","artist":` + jsonString(tt.give) + `,"title":` + jsonString(tt.give) + `}`
		got, err := Parse([]byte(body), "", 0)
		if err != nil {
			t.Errorf("Parse(%q) error = %v, want it cleaned", tt.give, err)
			continue
		}
		if got.Artist != tt.want || got.Title != tt.want {
			t.Errorf("Parse(%q) artist, title = %q, %q; want %q", tt.give, got.Artist, got.Title, tt.want)
		}
		wantCleaned := []string(nil)
		if tt.give != tt.want {
			wantCleaned = []string{"artist", "title"}
		}
		if !slices.Equal(got.Cleaned, wantCleaned) {
			t.Errorf("Parse(%q) cleaned = %v, want %v", tt.give, got.Cleaned, wantCleaned)
		}
	}
	if _, err := Parse([]byte(`{"track_id":"t1","artist":"\u001b\u0007\u202e","title":"Glue"}`), "", 0); !IsInvalid(err) {
		t.Errorf("Parse(artist of only control characters) error = %v, want invalid", err)
	}
}

func TestDuplicateKeysRefused(t *testing.T) {
	tests := []struct {
		body string
		dup  bool
	}{
		{`{"track_id":"t1","artist":"A","title":"B","title":"C"}`, true},
		{`{"track_id":"t1","track_id":"t2","artist":"A","title":"B"}`, true},
		{`{"track_id":"t1","artist":"A","title":"B","x":{"a":1,"a":2}}`, true},
		{`{"track_id":"t1","artist":"A","title":"B","x":[{"a":1},{"a":2}]}`, false},
		{`{"track_id":"t1","artist":"A","title":"B","x":{"a":{"b":1},"b":2}}`, false},
		{`{"track_id":"t1","artist":"A","title":"B","Title":"C"}`, false},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.body), "", 0)
		if got := err != nil && strings.Contains(err.Error(), "repeats the key"); got != tt.dup {
			t.Errorf("Parse(%s) error = %v, want duplicate-key refusal %v", tt.body, err, tt.dup)
		}
	}
}

// FuzzParse: Parse never panics, and a task it accepts has no hostile
// character in its id, artist or title, and names within their limits.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"track_id":"t1","artist":"Bicep","title":"Glue"}`,
		`{"track_id":"t1","artist":"\u001b[2J","title":"x\u202ey"}`,
		`{"track_id":"t1","artist":"A","title":"B","title":"C"}`,
		`{"track_id":"t1","artist":"A","title":"B","priority":1e30,"duration_ms":-2}`,
		`{"track_id":"t1","artist":"A","title":"B","discogs_release_id":"[r1]","isrc":"gb-cel-17-00123"}`,
		`{"track_id":"t1","artist":"Bicep","title":"Glue","priority":3}`,
		`{"track_id":"","artist":1}`,
		`[]`, `{`, `null`,
	} {
		f.Add([]byte(s), "application/json", uint8(0))
	}
	f.Fuzz(func(t *testing.T, body []byte, ctype string, prio uint8) {
		got, err := Parse(body, ctype, prio)
		if err != nil {
			if !IsInvalid(err) {
				t.Fatalf("Parse error %v is not an InvalidError", err)
			}
			return
		}
		for name, v := range map[string]string{"track_id": got.TrackID, "artist": got.Artist, "title": got.Title} {
			if strings.ContainsFunc(v, hostile) {
				t.Errorf("%s %q holds a hostile character", name, v)
			}
			if v == "" || !utf8.ValidString(v) {
				t.Errorf("%s %q is empty or not UTF-8", name, v)
			}
		}
		if got.Priority < PriorityMin || got.Priority > PriorityMax {
			t.Errorf("priority %d out of range", got.Priority)
		}
	})
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
