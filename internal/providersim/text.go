package providersim

import (
	"strings"
	"unicode"
)

// foldTable maps letters with diacritics to ASCII, enough for the names in a music catalog
// (Latin-1 and Latin Extended-A). Matching is diacritic-insensitive, like the real search
// engines ("recording (title, diacritics ignored)").
var foldTable = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ā': "a", 'ă': "a", 'ą': "a",
	'æ': "ae", 'ç': "c", 'ć': "c", 'č': "c", 'ď': "d", 'đ': "d", 'ð': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ė': "e", 'ę': "e", 'ě': "e",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ī': "i", 'į': "i", 'ı': "i",
	'ł': "l", 'ñ': "n", 'ń': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ō': "o", 'ő': "o", 'œ': "oe",
	'ř': "r", 'ś': "s", 'š': "s", 'ş': "s", 'ß': "ss", 'ť': "t", 'ţ': "t", 'þ': "th",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ū': "u", 'ů': "u", 'ű': "u",
	'ý': "y", 'ÿ': "y", 'ź': "z", 'ż': "z", 'ž': "z",
}

// fold lower-cases s, strips diacritics and turns everything but letters and digits into
// single spaces. "&" becomes "and", so "You & Me" matches "you and me".
func fold(s string) string {
	var b strings.Builder
	space := true
	for _, r := range strings.ToLower(s) {
		switch {
		case r == '&':
			if !space {
				b.WriteByte(' ')
			}
			b.WriteString("and ")
			space = true
		case r == '\'' || r == '’' || r == '.':
			// "Don't" -> "dont", "Fred again.." -> "fred again"
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if f, ok := foldTable[r]; ok {
				b.WriteString(f)
			} else {
				b.WriteRune(r)
			}
			space = false
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// words splits the folded form of s into words.
func words(s string) []string { return strings.Fields(fold(s)) }

// wordMatches reports whether query word q matches field word w: equal, a prefix of at
// least four letters, or one edit apart for words of five letters or more.
func wordMatches(q, w string) bool {
	if q == w {
		return true
	}
	if len(q) >= 4 && strings.HasPrefix(w, q) {
		return true
	}
	return len(q) >= 5 && len(w) >= 5 && withinOneEdit(q, w)
}

// withinOneEdit reports whether a and b differ by at most one inserted, deleted or
// substituted byte (Levenshtein distance ≤ 1), without allocating.
func withinOneEdit(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(b)-len(a) > 1 {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	if len(a) == len(b) {
		return a[i+min(1, len(a)-i):] == b[i+min(1, len(b)-i):]
	}
	return a[i:] == b[i+1:]
}

// coverage is the share of query words that match some field word (0 when q is empty).
func coverage(q, field []string) float64 {
	if len(q) == 0 {
		return 0
	}
	n := 0
	for _, qw := range q {
		for _, fw := range field {
			if wordMatches(qw, fw) {
				n++
				break
			}
		}
	}
	return float64(n) / float64(len(q))
}

// containsPhrase reports whether the words of q appear contiguously in field.
func containsPhrase(q, field []string) bool {
	if len(q) == 0 || len(q) > len(field) {
		return false
	}
outer:
	for i := 0; i+len(q) <= len(field); i++ {
		for j, qw := range q {
			if field[i+j] != qw {
				continue outer
			}
		}
		return true
	}
	return false
}

// versionWords are words that name a mix rather than a song; Discogs-style searches treat
// them as optional.
var versionWords = map[string]bool{
	"original": true, "mix": true, "extended": true, "radio": true, "edit": true, "remix": true,
	"version": true, "club": true, "dub": true, "feat": true, "ft": true, "featuring": true,
}

// fuzzyCoverage is coverage for a Lucene clause some of whose terms carry "~": a fuzzy
// term also matches a field word a few edits away (fuzzyMatch), for less (0.8 one edit
// away, 0.6 two), as Lucene scores a fuzzy match by its similarity.
func fuzzyCoverage(q []string, fuzzy []bool, field []string) float64 {
	if len(q) == 0 {
		return 0
	}
	sum := 0.0
	for i, qw := range q {
		best := 0.0
		for _, fw := range field {
			switch {
			case wordMatches(qw, fw):
				best = 1
			case fuzzy[i]:
				if d := fuzzyDistance(qw, fw); d == 1 {
					best = max(best, 0.8)
				} else if d == 2 {
					best = max(best, 0.6)
				}
			}
			if best == 1 {
				break
			}
		}
		sum += best
	}
	return sum / float64(len(q))
}

// fuzzyDistance is the edit distance of a fuzzy term q ("bicpe~") to word w when it is
// within Lucene's default reach, and -1 otherwise: insertions, deletions, substitutions
// and swaps of neighbouring letters count one edit each (Lucene's FuzzyQuery with
// transpositions), at most 2, and fewer than the shorter word's length. Terms of fewer
// than three letters match only themselves.
func fuzzyDistance(q, w string) int {
	if len(q) < 3 || len(w) < 3 {
		return -1
	}
	if d := len(q) - len(w); d > 2 || d < -2 {
		return -1
	}
	d := osaDistance(q, w)
	if d > 2 || d >= min(len(q), len(w)) {
		return -1
	}
	return d
}

// osaDistance is the optimal string alignment distance of a and b (Levenshtein with
// swaps of neighbouring bytes counting one edit).
func osaDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
