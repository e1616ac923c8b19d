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
	VersionRemix        = "remix"
	VersionLive         = "live"
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
		if !nameMatch(v.Remixers[i], o.Remixers[i]) {
			return false
		}
	}
	return true
}

// String renders the version for logs and metadata.
func (v Version) String() string {
	if len(v.Remixers) == 0 {
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
	// Base is the title without version and featured artists, as a key.
	Base    string  `json:"base"`
	Version Version `json:"version"`
	// Artists is the set of artist keys, featured artists included, remixers
	// excluded.
	Artists []string `json:"artists"`
	// Placeholder marks "ID - ID" style entries that name no track.
	Placeholder bool `json:"placeholder,omitempty"`
}

var (
	bracketRE = regexp.MustCompile(`\s*[\(\[\{]([^\(\)\[\]\{\}]*)[\)\]\}]`)
	// Spotify style: "Title - Extended Mix", "Title - Bicep Remix".
	dashSuffixRE = regexp.MustCompile(`^(.+?)\s+[-–—]\s+(.+)$`)
	featRE       = regexp.MustCompile(`(?i)^(?:feat\.?|ft\.?|featuring|with)\s+(.+)$`)
	featInlineRE = regexp.MustCompile(`(?i)\s+(?:feat\.?|ft\.?|featuring)\s+(.+)$`)
	artistSplit  = regexp.MustCompile(`(?i)\s*(?:,|;|/|\s&\s|\s\+\s|\sand\s|\sx\s|\svs\.?\s|\sversus\s|\sfeat\.?\s|\sft\.?\s|\sfeaturing\s|\swith\s|\smeets\s)\s*`)
	placeholders = map[string]bool{"id": true, "unknown": true, "unknown artist": true, "tba": true, "untitled": true, "": true}
)

// plain version phrases (folded keys) and their kinds.
var plainVersions = map[string]string{
	"original mix": VersionOriginal, "original": VersionOriginal, "original version": VersionOriginal,
	"album version": VersionOriginal, "single version": VersionOriginal, "remastered": VersionOriginal,
	"remaster": VersionOriginal, "main mix": VersionOriginal,
	"extended mix": VersionExtended, "extended": VersionExtended, "extended version": VersionExtended,
	"extended edit": VersionExtended, "extended original mix": VersionExtended, "extended vocal mix": VersionExtended,
	"radio edit": VersionRadio, "radio mix": VersionRadio, "radio version": VersionRadio, "radio": VersionRadio,
	"club mix": VersionClub, "club version": VersionClub, "club": VersionClub,
	"dub": VersionDub, "dub mix": VersionDub, "dub version": VersionDub,
	"vip": VersionVIP, "vip mix": VersionVIP,
	"instrumental": VersionInstrumental, "instrumental mix": VersionInstrumental, "instrumental version": VersionInstrumental,
	"edit":       VersionEdit,
	"a cappella": VersionAcappella, "acappella": VersionAcappella, "a capella": VersionAcappella, "acapella": VersionAcappella,
	"live": VersionLive,
}

// named version suffixes: "<remixers> Remix" and the like.
var namedVersionRE = regexp.MustCompile(`^(.+?)\s+(extended\s+)?(remix|rmx|mix|edit|rework|re work|bootleg|flip|refix|vip|dub|version|reprise|remake|interpretation)$`)

var remasterRE = regexp.MustCompile(`^(?:\d{4}\s+)?remaster(?:ed)?(?:\s+\d{4})?(?:\s+version)?$`)

// classify turns the folded text of a bracket or dash suffix into a version,
// or reports that it is not version information.
func classify(s string) (Version, bool) {
	k := Key(s)
	if kind, ok := plainVersions[k]; ok {
		return Version{Kind: kind}, true
	}
	if remasterRE.MatchString(k) {
		return Version{Kind: VersionOriginal}, true
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
			// "Vocal Mix", "Club Version": a known kind word before it.
			if pk, ok := plainVersions[who+" mix"]; ok && !ext {
				return Version{Kind: pk}, true
			}
			if who == "vocal" || who == "original extended" {
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
		loc := bracketRE.FindStringSubmatchIndex(rest)
		if loc == nil {
			break
		}
		inner := strings.TrimSpace(rest[loc[2]:loc[3]])
		before, after := rest[:loc[0]], rest[loc[1]:]
		switch v, isVersion := classify(inner); {
		case featRE.MatchString(inner):
			feats = append(feats, featRE.FindStringSubmatch(inner)[1])
		case isVersion:
			t.Version = merge(t.Version, v)
		default:
			keep = append(keep, inner)
		}
		rest = before + after
	}
	// "Title - Extended Mix" / "Title - X Remix" (Spotify style).
	if m := dashSuffixRE.FindStringSubmatch(rest); m != nil {
		if v, ok := classify(m[2]); ok {
			t.Version = merge(t.Version, v)
			rest = m[1]
		} else if f := featRE.FindStringSubmatch(m[2]); f != nil {
			feats = append(feats, f[1])
			rest = m[1]
		}
	}
	if m := featInlineRE.FindStringSubmatchIndex(rest); m != nil {
		feats = append(feats, rest[m[2]:m[3]])
		rest = rest[:m[0]]
	}
	base := Key(strings.Join(append([]string{rest}, keep...), " "))
	t.Base = base

	artists := splitArtists(artist)
	for _, f := range feats {
		artists = append(artists, splitArtists(f)...)
	}
	t.Artists = dedupe(artists)
	// Remixers listed as artists (Spotify does this) are not performers.
	if len(t.Version.Remixers) > 0 && len(t.Artists) > 1 {
		var perf []string
		for _, a := range t.Artists {
			if !containsName(t.Version.Remixers, a) {
				perf = append(perf, a)
			}
		}
		if len(perf) > 0 {
			t.Artists = perf
		}
	}
	t.Placeholder = placeholders[Key(title)] || placeholders[Key(artist)] || base == ""
	return t
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

// splitArtists splits an artist string into artist keys.
func splitArtists(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
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
