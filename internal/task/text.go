package task

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Hostile text. A name is shown in terminals, logs, dashboards and web
// pages; characters that have no place in one can rewrite what an operator
// sees (ESC sequences clear a screen or set a window title, CR hides the
// start of a line, a right-to-left override reverses the text after it).
// They are:
//
//   - C0 and C1 controls and DEL (Unicode category Cc);
//   - format characters (Cf): bidirectional marks, embeddings, overrides
//     and isolates (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069, U+061C),
//     the byte-order mark, soft hyphen, invisible operators, tags;
//   - the line and paragraph separators U+2028 and U+2029 (Zl, Zp).
//
// The zero-width non-joiner and joiner (U+200C, U+200D) are format
// characters too, but they are part of the correct spelling of Persian,
// Indic and emoji names, so they are kept.
//
// The policy: a track_id containing any of them is refused (invalid_message):
// an id is a key and must not be silently changed. In artist and title they
// are stripped: a run of line breaks, tabs and separators becomes one space,
// anything else is removed, and the task goes on with the cleaned text (the
// worker counts it in enrichment_text_cleaned_total{field}). A name that is
// empty once cleaned is refused.

// hostile reports whether r has no place in a name.
func hostile(r rune) bool {
	if r == '\u200c' || r == '\u200d' {
		return false
	}
	if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
		return true
	}
	return r >= 0x80 && (unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp))
}

// breaking reports whether r is a hostile character that separates words
// (it becomes a space when a name is cleaned).
func breaking(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', '\u0085', '\u2028', '\u2029':
		return true
	}
	return false
}

// firstHostile returns the first hostile rune of s.
func firstHostile(s string) (rune, bool) {
	for _, r := range s {
		if hostile(r) {
			return r, true
		}
	}
	return 0, false
}

// CleanName strips the hostile characters from a name (see above) and
// reports whether anything was changed.
func CleanName(s string) (string, bool) {
	if _, ok := firstHostile(s); !ok {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case breaking(r):
			space = true
		case hostile(r):
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(r)
		}
	}
	if space {
		b.WriteByte(' ')
	}
	return b.String(), true
}

// errDuplicateKey is wrapped with the key's name.
var errDuplicateKey = errors.New("duplicate key")

// duplicateKey finds a key that appears twice in one JSON object of body, at
// any depth. encoding/json keeps the last of them silently, so a body that
// says "title" twice could be read one way by one consumer and another way
// by the next; such a body is refused.
func duplicateKey(body []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]struct{}
		key    bool // the next token of an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.key = true // the container was a value
				}
				stack = append(stack, &frame{object: d == '{', key: d == '{', keys: map[string]struct{}{}})
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top == nil || !top.object {
			continue
		}
		if top.key {
			k := tok.(string)
			if _, dup := top.keys[k]; dup {
				return k, errDuplicateKey
			}
			top.keys[k] = struct{}{}
			top.key = false
			continue
		}
		top.key = true
	}
}

// clipQuoted clips s for an error message and escapes what is not
// printable, so the message itself carries no hostile character.
func clipQuoted(s string) string {
	if utf8.RuneCountInString(s) > 64 {
		s = string([]rune(s)[:64]) + "…"
	}
	return strconv.Quote(s)
}
