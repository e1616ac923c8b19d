package providersim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The shape tests compare the simulator's JSON with real recorded responses
// (testdata/fixtures, see its README): every key path the simulator emits must exist in
// the recording with the same JSON kind, unless listed as a documented extra, and the key
// paths clients rely on must be present.

// keyPaths flattens a JSON value into "a.b[].c" -> kind ("string", "number", "bool",
// "null", "object", "array").
func keyPaths(v any, prefix string, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if prefix != "" {
			out[prefix] = "object"
		}
		for k, c := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			keyPaths(c, p, out)
		}
	case []any:
		out[prefix] = "array"
		for _, c := range x {
			keyPaths(c, prefix+"[]", out)
		}
	case string:
		out[prefix] = "string"
	case float64:
		out[prefix] = "number"
	case bool:
		out[prefix] = "bool"
	case nil:
		if _, ok := out[prefix]; !ok {
			out[prefix] = "null"
		}
	}
}

func pathsOf(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	out := map[string]string{}
	keyPaths(v, "", out)
	return out
}

func fixturePaths(t *testing.T, name string, rebase ...string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	ps := pathsOf(t, b)
	if len(rebase) == 2 { // move paths under a new prefix, e.g. a track into tracks.items[]
		out := map[string]string{}
		for p, k := range ps {
			if strings.HasPrefix(p, rebase[0]) {
				out[rebase[1]+strings.TrimPrefix(p, rebase[0])] = k
			}
		}
		return out
	}
	return ps
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			if _, ok := out[k]; !ok || out[k] == "null" {
				out[k] = v
			}
		}
	}
	return out
}

// checkShape reports simulator paths missing from the recording (or of another kind) and
// required recorded paths the simulator lacks.
func checkShape(t *testing.T, got, recorded map[string]string, extra, required []string) {
	t.Helper()
	isExtra := func(p string) bool {
		for _, e := range extra {
			if p == e || strings.HasPrefix(p, e+".") || strings.HasPrefix(p, e+"[]") {
				return true
			}
		}
		return false
	}
	var problems []string
	for p, k := range got {
		rk, ok := recorded[p]
		switch {
		case isExtra(p):
		case !ok && k == "object" && hasPathUnder(recorded, p):
			// an object inside an array: its fields are compared one by one
		case !ok:
			problems = append(problems, "not in the recorded response: "+p)
		case k != rk && k != "null" && rk != "null":
			problems = append(problems, p+": kind "+k+", recorded "+rk)
		}
	}
	for _, p := range required {
		if _, ok := got[p]; !ok {
			problems = append(problems, "missing: "+p)
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

func hasPathUnder(m map[string]string, p string) bool {
	for k := range m {
		if strings.HasPrefix(k, p+".") {
			return true
		}
	}
	return false
}

func TestShapeSpotify(t *testing.T) {
	cfg := testConfig()
	cfg.SpotifyProfile = ProfileExtended
	h := newHarness(t, cfg)
	auth := "Authorization: Bearer " + h.token("a", "b")
	p := testCatalog(t).index.spotifyTracks[0]
	track := merge(fixturePaths(t, "spotify/track_6NPVjNh8Jhru9xOmyQigds.json"), fixturePaths(t, "spotify/tracks_ids_2plbrEY59IikOBgBGLjaoe.json", "tracks[].", ""))
	required := []string{"id", "name", "uri", "href", "duration_ms", "external_ids.isrc", "artists[].id", "artists[].name",
		"album.id", "album.name", "album.album_type", "album.release_date", "album.release_date_precision", "album.artists[].name",
		"album.images[].url", "track_number", "disc_number", "explicit", "is_local", "external_urls.spotify", "preview_url"}

	t.Run("track extended", func(t *testing.T) {
		resp := h.get(spBase+"/tracks/"+p.track.SpotifyID, auth)
		checkShape(t, pathsOf(t, resp.body), track, nil, append(required, "popularity", "available_markets", "album.available_markets"))
	})
	t.Run("track dev", func(t *testing.T) {
		dev := newHarness(t, testConfig())
		resp := dev.get(spBase+"/tracks/"+p.track.SpotifyID, "Authorization: Bearer "+dev.token("a", "b"))
		got := pathsOf(t, resp.body)
		checkShape(t, got, track, nil, required)
		for _, gone := range []string{"popularity", "available_markets", "album.available_markets", "linked_from"} {
			if _, ok := got[gone]; ok {
				t.Errorf("dev profile serves %s", gone)
			}
		}
	})
	t.Run("search", func(t *testing.T) {
		resp := h.get(spBase+"/search?q=glue&type=track", auth)
		paging := fixturePaths(t, "spotify/search_track_no_results.json")
		items := map[string]string{}
		for k, v := range track {
			items["tracks.items[]."+k] = v
		}
		checkShape(t, pathsOf(t, resp.body), merge(paging, items), nil,
			[]string{"tracks.href", "tracks.items", "tracks.limit", "tracks.next", "tracks.offset", "tracks.previous", "tracks.total", "tracks.items[].id"})
	})
	t.Run("batch", func(t *testing.T) {
		resp := h.get(spBase+"/tracks?ids="+p.track.SpotifyID, auth)
		checkShape(t, pathsOf(t, resp.body), fixturePaths(t, "spotify/tracks_ids_2plbrEY59IikOBgBGLjaoe.json"), nil, []string{"tracks[].id"})
	})
}

func TestShapeMusicBrainz(t *testing.T) {
	h := newHarness(t, testConfig())
	cat := testCatalog(t)
	var rec *Recording
	for i := range cat.Recordings {
		r := &cat.Recordings[i]
		if r.MusicBrainzISRC && r.Has(ProviderMusicBrainz) && len(r.Tags) > 0 && len(cat.placementsAt(r, ProviderMusicBrainz)) > 1 {
			rec = r
			break
		}
	}
	lookup := fixturePaths(t, "musicbrainz/lookup_recording_b9ad642e_feat_joinphrase.json")

	t.Run("search", func(t *testing.T) {
		resp := h.get(mbBase+"/recording?fmt=json&query=isrc:"+rec.ISRC, goodMBUA)
		recorded := fixturePaths(t, "musicbrainz/search_recording_isrc_GBAHT1600302.json")
		// release-events appear in search results of other recordings (notes §2.2, the
		// "we will rock you" fixture); this one has none.
		events := map[string]string{}
		for k, v := range lookup {
			if strings.HasPrefix(k, "releases[].release-events") {
				events["recordings[]."+k] = v
			}
		}
		checkShape(t, pathsOf(t, resp.body), merge(recorded, events), nil, []string{
			"created", "count", "offset", "recordings[].id", "recordings[].score", "recordings[].title", "recordings[].length",
			"recordings[].artist-credit[].name", "recordings[].artist-credit[].artist.id", "recordings[].first-release-date",
			"recordings[].releases[].id", "recordings[].releases[].release-group.primary-type", "recordings[].isrcs",
			"recordings[].releases[].media[].track[].number",
		})
	})
	t.Run("lookup", func(t *testing.T) {
		resp := h.get(mbBase+"/recording/"+rec.MBID+"?fmt=json&inc=artist-credits+isrcs+releases", goodMBUA)
		checkShape(t, pathsOf(t, resp.body), lookup, nil, []string{
			"id", "title", "length", "video", "disambiguation", "first-release-date", "isrcs",
			"artist-credit[].joinphrase", "artist-credit[].artist.sort-name", "releases[].id", "releases[].date", "releases[].status",
		})
	})
	t.Run("isrc", func(t *testing.T) {
		resp := h.get(mbBase+"/isrc/"+rec.ISRC+"?fmt=json&inc=artist-credits", goodMBUA)
		rebased := map[string]string{"isrc": "string", "recordings": "array"}
		for k, v := range lookup {
			if !strings.HasPrefix(k, "releases") && !strings.HasPrefix(k, "isrcs") {
				rebased["recordings[]."+k] = v
			}
		}
		checkShape(t, pathsOf(t, resp.body), rebased, nil, []string{"isrc", "recordings[].id", "recordings[].length", "recordings[].artist-credit[].name"})
	})
}

func TestShapeDiscogs(t *testing.T) {
	h := newHarness(t, testConfig())
	var rel *Release
	for i := range testCatalog(t).Releases {
		r := &testCatalog(t).Releases[i]
		if r.Type == "compilation" && r.Has(ProviderDiscogs) && r.DiscogsMasterID == 0 {
			rel = r
			break
		}
	}
	t.Run("release", func(t *testing.T) {
		resp := h.get(dgBase+"/releases/"+strconv.FormatInt(rel.DiscogsID, 10), goodDGUA)
		// Track-level artists and remixers are documented (notes §3.4) but not in this
		// recording; formats[].text appears on digital releases.
		extra := []string{"tracklist[].artists", "tracklist[].extraartists", "formats[].text"}
		checkShape(t, pathsOf(t, resp.body), fixturePaths(t, "discogs/release_1503102.json"), extra, []string{
			"id", "title", "year", "released", "artists[].name", "artists[].join", "labels[].name", "labels[].catno",
			"genres", "styles", "formats[].name", "tracklist[].position", "tracklist[].title", "tracklist[].duration", "tracklist[].type_",
			"community.have", "resource_url", "uri",
		})
	})
	t.Run("search", func(t *testing.T) {
		resp := h.get(dgBase+"/database/search?type=release&artist=Bicep&per_page=2", goodDGUA, dgToken)
		recorded := fixturePaths(t, "discogs/database_search_q_trash80_legacy.json")
		recorded["results[].label"] = "array" // a string in the 2012 recording, an array today
		recorded["results[].label[]"] = "string"
		// Fields of current search results that the 2012 recording predates (notes §3.3).
		extra := []string{"results[].barcode", "results[].user_data", "results[].master_id", "results[].master_url",
			"results[].cover_image", "results[].community", "results[].format_quantity", "results[].formats", "pagination.urls.next", "pagination.urls.last"}
		checkShape(t, pathsOf(t, resp.body), recorded, extra, []string{
			"pagination.page", "pagination.pages", "pagination.per_page", "pagination.items", "pagination.urls",
			"results[].id", "results[].type", "results[].title", "results[].year", "results[].label", "results[].catno",
			"results[].genre", "results[].style", "results[].format", "results[].resource_url", "results[].uri",
		})
	})
}
