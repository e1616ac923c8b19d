package match

import (
	"regexp"
	"sort"
	"strings"
)

// Version kinds. A plain title is the Original Mix; every other kind, and
// every named remix or edit, is a different recording.
const (
	VersionOriginal     = "original"
	VersionExtended     = "extended"
	VersionRadio        = "radio"
	VersionClub         = "club"
	VersionDub          = "dub"
	VersionVIP          = "vip"
	VersionInstrumental = "instrumental"
	VersionEdit         = "edit"
	VersionAcappella    = "acappella"
	VersionVocal        = "vocal"
	VersionRemix        = "remix"
	VersionLive         = "live"
	VersionDemo         = "demo"
)

// Version is what distinguishes recordings of one song.
type Version struct {
	Kind string `json:"kind"`
	// Remixers of a named remix, edit, rework or mix (artist keys, sorted).
	Remixers []string `json:"remixers,omitempty"`
	// Extended marks an extended named remix ("X Extended Remix").
	Extended bool `json:"extended,omitempty"`
}

// Same reports whether two versions are the same recording type.
func (v Version) Same(o Version) bool {
	if v.Kind != o.Kind || v.Extended != o.Extended || len(v.Remixers) != len(o.Remixers) {
		return false
	}
	for i := range v.Remixers {
		if !nameMatch(v.Remixers[i], o.Remixers[i]) && !initials(v.Remixers[i], o.Remixers[i]) && !initials(o.Remixers[i], v.Remixers[i]) {
			return false
		}
	}
	return true
}

// initials reports whether short is the initials of a name of three words or
// more ("maw" for "masters at work"): tracklists abbreviate remixers so.
func initials(short, name string) bool {
	if len(short) < 3 || strings.IndexByte(short, ' ') >= 0 || strings.Count(name, " ") != len(short)-1 {
		return false
	}
	for i, w := range strings.Fields(name) {
		if w[0] != short[i] {
			return false
		}
	}
	return true
}

// String renders the version for logs and metadata.
func (v Version) String() string {
	if len(v.Remixers) == 0 {
		if v.Extended {
			return v.Kind + " (extended)"
		}
		return v.Kind
	}
	s := strings.Join(v.Remixers, ", ") + " " + v.Kind
	if v.Extended {
		s += " (extended)"
	}
	return s
}

// Track is a parsed tracklist entry or candidate.
type Track struct {
	// Base is the title without version and featured artists, as a key;
	// bracketed words that name no version ("(Da Ba Dee)") stay in it.
	Base string `json:"base"`
	// Main is Base without those bracketed words, set only when it differs
	// ("blue" for "Blue (Da Ba Dee)"): a scrape or a provider may leave a
	// subtitle out.
	Main    string  `json:"main,omitempty"`
	Version Version `json:"version"`
	// Artists is the set of artist keys, featured artists included, remixers
	// excluded.
	Artists []string `json:"artists"`
	// Featured are the artists named after "feat." (a subset of Artists).
	Featured []string `json:"featured,omitempty"`
	// Placeholder marks "ID - ID" style entries that name no track.
	Placeholder bool `json:"placeholder,omitempty"`
	// VersionWritten reports that the title names its version ("(Original
	// Mix)", "- Extended Mix", "(Dixon Remix)"): a plain title does not, and
	// only a plain title's version may be inferred from its duration.
	VersionWritten bool `json:"-"`
	// AltNames are other names of a candidate's artists, by artist key: the
	// artist's own name where the credit uses another, its aliases, a Discogs
	// name variation (from provider.Recording.ArtistNames).
	AltNames map[string][]string `json:"-"`
}

var (
	// Spotify style: "Title - Extended Mix", "Title - Bicep Remix".
	dashSuffixRE = regexp.MustCompile(`^(.+?)\s+[-–—]\s+(.+)$`)
	featRE       = regexp.MustCompile(`(?i)^(?:feat\.?|ft\.?|featuring|with)\s+(.+)$`)
	featInlineRE = regexp.MustCompile(`(?i)\s+(?:feat\.?|ft\.?|featuring)\s+(.+)$`)
	// featSplit splits an artist string at its first "feat.": what follows
	// are guests.
	featSplit   = regexp.MustCompile(`(?i)\s(?:feat\.?|ft\.?|featuring)\s`)
	artistSplit = regexp.MustCompile(`(?i)\s*(?:,|;|/|\s&\s|\s\+\s|\sand\s|\sx\s|\svs\.?\s|\sversus\s|\sfeat\.?\s|\sft\.?\s|\sfeaturing\s|\swith\s|\smeets\s|\spres\.?\s|\spresents\s)\s*`)
	// placeholderWords are what tracklists write for an unidentified track
	// ("ID - ID", "Unknown Artist - Untitled", "Four Tet - ID (Bicep Remix)").
	placeholderWords = map[string]bool{"id": true, "unknown": true, "artist": true, "tba": true, "tbc": true, "untitled": true, "track": true}
)

// plain version phrases (folded keys) and their kinds.
var plainVersions = map[string]string{
	"original mix": VersionOriginal, "original": VersionOriginal, "original version": VersionOriginal,
	"album version": VersionOriginal, "single version": VersionOriginal, "remastered": VersionOriginal,
	"remaster": VersionOriginal, "main mix": VersionOriginal,
	"extended mix": VersionExtended, "extended": VersionExtended, "extended version": VersionExtended,
	"extended edit": VersionExtended, "extended original mix": VersionExtended, "original extended mix": VersionExtended,
	"radio edit": VersionRadio, "radio mix": VersionRadio, "radio version": VersionRadio, "radio": VersionRadio,
	"club mix": VersionClub, "club version": VersionClub, "club": VersionClub,
	"dub": VersionDub, "dub mix": VersionDub, "dub version": VersionDub,
	"vip": VersionVIP, "vip mix": VersionVIP,
	"instrumental": VersionInstrumental, "instrumental mix": VersionInstrumental, "instrumental version": VersionInstrumental,
	"edit":       VersionEdit,
	"a cappella": VersionAcappella, "acappella": VersionAcappella, "a capella": VersionAcappella, "acapella": VersionAcappella,
	"vocal mix": VersionVocal, "vocal version": VersionVocal, "vocal": VersionVocal,
	"live": VersionLive, "live version": VersionLive,
	"demo": VersionDemo, "demo version": VersionDemo,
}

// named version suffixes: "<remixers> Remix" and the like.
var namedVersionRE = regexp.MustCompile(`^(.+?)\s+(extended\s+)?(remix|rmx|mix|edit|rework|re work|bootleg|flip|refix|vip|dub|version|reprise|remake|interpretation)$`)

var remasterRE = regexp.MustCompile(`^(?:\d{4}\s+)?(?:digital(?:ly)?\s+)?remaster(?:ed)?(?:\s+\d{4})?(?:\s+version)?$`)

// versionWords are the last words namedVersionRE accepts.
var versionWords = map[string]bool{
	"remix": true, "rmx": true, "mix": true, "edit": true, "rework": true, "work": true, "bootleg": true,
	"flip": true, "refix": true, "vip": true, "dub": true, "version": true, "reprise": true, "remake": true,
	"interpretation": true,
}

// findBracket finds the first bracketed part with no bracket inside, from
// the white space before it: the submatch indexes of
// `\s*[\(\[\{]([^\(\)\[\]\{\}]*)[\)\]\}]` (the tests hold it to that
// expression), without a regular expression; nil when there is none.
func findBracket(s string) []int {
	for p := 0; p < len(s); p++ {
		if c := s[p]; c != '(' && c != '[' && c != '{' {
			continue
		}
		q := p + 1
		for q < len(s) && strings.IndexByte("()[]{}", s[q]) < 0 {
			q++
		}
		if q == len(s) {
			return nil // no closing bracket after p, nor after any later one
		}
		if c := s[q]; c != ')' && c != ']' && c != '}' {
			p = q - 1 // an opening bracket at q: try from there
			continue
		}
		start := p
		for start > 0 && isSpace(s[start-1]) {
			start--
		}
		return []int{start, q + 1, p + 1, q}
	}
	return nil
}

// isSpace is the \s of regular expressions.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

// mayFeatureBracket reports whether featRE may match s.
func mayFeatureBracket(s string) bool {
	if !isASCII(s) {
		return true
	}
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "f") || strings.HasPrefix(l, "with")
}

// classify turns the folded text of a bracket or dash suffix into a version,
// or reports that it is not version information.
func classify(s string) (Version, bool) {
	k := Key(s)
	if kind, ok := plainVersions[k]; ok {
		return Version{Kind: kind}, true
	}
	if strings.Contains(k, "remaster") && remasterRE.MatchString(k) {
		return Version{Kind: VersionOriginal}, true
	}
	if strings.HasPrefix(k, "live at ") || strings.HasPrefix(k, "live from ") || strings.HasPrefix(k, "live in ") {
		return Version{Kind: VersionLive}, true
	}
	if !versionWords[k[strings.LastIndexByte(k, ' ')+1:]] {
		return Version{}, false
	}
	if m := namedVersionRE.FindStringSubmatch(k); m != nil {
		who, ext, what := m[1], m[2] != "", m[3]
		kind := VersionRemix
		switch what {
		case "edit":
			kind = VersionEdit
		case "vip":
			kind = VersionVIP
		case "dub":
			kind = VersionDub
		case "mix", "version":
			// "Club Version", "Extended Vocal Mix": a known kind before it.
			if pk, ok := plainVersions[who+" mix"]; ok && !ext {
				return Version{Kind: pk}, true
			}
			if rest, ok := strings.CutPrefix(who, "extended "); ok {
				if pk, ok := plainVersions[rest+" mix"]; ok {
					return Version{Kind: pk, Extended: pk != VersionExtended}, true
				}
			}
			if who == "original extended" {
				return Version{Kind: VersionExtended}, true
			}
		}
		if who == "extended" {
			return Version{Kind: VersionExtended}, true
		}
		return Version{Kind: kind, Remixers: splitArtists(who), Extended: ext}, true
	}
	return Version{}, false
}

// Parse parses a scraped artist and title.
func Parse(artist, title string) Track {
	t := Track{Version: Version{Kind: VersionOriginal}}
	var feats []string
	rest := strings.TrimSpace(title)

	// Bracketed parts: versions, featured artists; others stay in the title.
	var keep []string
	for {
		loc := findBracket(rest)
		if loc == nil {
			break
		}
		inner := strings.TrimSpace(rest[loc[2]:loc[3]])
		before, after := rest[:loc[0]], rest[loc[1]:]
		switch v, isVersion := classify(inner); {
		case mayFeatureBracket(inner) && featRE.MatchString(inner):
			feats = append(feats, featRE.FindStringSubmatch(inner)[1])
		case isVersion:
			t.Version = merge(t.Version, v)
			t.VersionWritten = true
		default:
			keep = append(keep, inner)
		}
		rest = before + " " + after
	}
	rest = strings.TrimSpace(rest)
	// "Title - Extended Mix" / "Title - X Remix" (Spotify style).
	if !strings.ContainsAny(rest, "-–—") {
		// no dash: no suffix
	} else if m := dashSuffixRE.FindStringSubmatch(rest); m != nil {
		if v, ok := classify(m[2]); ok {
			t.Version = merge(t.Version, v)
			t.VersionWritten = true
			rest = m[1]
		} else if f := featRE.FindStringSubmatch(m[2]); f != nil {
			feats = append(feats, f[1])
			rest = m[1]
		}
	}
	if !mayFeature(rest) {
		// no "feat." in the title
	} else if m := featInlineRE.FindStringSubmatchIndex(rest); m != nil {
		feats = append(feats, rest[m[2]:m[3]])
		rest = rest[:m[0]]
	}
	t.Base = titleKey(strings.Join(append([]string{rest}, keep...), " "))
	if main := titleKey(rest); len(keep) > 0 && main != "" && main != t.Base {
		t.Main = main
	}

	main, guests := artist, ""
	if !mayFeature(artist) {
		// no "feat." in the artist
	} else if loc := featSplit.FindStringIndex(" " + artist + " "); loc != nil {
		s := " " + artist + " "
		main, guests = s[:loc[0]], s[loc[1]:]
	}
	artists := splitArtists(main)
	var featured, titleFeat []string
	for _, f := range feats {
		titleFeat = append(titleFeat, splitArtists(f)...)
	}
	featured = append(append(featured, titleFeat...), splitArtists(guests)...)
	t.Artists = dedupe(append(append([]string(nil), artists...), featured...))
	// Remixers listed as artists (Spotify does this) are not performers.
	if remixText := remixerWords(t.Version); len(remixText) > 0 && len(t.Artists) > 1 {
		var perf []string
		for _, a := range t.Artists {
			if !containsName(t.Version.Remixers, a) && !wordsIn(a, remixText) {
				perf = append(perf, a)
			}
		}
		if len(perf) > 0 {
			t.Artists = perf
		}
	}
	// Guests: those the title names after "feat." (a provider may list them
	// among the artists too), and those after "feat." in the artist string.
	for _, f := range dedupe(featured) {
		if containsName(t.Artists, f) && (containsName(titleFeat, f) || !containsName(artists, f)) {
			t.Featured = append(t.Featured, f)
		}
	}
	t.Placeholder = placeholderText(t.Base) || allPlaceholders(t.Artists) || t.Base == ""
	return t
}

// remixerWords are the words naming the remixers of a version.
func remixerWords(v Version) map[string]bool {
	if len(v.Remixers) == 0 {
		return nil
	}
	out := map[string]bool{}
	for _, r := range v.Remixers {
		for _, w := range strings.Fields(r) {
			out[w] = true
		}
	}
	return out
}

// wordsIn reports whether every word of name is among words, a plural or
// possessive "s" tolerated ("sandy rivera" in "sandy riveras classic").
func wordsIn(name string, words map[string]bool) bool {
	ws := strings.Fields(name)
	if len(ws) == 0 {
		return false
	}
	for _, w := range ws {
		if !words[w] && !words[w+"s"] {
			return false
		}
	}
	return true
}

var numberedIDRE = regexp.MustCompile(`^id\d+$`)

// placeholderText reports whether a title key is only placeholder words
// ("id", "untitled", "id2").
func placeholderText(k string) bool {
	ws := strings.Fields(k)
	if len(ws) == 0 {
		return true
	}
	for _, w := range ws {
		if !placeholderWords[w] && !(strings.HasPrefix(w, "id") && numberedIDRE.MatchString(w)) {
			return false
		}
	}
	return true
}

func allPlaceholders(artists []string) bool {
	if len(artists) == 0 {
		return true
	}
	for _, a := range artists {
		if !placeholderText(a) {
			return false
		}
	}
	return true
}

// merge combines version hints from several brackets, e.g.
// "(Bicep Remix) [Extended Mix]".
func merge(a, b Version) Version {
	switch {
	case a.Kind == VersionOriginal:
		return b
	case b.Kind == VersionOriginal:
		return a
	case len(a.Remixers) > 0 && b.Kind == VersionExtended:
		a.Extended = true
		return a
	case len(b.Remixers) > 0 && a.Kind == VersionExtended:
		b.Extended = true
		return b
	}
	return b
}

// The checks below are conservative pre-filters that spare the regular
// expressions (most of parsing's cost) for strings that cannot match them;
// a string they pass still goes through the expression.

// mayFeature reports whether s may hold a "feat."/"ft."/"featuring" word.
func mayFeature(s string) bool {
	if !isASCII(s) {
		return true
	}
	l := strings.ToLower(s)
	return strings.Contains(l, "ft") || strings.Contains(l, "feat")
}

// splitWords are the word separators of artistSplit, lower case.
var splitWords = []string{"and", "x", "vs", "versus", "feat", "ft", "featuring", "with", "meets", "pres", "presents"}

// maySplit reports whether artistSplit may split s: it holds a separator
// character, or one of the separator words between spaces.
func maySplit(s string) bool {
	if !isASCII(s) || strings.ContainsAny(s, ",;/&+\t\n\v\f\r") {
		return true
	}
	for _, w := range strings.Fields(strings.ToLower(s)) {
		w = strings.TrimSuffix(w, ".")
		for _, sw := range splitWords {
			if w == sw {
				return true
			}
		}
	}
	return false
}

// splitArtists splits an artist string into artist keys.
func splitArtists(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if !maySplit(s) {
		if k := ArtistKey(s); k != "" {
			return []string{k}
		}
		return nil
	}
	return regexpSplitArtists(s)
}

// regexpSplitArtists is splitArtists' general path for trimmed, non-empty
// s (the maySplit shortcut is held to it).
func regexpSplitArtists(s string) []string {
	var out []string
	for _, p := range artistSplit.Split(" "+s+" ", -1) {
		if k := ArtistKey(p); k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func dedupe(xs []string) []string {
	sort.Strings(xs)
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func containsName(set []string, name string) bool {
	for _, s := range set {
		if nameMatch(s, name) {
			return true
		}
	}
	return false
}

// numbers returns the digit groups of a title key, sorted: "raw cuts 3"
// and "raw cuts 4" are different tracks however similar the letters.
func numbers(k string) string {
	var ns []string
	for i := 0; i < len(k); {
		if k[i] < '0' || k[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(k) && k[j] >= '0' && k[j] <= '9' {
			j++
		}
		ns = append(ns, strings.TrimLeft(k[i:j], "0"))
		i = j
	}
	if len(ns) < 2 {
		return strings.Join(ns, " ")
	}
	sort.Strings(ns)
	return strings.Join(ns, " ")
}

var (
	firstArtistRE = regexp.MustCompile(`(?i)\s(?:feat\.?|ft\.?|featuring|pres\.?|presents|vs\.?|versus|x|&|\+|with|meets)\s|\s*[,/;]\s*`)
	originalRE    = regexp.MustCompile(`(?i)\s*(?:[\(\[]\s*original(?: mix| version)?\s*[\)\]]|\s[-–—]\s+original(?: mix| version)?\s*$)`)
	featPartRE    = regexp.MustCompile(`(?i)\s*[\(\[]\s*(?:feat\.?|ft\.?|featuring)\s[^\)\]]*[\)\]]|\s+(?:feat\.?|ft\.?|featuring)\s+[^\(\[]*`)
)

// BroadQuery is a wider search for a track that a search by the scraped
// strings did not find: the first artist of the artist string without a
// "(2)" or "(UK)" tag, and the title without featured artists and without
// an "Original Mix" suffix, which providers rarely write. ok is false when
// it would be the same search.
func BroadQuery(artist, title string) (a, t string, ok bool) {
	a = PrimaryArtist(artist)
	t = strings.TrimSpace(originalRE.ReplaceAllString(featPartRE.ReplaceAllString(title, " "), " "))
	t = strings.Join(strings.Fields(t), " ")
	if a == "" || t == "" {
		return artist, title, false
	}
	return a, t, a != strings.TrimSpace(artist) || t != strings.Join(strings.Fields(title), " ")
}

// PrimaryArtist is the first artist of an artist credit as scraped, without
// the others, the featured ones and a Discogs number: "CamelPhat &
// Elderbrook" → "CamelPhat", "Bicep feat. Clara La San" → "Bicep", "Dusky
// (2)" → "Dusky".
func PrimaryArtist(artist string) string {
	a := strings.TrimSpace(artist)
	if loc := firstArtistRE.FindStringIndex(" " + a + " "); loc != nil && loc[0] > 0 {
		a = strings.TrimSpace((" " + a + " ")[:loc[0]])
	}
	return strings.TrimSpace(discogsSuffix.ReplaceAllString(a, ""))
}

// numberWords are spelled numbers a title may also write in digits ("Two
// Months Off", "2 Months Off").
var numberWords = map[string]string{
	"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
	"eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
	"fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenty": "20",
}

// titleKey is Key with spelled numbers up to twenty written in digits, and
// "+" and "n" ("Jump 'n' Shout", "Halcyon + On + On") written "and", as Key
// writes "&".
func titleKey(s string) string {
	if strings.IndexByte(s, '+') >= 0 {
		s = strings.ReplaceAll(s, "+", " and ")
	}
	ws := strings.Fields(Key(s))
	for i, w := range ws {
		if d, ok := numberWords[w]; ok {
			ws[i] = d
		} else if w == "n" {
			ws[i] = "and"
		}
	}
	return strings.Join(ws, " ")
}

// bracketPartRE is a bracketed part of a title; dashPartRE a dashed suffix.
var (
	bracketPartRE = regexp.MustCompile(`\s*[(\[{][^()\[\]{}]*[)\]}]`)
	dashPartRE    = regexp.MustCompile(`\s+[-–—]\s+.*$`)
)

// SpellingKey is Key of a title without its bracketed parts and dashed
// suffix (versions, guests, subtitles): two titles with the same SpellingKey
// are spelled alike as far as a search by title goes ("Glue" and "Glue -
// Original Mix"); "2 Months Off" and "Two Months Off" are not.
func SpellingKey(title string) string {
	t := dashPartRE.ReplaceAllString(bracketPartRE.ReplaceAllString(title, " "), "")
	if k := Key(t); k != "" {
		return k
	}
	return Key(title)
}
