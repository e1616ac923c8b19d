// Package match decides which provider candidate, if any, is the recording a
// DJ tracklist entry names. It parses scraped artist and title strings
// (versions, remixers, featured artists, artist lists, placeholders),
// normalises them (Unicode folding, punctuation, Discogs suffixes), scores
// candidates with a documented weighted similarity, and picks one only above
// a threshold and with a margin over the best different recording. See
// docs/matching.md.
package match

import (
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// special letters that NFKD does not decompose.
var letterFold = strings.NewReplacer(
	"ø", "o", "Ø", "o", "ß", "ss", "æ", "ae", "Æ", "ae", "œ", "oe", "Œ", "oe",
	"đ", "d", "Đ", "d", "ł", "l", "Ł", "l", "þ", "th", "ð", "d", "ı", "i",
	"’", "'", "‘", "'", "“", "\"", "”", "\"", "–", "-", "—", "-", "‐", "-",
)

// Fold lower-cases s, folds diacritics and compatibility forms
// ("Röyksopp" → "royksopp", "Âme" → "ame", "ﬁ" → "fi").
func Fold(s string) string {
	if isASCII(s) {
		return strings.ToLower(s) // nothing to fold: skip the Unicode transforms
	}
	s = letterFold.Replace(s)
	t := transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return strings.ToLower(out)
}

var nonWord = regexp.MustCompile(`[^\p{L}\p{N}]+`)

// Key reduces a folded string to words separated by single spaces; "&"
// becomes "and" so "Above & Beyond" and "Above and Beyond" agree.
func Key(s string) string {
	s = Fold(s)
	if isASCII(s) {
		return asciiKey(s)
	}
	return regexpKey(s)
}

// regexpKey is Key's general path for folded text (asciiKey is held to it).
func regexpKey(s string) string {
	s = strings.ReplaceAll(s, "&", " and ")
	s = strings.ReplaceAll(s, "'", "")
	return strings.TrimSpace(nonWord.ReplaceAllString(s, " "))
}

// asciiKey is Key for folded ASCII text without regular expressions (the
// common case, several times faster): letters and digits kept, "&" written
// "and", apostrophes dropped, every other run of characters one space.
func asciiKey(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 4)
	gap := false
	word := func(w string) {
		if gap && b.Len() > 0 {
			b.WriteByte(' ')
		}
		gap = false
		b.WriteString(w)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z':
			word(s[i : i+1])
		case c == '\'':
		case c == '&':
			gap = true
			word("and")
			gap = true
		default:
			gap = true
		}
	}
	return b.String()
}

// discogsSuffix is Discogs' numbering "(2)" or a country tag some
// tracklists add to tell namesakes apart ("WEISS (UK)").
var discogsSuffix = regexp.MustCompile(`\s*\((?:\d+|[A-Z]{2,3})\)$`)

// ArtistKey normalises one artist name: Discogs numbering "(2)", a country
// tag "(UK)" and the trailing "*" of name variations are removed, a leading
// "the" dropped.
func ArtistKey(name string) string {
	name = strings.TrimSpace(name)
	name = strings.TrimSuffix(name, "*")
	if strings.HasSuffix(name, ")") {
		name = discogsSuffix.ReplaceAllString(name, "")
	}
	k := Key(name)
	k = strings.TrimPrefix(k, "the ")
	return k
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
