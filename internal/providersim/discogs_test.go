package providersim

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestDiscogsAuth(t *testing.T) {
	cfg := testConfig()
	cfg.DiscogsTokens = []string{"test-token"}
	h := newHarness(t, cfg)
	search := dgBase + "/database/search" + q("type", "release", "artist", "Bicep", "track", "Glue")
	release := dgBase + "/releases/" + strconv.FormatInt(testCatalog(t).Releases[0].DiscogsID, 10)
	tests := []struct {
		name       string
		path       string
		headers    []string
		wantStatus int
		wantMsg    string
	}{
		{"no user agent", search, []string{dgToken}, 403, ""},
		{"search unauthenticated", search, []string{goodDGUA}, 401, "You must authenticate to access this resource."},
		{"unknown token", search, []string{goodDGUA, "Authorization: Discogs token=nope"}, 401, "Invalid consumer token. Please register an app before making API requests."},
		{"wrong scheme", search, []string{goodDGUA, "Authorization: Bearer test-token"}, 401, "Invalid consumer token. Please register an app before making API requests."},
		{"token header", search, []string{goodDGUA, dgToken}, 200, ""},
		{"token query", search + "&token=test-token", []string{goodDGUA}, 200, ""},
		{"key and secret", search, []string{goodDGUA, "Authorization: Discogs key=k, secret=s"}, 200, ""},
		{"key without secret", search, []string{goodDGUA, "Authorization: Discogs key=k"}, 401, "Invalid consumer token. Please register an app before making API requests."},
		{"release unauthenticated", release, []string{goodDGUA}, 200, ""},
		{"release unknown", dgBase + "/releases/1", []string{goodDGUA}, 404, "Release not found."},
		{"unknown path", dgBase + "/users/me", []string{goodDGUA}, 404, "The requested resource was not found."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.get(tt.path, tt.headers...)
			if resp.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.status, tt.wantStatus, resp.body)
			}
			if got := resp.header.Get("X-Discogs-Ratelimit"); (got == "") != (tt.wantStatus == 403) {
				t.Errorf("X-Discogs-Ratelimit = %q on a %d answer", got, resp.status)
			}
			if tt.wantMsg != "" {
				if got := resp.json(t)["message"]; got != tt.wantMsg {
					t.Errorf("message = %q, want %q", got, tt.wantMsg)
				}
			}
		})
	}
}

// dgSearchBody is decoded into test-local types.
type dgSearchBody struct {
	Pagination struct {
		Page    int               `json:"page"`
		Pages   int               `json:"pages"`
		PerPage int               `json:"per_page"`
		Items   int               `json:"items"`
		URLs    map[string]string `json:"urls"`
	} `json:"pagination"`
	Results []struct {
		ID       int64    `json:"id"`
		Type     string   `json:"type"`
		Title    string   `json:"title"`
		Year     string   `json:"year"`
		Label    []string `json:"label"`
		Catno    string   `json:"catno"`
		Style    []string `json:"style"`
		MasterID int64    `json:"master_id"`
	} `json:"results"`
}

func TestDiscogsSearch(t *testing.T) {
	h := newHarness(t, testConfig())
	search := func(t *testing.T, kv ...string) dgSearchBody {
		t.Helper()
		resp := h.get(dgBase+"/database/search"+q(kv...), goodDGUA, dgToken)
		if resp.status != 200 {
			t.Fatalf("status = %d: %s", resp.status, resp.body)
		}
		var b dgSearchBody
		if err := json.Unmarshal(resp.body, &b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Run("release results", func(t *testing.T) {
		got := search(t, "type", "release", "artist", "Bicep", "track", "Apricots (Extended Mix)")
		if len(got.Results) == 0 {
			t.Fatal("no results")
		}
		for _, r := range got.Results {
			if r.Type != "release" || !strings.HasPrefix(r.Title, "Bicep - ") || len(r.Label) == 0 || r.Catno == "" {
				t.Errorf("result %+v: want a Bicep release with label and catno", r)
			}
		}
		if got.Pagination.Items != len(got.Results) || got.Pagination.Pages != 1 || got.Pagination.PerPage != 50 {
			t.Errorf("pagination = %+v", got.Pagination)
		}
	})
	t.Run("masters and releases when type is empty", func(t *testing.T) {
		got := search(t, "q", "Bicep Glue")
		types := map[string]int{}
		for _, r := range got.Results {
			types[r.Type]++
		}
		if types["release"] == 0 {
			t.Errorf("types = %v, want releases", types)
		}
	})
	t.Run("discogs artist numbering", func(t *testing.T) {
		got := search(t, "type", "release", "artist", "Dusky")
		found := false
		for _, r := range got.Results {
			found = found || strings.HasPrefix(r.Title, "Dusky (2) - ")
		}
		if !found {
			t.Errorf("results %+v, want a release titled with the Discogs name Dusky (2)", got.Results)
		}
	})
	t.Run("pagination links", func(t *testing.T) {
		got := search(t, "type", "release", "artist", "Bicep", "per_page", "1")
		if got.Pagination.Pages < 2 || got.Pagination.URLs["next"] == "" || got.Pagination.URLs["last"] == "" {
			t.Fatalf("pagination = %+v, want next and last", got.Pagination)
		}
		if strings.Contains(got.Pagination.URLs["next"], "token") {
			t.Errorf("next link leaks the token: %s", got.Pagination.URLs["next"])
		}
		p2 := search(t, "type", "release", "artist", "Bicep", "per_page", "1", "page", "2")
		if p2.Pagination.URLs["prev"] == "" || p2.Results[0].ID == got.Results[0].ID {
			t.Errorf("page 2 = %+v", p2)
		}
	})
	t.Run("no match", func(t *testing.T) {
		got := search(t, "type", "release", "artist", "Nobody At All", "track", "Nothing")
		if len(got.Results) != 0 || got.Pagination.Items != 0 {
			t.Errorf("got %+v, want no results", got)
		}
	})
}

func TestDiscogsRelease(t *testing.T) {
	h := newHarness(t, testConfig())
	var rel *Release
	for i := range testCatalog(t).Releases {
		r := &testCatalog(t).Releases[i]
		if r.Type == "compilation" && r.Has(ProviderDiscogs) {
			rel = r
			break
		}
	}
	resp := h.get(dgBase+"/releases/"+strconv.FormatInt(rel.DiscogsID, 10), goodDGUA)
	if resp.status != 200 {
		t.Fatalf("status = %d: %s", resp.status, resp.body)
	}
	var got struct {
		ID     int64  `json:"id"`
		Year   int    `json:"year"`
		Title  string `json:"title"`
		Labels []struct {
			Name  string `json:"name"`
			Catno string `json:"catno"`
		} `json:"labels"`
		Tracklist []struct {
			Position string `json:"position"`
			Type     string `json:"type_"`
			Title    string `json:"title"`
			Duration string `json:"duration"`
			Artists  []struct {
				Name string `json:"name"`
			} `json:"artists"`
		} `json:"tracklist"`
	}
	if err := json.Unmarshal(resp.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != rel.DiscogsID || got.Year != rel.Year() || got.Title != rel.Title || got.Labels[0].Catno != rel.Catno {
		t.Errorf("release = %+v, want %s", got, rel.ID)
	}
	if len(got.Tracklist) == 0 {
		t.Fatal("empty tracklist")
	}
	for _, tr := range got.Tracklist {
		if tr.Type != "track" || tr.Position == "" || !strings.Contains(tr.Duration, ":") || len(tr.Artists) == 0 {
			t.Errorf("compilation track %+v: want position, m:ss duration and track artists", tr)
		}
	}
	if resp.header.Get("X-Discogs-Ratelimit") == "" {
		t.Error("missing X-Discogs-Ratelimit header")
	}
}

func TestDgDuration(t *testing.T) {
	tests := []struct {
		ms   int
		want string
	}{{348000, "5:48"}, {59499, "0:59"}, {3723000, "1:02:03"}}
	for _, tt := range tests {
		if got := dgDuration(tt.ms); got != tt.want {
			t.Errorf("dgDuration(%d) = %q, want %q", tt.ms, got, tt.want)
		}
	}
}
