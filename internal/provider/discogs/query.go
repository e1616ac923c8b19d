package discogs

import (
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/djmeta/enrichment/internal/match"
)

// featRE matches a "feat." part and everything after it:
// "Bicep feat. Clara La San" → "Bicep", "Apricots (ft. X) (Dub)" → "Apricots".
var featRE = regexp.MustCompile(`(?i)\s*[(\[]?\b(?:feat\.?|ft\.?|featuring)\s.*$`)

// versionWord marks a bracketed or dashed title suffix as a version rather
// than part of the song's name.
const versionWord = `(?i)\b(?:mix|remix|rmx|edit|dub|version|vip|instrumental|acapella|a cappella|` +
	`rework|re-work|bootleg|flip|refix|remaster|remastered|live|extended|radio|club|original|reprise)\b`

var (
	bracketSuffixRE = regexp.MustCompile(`\s*[(\[]([^()\[\]]*)[)\]]\s*$`)
	dashSuffixRE    = regexp.MustCompile(`\s+[-–—]\s+([^-–—]+)$`)
	versionWordRE   = regexp.MustCompile(versionWord)
)

// searchArtist is the artist to search for: the first credited artist
// alone (match.PrimaryArtist). Discogs' artist search needs every word it
// is given, and releases credit collaborations and featured artists in many
// ways ("A & B", "A", "A Feat. B"), so the first artist finds the release
// however it credits the rest; the matcher then judges the whole credit.
// Searching the same way as the engine's wider search also makes that
// wider search the same request, answered from the cache.
func searchArtist(s string) string {
	s = strings.TrimSpace(s)
	if a := match.PrimaryArtist(s); a != "" {
		return a
	}
	if a := strings.TrimSpace(featRE.ReplaceAllString(s, "")); a != "" {
		return a
	}
	return s
}

// baseTitle strips the featured artists and trailing versions, bracketed or
// dashed, from a title: "Apricots (Extended Mix)", "Apricots - Extended Mix"
// and "Apricots [Hammer Remix]" → "Apricots". Brackets that name no version
// ("Part 2") stay.
func baseTitle(s string) string {
	s = strings.TrimSpace(s)
	t := strings.TrimSpace(featRE.ReplaceAllString(s, ""))
	for {
		m := bracketSuffixRE.FindStringSubmatchIndex(t)
		if m == nil {
			m = dashSuffixRE.FindStringSubmatchIndex(t)
		}
		if m == nil || m[0] == 0 || !versionWordRE.MatchString(t[m[2]:m[3]]) {
			break
		}
		t = strings.TrimSpace(t[:m[0]])
	}
	if t == "" {
		return s
	}
	return t
}

// resembles is Search's loose filter: most words of the query's base title
// appear in the candidate's title, or most words of the candidate's base
// title appear in the query. Versions are ignored; the matcher weighs them.
func resembles(query, candidate string) bool {
	q := words(baseTitle(query))
	if len(q) == 0 {
		return true
	}
	if covered(q, words(candidate)) {
		return true
	}
	c := words(baseTitle(candidate))
	return len(c) > 0 && covered(c, words(query))
}

// covered reports whether at least three quarters of ws occur in in.
func covered(ws, in []string) bool {
	set := make(map[string]bool, len(in))
	for _, w := range in {
		set[w] = true
	}
	n := 0
	for _, w := range ws {
		if set[w] {
			n++
		}
	}
	return 4*n >= 3*len(ws)
}

// words folds s (case, diacritics, "&" as "and", apostrophes dropped) and
// splits it into letter-and-digit words.
func words(s string) []string {
	if !isASCII(s) { // NFKD and dropping marks change nothing in ASCII
		fold := transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC) // not safe to share
		if f, _, err := transform.String(fold, s); err == nil {
			s = f
		}
	}
	s = strings.ToLower(s)
	s = wordReplacer.Replace(s)
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// wordReplacer spells "&" out and drops apostrophes (safe for concurrent use).
var wordReplacer = strings.NewReplacer("&", " and ", "'", "", "’", "")

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// versionWords are the words the full title has beyond its base title (a
// remixer's name, "extended", "dub"), without the words every version
// shares ("mix", "original"): a release whose title names them likely
// carries that version.
func versionWords(full, base string) []string {
	in := map[string]bool{}
	for _, w := range words(base) {
		in[w] = true
	}
	var out []string
	for _, w := range words(full) {
		switch w {
		case "mix", "original", "version", "remix", "edit", "the", "feat", "ft", "featuring":
			continue
		}
		if !in[w] {
			out = append(out, w)
		}
	}
	return out
}
