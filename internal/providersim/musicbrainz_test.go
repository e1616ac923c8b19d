package providersim

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMusicBrainzUserAgent(t *testing.T) {
	h := newHarness(t, testConfig())
	path := mbBase + "/recording" + q("query", "glue", "fmt", "json")
	tests := []struct {
		name       string
		ua         string
		wantStatus int
		wantWho    string
	}{
		{"missing", "", 403, "ua-missing"},
		{"library default", "Go-http-client/1.1", 403, "ua-missing"},
		{"python", "python-requests/2.32.3", 403, "ua-missing"},
		{"no contact", "djmeta/1.0", 400, ""},
		{"no version", "djmeta ( ops@example.org )", 400, ""},
		{"proper email", "djmeta-enrichment/1.2.0 ( ops@example.org )", 200, ""},
		{"proper url", "MyAwesomeTagger/1.2.0 ( https://example.org/contact )", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.get(path, "User-Agent: "+tt.ua)
			if resp.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.status, tt.wantStatus, resp.body)
			}
			if got := resp.header.Get("X-Ratelimit-Who"); got != tt.wantWho {
				t.Errorf("x-ratelimit-who = %q, want %q", got, tt.wantWho)
			}
			if tt.wantStatus == 403 && !strings.Contains(resp.json(t)["error"].(string), "has not identified itself") {
				t.Errorf("403 body = %s", resp.body)
			}
		})
	}
}

// mbSearchBody is decoded into test-local types.
type mbSearchBody struct {
	Created    string `json:"created"`
	Count      int    `json:"count"`
	Offset     int    `json:"offset"`
	Recordings []struct {
		ID           string `json:"id"`
		Score        int    `json:"score"`
		Title        string `json:"title"`
		Length       int    `json:"length"`
		ArtistCredit []struct {
			Name       string `json:"name"`
			Joinphrase string `json:"joinphrase"`
			Artist     struct {
				ID string `json:"id"`
			} `json:"artist"`
		} `json:"artist-credit"`
		Releases []struct {
			ID           string `json:"id"`
			ReleaseGroup struct {
				PrimaryType string `json:"primary-type"`
			} `json:"release-group"`
		} `json:"releases"`
		ISRCs []string `json:"isrcs"`
	} `json:"recordings"`
}

func TestMusicBrainzSearch(t *testing.T) {
	h := newHarness(t, testConfig())
	search := func(t *testing.T, query string, extra ...string) mbSearchBody {
		t.Helper()
		resp := h.get(mbBase+"/recording"+q(append([]string{"query", query, "fmt", "json"}, extra...)...), goodMBUA)
		if resp.status != 200 {
			t.Fatalf("status = %d: %s", resp.status, resp.body)
		}
		var b mbSearchBody
		if err := json.Unmarshal(resp.body, &b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Run("scored candidates", func(t *testing.T) {
		got := search(t, `recording:"Rej" AND artist:"Âme"`)
		if got.Count < 1 || got.Recordings[0].Score != 100 || got.Recordings[0].Title != "Rej" {
			t.Fatalf("got %+v, want Rej first with score 100", got)
		}
		if got.Created == "" || !strings.HasSuffix(got.Created, "Z") {
			t.Errorf("created = %q, want an RFC 3339 UTC time", got.Created)
		}
		for _, r := range got.Recordings[1:] {
			if r.Score > 100 || r.Score < 0 {
				t.Errorf("score %d out of 0..100", r.Score)
			}
		}
	})
	t.Run("diacritics ignored", func(t *testing.T) {
		a, b := search(t, `recording:"Grey" AND artist:"Kolsch"`), search(t, `recording:"Grey" AND artist:"Kölsch"`)
		if a.Count == 0 || a.Count != b.Count {
			t.Errorf("counts %d and %d, want equal and non-zero", a.Count, b.Count)
		}
	})
	t.Run("feat joinphrase", func(t *testing.T) {
		got := search(t, `recording:"Illumination" AND artist:"DJ Koze"`)
		if got.Count == 0 {
			t.Skip("Illumination is absent from MusicBrainz in this catalog")
		}
		if ac := got.Recordings[0].ArtistCredit; len(ac) != 2 || ac[0].Joinphrase != " feat. " {
			t.Errorf("artist-credit = %+v, want a feat. joinphrase", ac)
		}
	})
	t.Run("isrc query", func(t *testing.T) {
		var rec *Recording
		for i := range testCatalog(t).Recordings {
			if r := &testCatalog(t).Recordings[i]; r.MusicBrainzISRC && r.Has(ProviderMusicBrainz) {
				rec = r
				break
			}
		}
		got := search(t, "isrc:"+rec.ISRC)
		if got.Count != 1 || got.Recordings[0].ID != rec.MBID || got.Recordings[0].ISRCs[0] != rec.ISRC {
			t.Errorf("got %+v, want exactly %s", got, rec.MBID)
		}
	})
	t.Run("limit and offset", func(t *testing.T) {
		all := search(t, "artist:Bicep")
		page := search(t, "artist:Bicep", "limit", "2", "offset", "1")
		if len(page.Recordings) != 2 || page.Offset != 1 || page.Count != all.Count || page.Recordings[0].ID != all.Recordings[1].ID {
			t.Errorf("page = %d items offset %d count %d, want 2 items from offset 1 of %d", len(page.Recordings), page.Offset, page.Count, all.Count)
		}
	})
	t.Run("not found is an empty list", func(t *testing.T) {
		got := search(t, `recording:"zzqqx" AND artist:"nobody"`)
		if got.Count != 0 || got.Recordings == nil {
			t.Errorf("got %+v, want count 0 and recordings []", got)
		}
	})
}

func TestMusicBrainzLookups(t *testing.T) {
	h := newHarness(t, testConfig())
	cat := testCatalog(t)
	var withISRC *Recording
	for i := range cat.Recordings {
		if r := &cat.Recordings[i]; r.MusicBrainzISRC && r.Has(ProviderMusicBrainz) && len(cat.placementsAt(r, ProviderMusicBrainz)) > 0 {
			withISRC = r
			break
		}
	}
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantInBody []string
	}{
		{"recording bare", "/recording/" + withISRC.MBID + "?fmt=json", 200, []string{`"video":false`, `"disambiguation":""`}},
		{"recording inc", "/recording/" + withISRC.MBID + "?fmt=json&inc=artist-credits+isrcs+releases+release-groups+tags+genres", 200,
			[]string{`"isrcs":["` + withISRC.ISRC + `"]`, `"joinphrase":""`, `"release-group":`, `"genres":[`, `"status":"Official"`}},
		{"recording bad inc", "/recording/" + withISRC.MBID + "?fmt=json&inc=bogus", 400, []string{"bogus is not a valid inc parameter for the recording resource."}},
		{"recording unknown", "/recording/00000000-0000-4000-8000-000000000000?fmt=json", 404, []string{`"error":"Not Found"`, `"help":"For usage`}},
		{"recording malformed", "/recording/1234?fmt=json", 400, []string{"Invalid mbid."}},
		{"isrc", "/isrc/" + withISRC.ISRC + "?fmt=json&inc=artist-credits", 200, []string{`"isrc":"` + withISRC.ISRC + `"`, `"artist-credit":[`}},
		{"isrc lower case", "/isrc/" + strings.ToLower(withISRC.ISRC) + "?fmt=json", 200, []string{`"recordings":[`}},
		{"isrc ignores releases", "/isrc/" + withISRC.ISRC + "?fmt=json&inc=releases", 200, []string{`"recordings":[`}},
		{"isrc unknown", "/isrc/ZZZZZ0000000?fmt=json", 404, []string{`"error":"Not Found"`}},
		{"isrc malformed", "/isrc/GB-123?fmt=json", 400, []string{"Invalid isrc."}},
		{"xml not served", "/recording/" + withISRC.MBID, 406, []string{"fmt=json"}},
		{"accept header", "/recording/" + withISRC.MBID, 406, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.get(mbBase+tt.path, goodMBUA)
			if resp.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.status, tt.wantStatus, resp.body)
			}
			for _, w := range tt.wantInBody {
				if !strings.Contains(string(resp.body), w) {
					t.Errorf("body lacks %s: %s", w, resp.body)
				}
			}
			if tt.name == "isrc ignores releases" && strings.Contains(string(resp.body), `"releases"`) {
				t.Errorf("isrc lookup served releases: %s", resp.body)
			}
		})
	}
	t.Run("accept json without fmt", func(t *testing.T) {
		resp := h.get(mbBase+"/recording/"+withISRC.MBID, goodMBUA, "Accept: application/json")
		if resp.status != 200 {
			t.Errorf("status = %d, want 200", resp.status)
		}
	})
}

func TestParseLucene(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{`recording:"Glue" AND artist:"Bicep"`, `+recording"glue" +artist"bicep"`},
		{`recording:(glue \(hammer remix\)) artist:bicep`, `recording[glue hammer remix] artist[bicep]`},
		{`glue -live NOT arid:abc`, `[glue] -[live] -arid[abc]`},
		{`dur:[100000 TO 200000] qdur:120`, `dur<100000..200000> qdur[120]`},
		{`+isrc:GBAHT1600302`, `+isrc[gbaht1600302]`},
		{`recording:glue~ artist:bic*`, `recording[glue] artist[bic]`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := renderClauses(parseLucene(tt.in)); got != tt.want {
				t.Errorf("parseLucene(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func renderClauses(cs []lclause) string {
	var parts []string
	for _, c := range cs {
		var b strings.Builder
		switch c.occur {
		case occurMust:
			b.WriteString("+")
		case occurMustNot:
			b.WriteString("-")
		}
		b.WriteString(c.field)
		switch {
		case c.group != nil:
			b.WriteString("(" + renderClauses(c.group) + ")")
		case c.lo != "":
			b.WriteString("<" + c.lo + ".." + c.hi + ">")
		case c.phrase:
			b.WriteString(`"` + strings.Join(c.terms, " ") + `"`)
		default:
			b.WriteString("[" + strings.Join(c.terms, " ") + "]")
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, " ")
}
