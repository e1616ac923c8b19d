package enrichctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// safeRune reports whether r may reach a terminal as it is: graphic
// characters and the space. Everything else (C0 and C1 controls such as
// ESC, BEL, CR and LF; DEL; format characters such as the bidirectional
// overrides and isolates; the line and paragraph separators U+2028/2029;
// private use and unassigned code points) could move the cursor, change
// the terminal's state, or reorder or hide text. The zero-width joiner and
// non-joiner are kept: scripts and emoji need them and they do neither.
func safeRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0x20 && r < 0x7f
	}
	return unicode.IsGraphic(r) || r == '\u200c' || r == '\u200d'
}

// Escape makes s safe to print on a terminal: each unsafe character (see
// safeRune) becomes a visible Go-style escape (\x1b, \u202e, \U000e0001)
// and each byte that is not UTF-8 becomes \xNN. Text without such
// characters is returned unchanged. Every table enrichctl prints passes
// what it did not write itself through Escape.
func Escape(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !safeRune(r) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case safeRune(r):
			b.WriteString(s[i : i+size])
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += size
	}
	return b.String()
}

// escapeLines is Escape for a message of several lines: line breaks and
// tabs are kept, everything else unsafe is escaped.
func escapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		parts := strings.Split(l, "\t")
		for j, p := range parts {
			parts[j] = Escape(p)
		}
		lines[i] = strings.Join(parts, "\t")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// writeJSON writes v as indented JSON. Unsafe characters inside strings are
// written as \u escapes (the same text to a JSON reader), so JSON output is
// as safe on a terminal as a table.
func writeJSON(w io.Writer, v any) error {
	return encodeJSON(w, v, true)
}

// encodeJSON writes v as JSON, indented or on one line (JSONL).
func encodeJSON(w io.Writer, v any, indent bool) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	if _, err := w.Write(escapeJSON(buf.Bytes())); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// escapeJSON rewrites every unsafe character of encoded JSON as a \u escape
// (a surrogate pair above U+FFFF). Outside strings JSON has only ASCII
// punctuation and white space, which is safe, so only string contents
// change, and only in form. The final newline is kept.
func escapeJSON(b []byte) []byte {
	clean := true
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r >= utf8.RuneSelf && !safeRune(r) || r == 0x7f {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == 0x7f:
			out = append(out, `\u007f`...)
		case r < utf8.RuneSelf || safeRune(r):
			out = append(out, b[i:i+size]...)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	return out
}
