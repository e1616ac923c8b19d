package musicbrainz

import (
	"errors"
	"regexp"
	"strings"
	"unicode"

	"github.com/djmeta/enrichment/internal/provider"
)

// luceneSpecial holds the characters Lucene's query syntax gives a meaning
// to. Like Picard, escapeLucene escapes each of them, including a lone "&"
// or "|" (only "&&" and "||" are operators, but escaping one is harmless).
const luceneSpecial = `+-&|!(){}[]^"~*?:\/`

var (
	// featRe matches a featured-artist part of a title: "(feat. X)",
	// "[ft. X]", or an unbracketed "feat. X" up to the next bracket.
	featRe = regexp.MustCompile(`(?i)\s*[(\[]\s*(?:feat\.?|ft\.?|featuring)\s[^)\]]*[)\]]|\s+(?:feat\.?|ft\.?|featuring)\s+[^(\[]*`)
	// bracketRe matches a bracketed part of a title: "(Extended Mix)", "[VIP]".
	bracketRe = regexp.MustCompile(`\s*[(\[][^)\]]*[)\]]`)
	// dashVersionRe matches a " - Extended Mix" style version suffix.
	dashVersionRe = regexp.MustCompile(`(?i)\s+[-–—]\s+.*\b(?:mix|remix|edit|version|dub|instrumental|vip|rework|remaster(?:ed)?|bootleg|a ?cappella|acapella|live)\b.*$`)
	// artistSepRe matches what joins artist names in a scraped artist string.
	artistSepRe = regexp.MustCompile(`(?i)\s+(?:feat\.?|ft\.?|featuring|vs\.?|versus|x|&|and|with|\+)\s+|\s*,\s*`)
)

// escapeLucene escapes the Lucene special characters in s with a backslash,
// so that s can sit inside a quoted phrase (or stand as a term).
func escapeLucene(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		if strings.ContainsRune(luceneSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// SearchQuery returns the Lucene query Search sends for q. It asks for the
// title as given and the title without its version, and for the first
// artist of the artist string:
//
//	Artist "Bicep feat. Clara La San", Title "Apricots (Extended Mix)":
//	(recording:"Apricots \(Extended Mix\)" OR recording:"Apricots") AND artist:"Bicep"
//
//	Artist "Bicep", Title "Apricots":
//	recording:"Apricots" AND artist:"Bicep"
//
// The title loses any "feat." part (MusicBrainz credits featured artists
// in the artist credit, not the title); its base form also loses bracketed
// parts and a " - … Mix/Edit/…" suffix. A phrase matches any title that
// contains it, so the base phrase brings back every version of the track
// (other mixes, remixes, edits) in the same request, while a candidate
// matching the full title as well scores higher. The artist phrase is the
// part of the artist string before the first "feat.", "ft.", "vs.", "x",
// "&", "and", "with", "+" or comma: MusicBrainz's artist field is the whole
// credit, so the phrase matches "Bicep", "Bicep & X" and "Bicep feat. Y"
// alike, and a featured artist missing from a credit loses nothing.
// White space in the phrases is collapsed, and the Lucene special characters
// + - & | ! ( ) { } [ ] ^ " ~ * ? : \ / in them are escaped with a
// backslash. An empty artist leaves the artist clause out; an empty title
// is an error.
func SearchQuery(q provider.Query) (string, error) {
	title := collapse(featRe.ReplaceAllString(q.Title, " "))
	if title == "" {
		title = collapse(q.Title) // the whole title was a feat. part
	}
	if title == "" {
		return "", errors.New("musicbrainz: search needs a title")
	}
	query := phrase("recording", title)
	if base := baseTitle(title); base != "" && !strings.EqualFold(base, title) {
		query = "(" + query + " OR " + phrase("recording", base) + ")"
	}
	if artist := primaryArtist(q.Artist); artist != "" {
		query += " AND " + phrase("artist", artist)
	}
	return query, nil
}

// baseTitle is title without bracketed parts and a dashed version suffix.
func baseTitle(title string) string {
	return collapse(dashVersionRe.ReplaceAllString(bracketRe.ReplaceAllString(title, " "), ""))
}

// primaryArtist is the first name of a scraped artist string.
func primaryArtist(artist string) string {
	artist = collapse(artist)
	if first := collapse(artistSepRe.Split(artist, 2)[0]); first != "" {
		return first
	}
	return artist
}

// phrase is field:"value" with value escaped.
func phrase(field, value string) string {
	return field + `:"` + escapeLucene(value) + `"`
}

// collapse trims s and collapses runs of white space to one space.
func collapse(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// FuzzySearchQuery returns the looser Lucene query Search sends for a
// q.Fuzzy search: every word of the title without its version as a fuzzy
// term that must match, and every word of the first artist as a fuzzy term
// that may:
//
//	Artist "Bicpe", Title "Glue (Extended Mix)":
//	+recording:(glue~) artist:(bicpe~)
//
// A fuzzy term also matches words a couple of edits away (a letter swapped,
// dropped or doubled), and the artist only ranks the results, so a typo on
// either side, or an artist under another name, still finds the recording;
// the matcher then judges every candidate against the line. Words are
// folded to lower case and stripped of Lucene's special characters.
func FuzzySearchQuery(q provider.Query) (string, error) {
	title := collapse(featRe.ReplaceAllString(q.Title, " "))
	if base := baseTitle(title); base != "" {
		title = base
	}
	tw := fuzzyTerms(title)
	if tw == "" {
		return "", errors.New("musicbrainz: search needs a title")
	}
	query := "+recording:(" + tw + ")"
	if aw := fuzzyTerms(primaryArtist(q.Artist)); aw != "" {
		query += " artist:(" + aw + ")"
	}
	return query, nil
}

// fuzzyTerms writes the words of s as fuzzy terms ("glue~ bicep~"); words of
// fewer than three letters stay exact.
func fuzzyTerms(s string) string {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for i, w := range words {
		if len([]rune(w)) >= 3 {
			words[i] = w + "~"
		}
	}
	return strings.Join(words, " ")
}
