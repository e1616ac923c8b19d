package providersim

import (
	"net/url"
	"sort"
	"strings"
)

// freeText are the query parameters whose values the providers match
// without regard to letter case or runs of white space: search terms.
var freeText = map[string]bool{
	"q": true, "query": true, // Spotify, MusicBrainz
	"artist": true, "track": true, "title": true, "release_title": true, "credit": true, "anv": true, "label": true, // Discogs
}

// credentials are query parameters that say who asks, not what is asked.
var credentials = map[string]bool{"token": true, "key": true, "secret": true}

// RequestKey normalises a request to what the provider answers, for the
// distinct and duplicate request counts of /_stats: the path (lower case
// for MusicBrainz, whose MBIDs and ISRCs ignore case; Spotify ids are
// case-sensitive), then the parameters in name order without credentials,
// free-text values folded to lower case with white space collapsed.
func RequestKey(provider string, u *url.URL) string {
	path := u.Path
	if provider == ProviderMusicBrainz {
		path = strings.ToLower(path)
	}
	q := u.Query()
	names := make([]string, 0, len(q))
	for k := range q {
		if !credentials[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(path)
	for i, k := range names {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		vals := append([]string(nil), q[k]...)
		for j, v := range vals {
			if freeText[k] {
				v = strings.Join(strings.Fields(strings.ToLower(v)), " ")
			}
			vals[j] = v
		}
		sort.Strings(vals)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strings.Join(vals, ","))
	}
	return b.String()
}
