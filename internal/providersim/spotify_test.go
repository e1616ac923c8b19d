package providersim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSpotifyTokenEndpoint(t *testing.T) {
	cfg := testConfig()
	cfg.SpotifyClientID, cfg.SpotifyClientSecret = "cid", "csecret"
	h := newHarness(t, cfg)
	form := "application/x-www-form-urlencoded"
	basic := func(id, secret string) string {
		req, _ := http.NewRequest(http.MethodPost, "/", nil)
		req.SetBasicAuth(id, secret)
		return "Authorization: " + req.Header.Get("Authorization")
	}
	tests := []struct {
		name       string
		method     string
		body       string
		headers    []string
		wantStatus int
		wantError  string
		wantDesc   string
	}{
		{"no credentials", http.MethodPost, "grant_type=client_credentials", nil, 400, "invalid_client", ""},
		{"wrong secret", http.MethodPost, "grant_type=client_credentials", []string{basic("cid", "nope")}, 400, "invalid_client", "Invalid client"},
		{"missing grant type", http.MethodPost, "", []string{basic("cid", "csecret")}, 400, "unsupported_grant_type", "grant_type parameter is missing"},
		{"wrong grant type", http.MethodPost, "grant_type=password", []string{basic("cid", "csecret")}, 400, "unsupported_grant_type", ""},
		{"GET", http.MethodGet, "", []string{basic("cid", "csecret")}, 405, "invalid_request", ""},
		{"basic auth", http.MethodPost, "grant_type=client_credentials", []string{basic("cid", "csecret")}, 200, "", ""},
		{"form credentials", http.MethodPost, "grant_type=client_credentials&client_id=cid&client_secret=csecret", nil, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.do(tt.method, "/spotify/api/token", strings.NewReader(tt.body), append(tt.headers, "Content-Type: "+form)...)
			if resp.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", resp.status, tt.wantStatus, resp.body)
			}
			m := resp.json(t)
			if tt.wantStatus != 200 {
				if got := m["error"]; got != tt.wantError {
					t.Errorf("error = %v, want %q", got, tt.wantError)
				}
				if got, _ := m["error_description"].(string); tt.wantDesc != "" && got != tt.wantDesc {
					t.Errorf("error_description = %q, want %q", got, tt.wantDesc)
				}
				return
			}
			if tok, _ := m["access_token"].(string); len(tok) < 20 {
				t.Errorf("access_token = %q, want an opaque token", tok)
			}
			if got := m["token_type"]; !strings.EqualFold(got.(string), "bearer") {
				t.Errorf("token_type = %v, want Bearer", got)
			}
			if got := m["expires_in"]; got != float64(3600) {
				t.Errorf("expires_in = %v, want 3600", got)
			}
		})
	}
}

func TestSpotifyBearerAuth(t *testing.T) {
	cfg := testConfig()
	cfg.SpotifyTokenTTL = 10 * time.Minute
	h := newHarness(t, cfg)
	good := h.token("any-id", "any-secret")
	path := spBase + "/tracks/" + testCatalog(t).index.spotifyTracks[0].track.SpotifyID

	tests := []struct {
		name       string
		header     string
		advance    time.Duration
		wantStatus int
		wantMsg    string
		wantWWW    string
	}{
		{"missing", "", 0, 401, "No token provided", `error="missing_token"`},
		{"wrong scheme", "Authorization: Basic abc", 0, 401, "No token provided", `error="missing_token"`},
		{"unknown token", "Authorization: Bearer BQnope", 0, 401, "Invalid access token", `error="invalid_token"`},
		{"valid", "Authorization: Bearer " + good, 0, 200, "", ""},
		{"expired", "Authorization: Bearer " + good, 10 * time.Minute, 401, "The access token expired", `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.clock.Advance(tt.advance)
			var resp response
			if tt.header == "" {
				resp = h.get(path)
			} else {
				resp = h.get(path, tt.header)
			}
			if resp.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", resp.status, tt.wantStatus, resp.body)
			}
			if tt.wantStatus == 200 {
				return
			}
			var body spErrorBody
			if err := json.Unmarshal(resp.body, &body); err != nil {
				t.Fatal(err)
			}
			if body.Error.Status != 401 || body.Error.Message != tt.wantMsg {
				t.Errorf("body = %+v, want status 401 message %q", body.Error, tt.wantMsg)
			}
			if got := resp.header.Get("WWW-Authenticate"); !strings.Contains(got, tt.wantWWW) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", got, tt.wantWWW)
			}
		})
	}

	t.Run("expire-tokens admin endpoint", func(t *testing.T) {
		tok := h.token("a", "b")
		if resp := h.do(http.MethodPost, "/_sim/spotify/expire-tokens", nil); resp.status != http.StatusNoContent {
			t.Fatalf("expire-tokens status = %d", resp.status)
		}
		if resp := h.get(path, "Authorization: Bearer "+tok); resp.status != 401 {
			t.Errorf("after expiry status = %d, want 401", resp.status)
		}
	})
}

// spSearch is the part of a search response the tests read, decoded into test-local types.
type spSearch struct {
	Tracks struct {
		Href     string  `json:"href"`
		Limit    int     `json:"limit"`
		Next     *string `json:"next"`
		Offset   int     `json:"offset"`
		Previous *string `json:"previous"`
		Total    int     `json:"total"`
		Items    []struct {
			ID          string         `json:"id"`
			Name        string         `json:"name"`
			DurationMS  int            `json:"duration_ms"`
			ExternalIDs map[string]any `json:"external_ids"`
			Artists     []struct {
				Name string `json:"name"`
			} `json:"artists"`
			Album struct {
				AlbumType            string `json:"album_type"`
				ReleaseDatePrecision string `json:"release_date_precision"`
			} `json:"album"`
			Popularity *int `json:"popularity"`
		} `json:"items"`
	} `json:"tracks"`
}

func TestSpotifySearch(t *testing.T) {
	h := newHarness(t, testConfig())
	auth := "Authorization: Bearer " + h.token("id", "secret")
	search := func(t *testing.T, kv ...string) spSearch {
		t.Helper()
		resp := h.get(spBase+"/search"+q(kv...), auth)
		if resp.status != 200 {
			t.Fatalf("status = %d: %s", resp.status, resp.body)
		}
		var s spSearch
		if err := json.Unmarshal(resp.body, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("filters return fuzzy candidates, best first", func(t *testing.T) {
		got := search(t, "q", `track:"Apricots" artist:"Bicep"`, "type", "track")
		if got.Tracks.Total < 2 {
			t.Fatalf("total = %d, want several versions", got.Tracks.Total)
		}
		if got.Tracks.Limit != 5 || len(got.Tracks.Items) > 5 {
			t.Errorf("limit = %d with %d items, want the dev default 5", got.Tracks.Limit, len(got.Tracks.Items))
		}
		first := got.Tracks.Items[0]
		if !strings.HasPrefix(first.Name, "Apricots") || first.Artists[0].Name != "Bicep" {
			t.Errorf("first hit = %q by %v, want an Apricots version by Bicep", first.Name, first.Artists)
		}
		if first.Popularity != nil {
			t.Errorf("dev profile served popularity %d", *first.Popularity)
		}
	})

	t.Run("wrong artist only", func(t *testing.T) {
		got := search(t, "q", `track:"Breathing" artist:"Ben Böhmer"`, "type", "track")
		if got.Tracks.Total == 0 {
			t.Fatal("want near misses, got none")
		}
		if a := got.Tracks.Items[0].Artists[0].Name; a == "Ben Böhmer" {
			t.Errorf("first hit by %q: the catalog has no Breathing by Ben Böhmer", a)
		}
	})

	t.Run("isrc filter", func(t *testing.T) {
		rec := testCatalog(t).index.spotifyTracks[0].rec
		got := search(t, "q", "isrc:"+strings.ToLower(rec.ISRC), "type", "track", "limit", "10")
		if got.Tracks.Total == 0 {
			t.Fatal("no hit for a known ISRC")
		}
		for _, it := range got.Tracks.Items {
			if it.ExternalIDs["isrc"] != rec.ISRC {
				t.Errorf("hit %s has isrc %v, want %s", it.ID, it.ExternalIDs["isrc"], rec.ISRC)
			}
		}
	})

	t.Run("no results", func(t *testing.T) {
		resp := h.get(spBase+"/search"+q("q", "track:zzzqqq artist:nobody", "type", "track"), auth)
		want := `"items":[]`
		if resp.status != 200 || !strings.Contains(string(resp.body), want) || !strings.Contains(string(resp.body), `"total":0`) {
			t.Errorf("got %d %s, want 200 with empty items", resp.status, resp.body)
		}
	})

	t.Run("paging", func(t *testing.T) {
		got := search(t, "q", "artist:Bicep", "type", "track", "limit", "2")
		if got.Tracks.Next == nil || !strings.Contains(*got.Tracks.Next, "offset=2") {
			t.Fatalf("next = %v, want a link with offset=2", got.Tracks.Next)
		}
		if got.Tracks.Previous != nil {
			t.Errorf("previous = %q on the first page", *got.Tracks.Previous)
		}
		page2 := search(t, "q", "artist:Bicep", "type", "track", "limit", "2", "offset", "2")
		if page2.Tracks.Items[0].ID == got.Tracks.Items[0].ID {
			t.Error("page 2 repeats page 1")
		}
	})

	for _, tt := range []struct {
		name    string
		kv      []string
		wantMsg string
	}{
		{"limit above dev max", []string{"q", "a", "type", "track", "limit", "11"}, "Invalid limit"},
		{"no q", []string{"type", "track"}, "No search query"},
		{"no type", []string{"q", "glue"}, "Missing parameter type"},
		{"bad type", []string{"q", "glue", "type", "tracks"}, "Bad search type field tracks"},
		{"bad offset", []string{"q", "glue", "type", "track", "offset", "1001"}, "Invalid offset"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.get(spBase+"/search"+q(tt.kv...), auth)
			var body spErrorBody
			_ = json.Unmarshal(resp.body, &body)
			if resp.status != 400 || body.Error.Message != tt.wantMsg {
				t.Errorf("got %d %s, want 400 %q", resp.status, resp.body, tt.wantMsg)
			}
		})
	}
}

func TestSpotifyProfiles(t *testing.T) {
	cat := testCatalog(t)
	known := cat.index.spotifyTracks[0].track.SpotifyID
	unknown := "0000000000000000000000"
	tests := []struct {
		profile        string
		path           string
		wantStatus     int
		wantPopularity bool
	}{
		{ProfileDev, "/tracks?ids=" + known, 403, false},
		{ProfileExtended, "/tracks?ids=" + known + "," + unknown, 200, true},
		{ProfileDev, "/tracks/" + known, 200, false},
		{ProfileExtended, "/tracks/" + known, 200, true},
		{ProfileDev, "/tracks/" + unknown, 404, false},
		{ProfileDev, "/tracks/not-an-id", 400, false},
		{ProfileDev, "/audio-features/" + known, 403, false},
		{ProfileExtended, "/search?q=glue&type=track&limit=50", 200, true},
		{ProfileDev, "/nope", 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.profile+" "+tt.path, func(t *testing.T) {
			cfg := testConfig()
			cfg.SpotifyProfile = tt.profile
			h := newHarness(t, cfg)
			resp := h.get(spBase+tt.path, "Authorization: Bearer "+h.token("i", "s"))
			if resp.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.status, tt.wantStatus, resp.body)
			}
			if got := strings.Contains(string(resp.body), `"popularity"`); resp.status == 200 && got != tt.wantPopularity {
				t.Errorf("popularity present = %v, want %v", got, tt.wantPopularity)
			}
			if strings.HasPrefix(tt.path, "/tracks?ids=") && resp.status == 200 {
				var got struct {
					Tracks []json.RawMessage `json:"tracks"`
				}
				_ = json.Unmarshal(resp.body, &got)
				if len(got.Tracks) != 2 || string(got.Tracks[1]) != "null" {
					t.Errorf("batch = %s, want the unknown id as null in place", resp.body)
				}
			}
		})
	}
}

func TestSpotifyParseQuery(t *testing.T) {
	tests := []struct {
		in   string
		want spQuery
	}{
		{`track:"Strings of Life" artist:Rhythim`, spQuery{track: []string{"strings", "of", "life"}, artist: []string{"rhythim"}}},
		{`isrc:gb-abc-17-00001`, spQuery{isrc: "GBABC1700001"}},
		{`glue year:2015-2017 NOT live`, spQuery{free: []string{"glue"}, not: []string{"live"}, yearFrom: 2015, yearTo: 2017}},
		{`upc:602475093060`, spQuery{unsupported: true}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := parseSpotifyQuery(tt.in)
			if !equalSpQuery(got, tt.want) {
				t.Errorf("parseSpotifyQuery(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func equalSpQuery(a, b spQuery) bool {
	eq := func(x, y []string) bool { return strings.Join(x, "|") == strings.Join(y, "|") }
	return eq(a.track, b.track) && eq(a.artist, b.artist) && eq(a.album, b.album) && eq(a.free, b.free) &&
		eq(a.not, b.not) && a.isrc == b.isrc && a.yearFrom == b.yearFrom && a.yearTo == b.yearTo && a.unsupported == b.unsupported
}
