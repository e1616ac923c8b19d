package providersim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The simulator's own Spotify response types. They follow the recorded responses in
// testdata/fixtures/spotify and are never shared with the service's Spotify client.

type spExternalURLs struct {
	Spotify string `json:"spotify"`
}

type spImage struct {
	URL    string `json:"url"`
	Height int    `json:"height"`
	Width  int    `json:"width"`
}

type spArtist struct {
	ExternalURLs spExternalURLs `json:"external_urls"`
	Href         string         `json:"href"`
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Type         string         `json:"type"`
	URI          string         `json:"uri"`
}

type spAlbum struct {
	AlbumType            string         `json:"album_type"`
	Artists              []spArtist     `json:"artists"`
	AvailableMarkets     []string       `json:"available_markets,omitempty"`
	ExternalURLs         spExternalURLs `json:"external_urls"`
	Href                 string         `json:"href"`
	ID                   string         `json:"id"`
	Images               []spImage      `json:"images"`
	Name                 string         `json:"name"`
	ReleaseDate          string         `json:"release_date"`
	ReleaseDatePrecision string         `json:"release_date_precision"`
	TotalTracks          int            `json:"total_tracks"`
	Type                 string         `json:"type"`
	URI                  string         `json:"uri"`
}

type spExternalIDs struct {
	ISRC string `json:"isrc,omitempty"`
}

type spTrack struct {
	Album            spAlbum        `json:"album"`
	Artists          []spArtist     `json:"artists"`
	AvailableMarkets []string       `json:"available_markets,omitempty"`
	DiscNumber       int            `json:"disc_number"`
	DurationMS       int            `json:"duration_ms"`
	Explicit         bool           `json:"explicit"`
	ExternalIDs      spExternalIDs  `json:"external_ids"`
	ExternalURLs     spExternalURLs `json:"external_urls"`
	Href             string         `json:"href"`
	ID               string         `json:"id"`
	IsLocal          bool           `json:"is_local"`
	Name             string         `json:"name"`
	Popularity       *int           `json:"popularity,omitempty"`
	PreviewURL       *string        `json:"preview_url"`
	TrackNumber      int            `json:"track_number"`
	Type             string         `json:"type"`
	URI              string         `json:"uri"`
}

type spPaging struct {
	Href     string  `json:"href"`
	Items    any     `json:"items"`
	Limit    int     `json:"limit"`
	Next     *string `json:"next"`
	Offset   int     `json:"offset"`
	Previous *string `json:"previous"`
	Total    int     `json:"total"`
}

type spErrorBody struct {
	Error spError `json:"error"`
}

type spError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

type spTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

type spOAuthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

var devMarkets = []string{"AD", "AR", "AT", "AU", "BE", "BR", "CA", "CH", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IT", "JP", "MX", "NL", "NO", "NZ", "PL", "PT", "SE", "US"}

// spotifyToken serves POST /api/token (client-credentials flow, notes §1.1).
func (s *Server) spotifyToken(w *respWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, spOAuthError{Error: "invalid_request", ErrorDescription: "Only POST is supported"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, spOAuthError{Error: "invalid_request", ErrorDescription: "Malformed form body"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	switch gt := r.PostForm.Get("grant_type"); {
	case gt == "":
		writeJSON(w, http.StatusBadRequest, spOAuthError{Error: "unsupported_grant_type", ErrorDescription: "grant_type parameter is missing"})
		return
	case gt != "client_credentials":
		writeJSON(w, http.StatusBadRequest, spOAuthError{Error: "unsupported_grant_type", ErrorDescription: "grant_type must be client_credentials, authorization_code or refresh_token"})
		return
	}
	if id == "" && secret == "" {
		w.why = outcomeAuth
		writeJSON(w, http.StatusBadRequest, spOAuthError{Error: "invalid_client"})
		return
	}
	valid := id != "" && secret != ""
	if s.cfg.SpotifyClientID != "" {
		valid = id == s.cfg.SpotifyClientID && secret == s.cfg.SpotifyClientSecret
	}
	if !valid {
		w.why = outcomeAuth
		writeJSON(w, http.StatusBadRequest, spOAuthError{Error: "invalid_client", ErrorDescription: "Invalid client"})
		return
	}
	tok := newAccessToken()
	s.tokensMu.Lock()
	s.tokens[tok] = spotifyToken{clientID: id, expires: s.clock.Now().Add(s.cfg.SpotifyTokenTTL)}
	s.tokensMu.Unlock()
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	writeJSON(w, http.StatusOK, spTokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(s.cfg.SpotifyTokenTTL / time.Second)})
}

func newAccessToken() string {
	b := make([]byte, 60)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return "BQ" + base64.RawURLEncoding.EncodeToString(b)
}

func spError401(w *respWriter, kind, msg string) {
	w.why = outcomeAuth
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="spotify", error=%q, error_description=%q`, kind, msg))
	writeJSON(w, http.StatusUnauthorized, spErrorBody{spError{Status: http.StatusUnauthorized, Message: msg}})
}

func spFail(w *respWriter, status int, msg string) {
	writeJSON(w, status, spErrorBody{spError{Status: status, Message: msg}})
}

// spotifyAPI serves /v1/...: bearer auth, then the rolling-window limit per client id,
// then error injection, then the endpoint.
func (s *Server) spotifyAPI(w *respWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	if auth == "" || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		spError401(w, "missing_token", "No token provided")
		return
	}
	now := s.clock.Now()
	s.tokensMu.Lock()
	t, ok := s.tokens[tok]
	s.tokensMu.Unlock()
	switch {
	case !ok:
		spError401(w, "invalid_token", "Invalid access token")
		return
	case !now.Before(t.expires):
		spError401(w, "invalid_token", "The access token expired")
		return
	}
	if ok, wait := s.spotifyLimit.allow(t.clientID, now); !ok {
		w.why = outcomeRateLimited
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		body := spError{Status: http.StatusTooManyRequests, Message: "API rate limit exceeded"}
		if s.cfg.SpotifyQuotaBody {
			body = spError{Status: http.StatusTooManyRequests, Message: "Too many requests", Reason: "QUOTA_EXCEEDED"}
		}
		writeJSON(w, http.StatusTooManyRequests, spErrorBody{body})
		return
	}
	if s.injectError(s.cfg.SpotifyErrorRate) {
		w.why = outcomeInjected
		spFail(w, http.StatusServiceUnavailable, "Service unavailable")
		return
	}
	if r.Method != http.MethodGet {
		spFail(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/spotify/v1/")
	switch {
	case path == "search":
		s.spotifySearch(w, r)
	case path == "tracks":
		s.spotifyTracks(w, r)
	case strings.HasPrefix(path, "tracks/") && !strings.Contains(path[len("tracks/"):], "/"):
		s.spotifyTrack(w, r, path[len("tracks/"):])
	case strings.HasPrefix(path, "audio-features"), strings.HasPrefix(path, "audio-analysis"), path == "recommendations":
		// Closed to apps created after 2024-11-27 (notes §0.2).
		spFail(w, http.StatusForbidden, "Forbidden")
	default:
		spFail(w, http.StatusNotFound, "Service not found")
	}
}

func (s *Server) spotifyTrack(w *respWriter, r *http.Request, id string) {
	if !spotifyIDRe.MatchString(id) {
		spFail(w, http.StatusBadRequest, "invalid id")
		return
	}
	p, ok := s.cat.index.spotifyByID[id]
	if !ok {
		spFail(w, http.StatusNotFound, "Resource not found")
		return
	}
	writeJSON(w, http.StatusOK, s.spTrackObject(r, p))
}

type spTracksResponse struct {
	Tracks []*spTrack `json:"tracks"`
}

// spotifyTracks serves the batch GET /tracks?ids=, which dev-mode apps lost in Feb 2026.
func (s *Server) spotifyTracks(w *respWriter, r *http.Request) {
	if s.cfg.SpotifyProfile == ProfileDev {
		spFail(w, http.StatusForbidden, "Forbidden")
		return
	}
	raw := r.URL.Query().Get("ids")
	if raw == "" {
		spFail(w, http.StatusBadRequest, "invalid request")
		return
	}
	ids := strings.Split(raw, ",")
	if len(ids) > 50 {
		spFail(w, http.StatusBadRequest, "Too many ids requested")
		return
	}
	out := spTracksResponse{Tracks: make([]*spTrack, 0, len(ids))}
	for _, id := range ids {
		if !spotifyIDRe.MatchString(id) {
			spFail(w, http.StatusBadRequest, "invalid id")
			return
		}
		if p, ok := s.cat.index.spotifyByID[id]; ok {
			t := s.spTrackObject(r, p)
			out.Tracks = append(out.Tracks, &t)
		} else {
			out.Tracks = append(out.Tracks, nil)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) spArtistObject(base string, a *Artist) spArtist {
	return spArtist{
		ExternalURLs: spExternalURLs{Spotify: "https://open.spotify.com/artist/" + a.SpotifyID},
		Href:         base + "/spotify/v1/artists/" + a.SpotifyID,
		ID:           a.SpotifyID, Name: a.Name, Type: "artist", URI: "spotify:artist:" + a.SpotifyID,
	}
}

func (s *Server) spTrackObject(r *http.Request, p placement) spTrack {
	base := s.baseURL(r)
	rel, rec := p.rel, p.rec
	var artists []spArtist
	for _, c := range rec.Artists {
		artists = append(artists, s.spArtistObject(base, s.cat.artist(c.Artist)))
	}
	for _, id := range rec.Remixers {
		artists = append(artists, s.spArtistObject(base, s.cat.artist(id)))
	}
	var albumArtists []spArtist
	for _, c := range rel.Artists {
		albumArtists = append(albumArtists, s.spArtistObject(base, s.cat.artist(c.Artist)))
	}
	albumType := rel.Type
	if albumType == "ep" {
		albumType = "single" // Spotify files EPs as singles
	}
	img := sha256.Sum256([]byte(rel.SpotifyID))
	imgID := hex.EncodeToString(img[:12])
	precision := map[int]string{4: "year", 7: "month", 10: "day"}[len(rel.ReleaseDate)]
	t := spTrack{
		Album: spAlbum{
			AlbumType:    albumType,
			Artists:      albumArtists,
			ExternalURLs: spExternalURLs{Spotify: "https://open.spotify.com/album/" + rel.SpotifyID},
			Href:         base + "/spotify/v1/albums/" + rel.SpotifyID,
			ID:           rel.SpotifyID,
			Images: []spImage{
				{URL: "https://i.scdn.co/image/ab67616d0000b273" + imgID, Height: 640, Width: 640},
				{URL: "https://i.scdn.co/image/ab67616d00001e02" + imgID, Height: 300, Width: 300},
				{URL: "https://i.scdn.co/image/ab67616d00004851" + imgID, Height: 64, Width: 64},
			},
			Name:                 rel.Title,
			ReleaseDate:          rel.ReleaseDate,
			ReleaseDatePrecision: precision,
			TotalTracks:          len(rel.Tracks),
			Type:                 "album",
			URI:                  "spotify:album:" + rel.SpotifyID,
		},
		Artists:      artists,
		DiscNumber:   1,
		DurationMS:   rec.DurationMS,
		ExternalIDs:  spExternalIDs{ISRC: rec.ISRC},
		ExternalURLs: spExternalURLs{Spotify: "https://open.spotify.com/track/" + p.track.SpotifyID},
		Href:         base + "/spotify/v1/tracks/" + p.track.SpotifyID,
		ID:           p.track.SpotifyID,
		Name:         rec.SpotifyTitle,
		TrackNumber:  p.number,
		Type:         "track",
		URI:          "spotify:track:" + p.track.SpotifyID,
	}
	if s.cfg.SpotifyProfile == ProfileExtended {
		pop := rec.Popularity
		if rel.Type == "compilation" {
			pop = max(0, pop-25)
		}
		t.Popularity = &pop
		t.AvailableMarkets = devMarkets
		t.Album.AvailableMarkets = devMarkets
	}
	return t
}

// spQuery is a parsed Spotify search query (notes §1.2).
type spQuery struct {
	track, artist, album, free []string
	not                        []string
	isrc                       string
	yearFrom, yearTo           int
	unsupported                bool // upc:, tag: and genre: never match tracks here
}

var spTokenRe = regexp.MustCompile(`(?i)([a-z]+):"([^"]*)"|([a-z]+):(\S+)|"([^"]*)"|(\S+)`)

func parseSpotifyQuery(q string) spQuery {
	var sq spQuery
	negate := false
	for _, m := range spTokenRe.FindAllStringSubmatch(q, -1) {
		field, value := strings.ToLower(m[1]+m[3]), m[2]+m[4]
		if field == "" {
			value = m[5] + m[6]
			if value == "NOT" {
				negate = true
				continue
			}
			if value == "OR" || value == "AND" {
				continue
			}
		}
		if negate {
			sq.not = append(sq.not, words(value)...)
			negate = false
			continue
		}
		switch field {
		case "":
			sq.free = append(sq.free, words(value)...)
		case "track":
			sq.track = append(sq.track, words(value)...)
		case "artist":
			sq.artist = append(sq.artist, words(value)...)
		case "album":
			sq.album = append(sq.album, words(value)...)
		case "isrc":
			sq.isrc = normalizeISRC(value)
		case "year":
			from, to, ok := strings.Cut(value, "-")
			sq.yearFrom, _ = strconv.Atoi(from)
			sq.yearTo = sq.yearFrom
			if ok {
				sq.yearTo, _ = strconv.Atoi(to)
			}
		case "upc", "tag", "genre":
			sq.unsupported = true
		default:
			sq.free = append(sq.free, words(field+" "+value)...)
		}
	}
	return sq
}

var isrcReplacer = strings.NewReplacer("-", "", " ", "")

func normalizeISRC(s string) string {
	return strings.ToUpper(isrcReplacer.Replace(s))
}

type spHit struct {
	p     placement
	score float64
}

// searchSpotify ranks Spotify tracks for q like the real search roughly does: tracks
// matching every filter first, then near misses (the same title by another artist, the
// same artist with a partly matching title), popular tracks first among equals.
func (s *Server) searchSpotify(sq spQuery) []spHit {
	if sq.unsupported {
		return nil
	}
	var hits []spHit
	docs := s.cat.search().spotify
	for i, p := range s.cat.index.spotifyTracks {
		rec, rel, d := p.rec, p.rel, docs[i]
		if sq.isrc != "" && rec.ISRC != sq.isrc {
			continue
		}
		if sq.yearFrom > 0 {
			if y := rel.Year(); y < sq.yearFrom || y > sq.yearTo {
				continue
			}
		}
		name, artistWords, album, all := d.name, d.artists, d.album, d.all
		if len(sq.not) > 0 && coverage(sq.not, all) > 0 {
			continue
		}
		n, sum, strict, anyFull := 0, 0.0, true, false
		for _, f := range [...]struct{ q, field []string }{{sq.track, name}, {sq.artist, artistWords}, {sq.album, album}, {sq.free, all}} {
			if len(f.q) == 0 {
				continue
			}
			v := coverage(f.q, f.field)
			n++
			sum += v
			strict = strict && v == 1
			anyFull = anyFull || v == 1
		}
		if n == 0 { // only isrc:/year: filters
			hits = append(hits, spHit{p: p, score: 2 + float64(rec.Popularity)/1000})
			continue
		}
		mean := sum / float64(n)
		pop := float64(rec.Popularity) / 1000
		if rel.Type == "compilation" {
			pop /= 2
		}
		switch {
		case strict:
			score := 2 + pop
			if len(sq.track) > 0 && len(sq.track) == len(name) {
				score += 0.05 // the whole name matched: "Glue" before "Glue - Extended Mix"
			}
			hits = append(hits, spHit{p: p, score: score})
		case mean >= 0.5 && anyFull:
			hits = append(hits, spHit{p: p, score: mean + pop})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].score != hits[j].score {
			return hits[i].score > hits[j].score
		}
		return hits[i].p.track.SpotifyID < hits[j].p.track.SpotifyID
	})
	return hits
}

var spSearchTypes = map[string]string{
	"album": "albums", "artist": "artists", "playlist": "playlists", "track": "tracks",
	"show": "shows", "episode": "episodes", "audiobook": "audiobooks",
}

func (s *Server) spotifySearch(w *respWriter, r *http.Request) {
	qv := r.URL.Query()
	q := qv.Get("q")
	if q == "" {
		spFail(w, http.StatusBadRequest, "No search query")
		return
	}
	rawTypes := qv.Get("type")
	if rawTypes == "" {
		spFail(w, http.StatusBadRequest, "Missing parameter type")
		return
	}
	types := strings.Split(rawTypes, ",")
	for _, t := range types {
		if _, ok := spSearchTypes[t]; !ok {
			spFail(w, http.StatusBadRequest, "Bad search type field "+t)
			return
		}
	}
	maxLimit, limit := 10, 5
	if s.cfg.SpotifyProfile == ProfileExtended {
		maxLimit, limit = 50, 20
	}
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			spFail(w, http.StatusBadRequest, "Invalid limit")
			return
		}
		limit = n
	}
	offset := 0
	if v := qv.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			spFail(w, http.StatusBadRequest, "Invalid offset")
			return
		}
		offset = n
	}
	base := s.baseURL(r) + "/spotify/v1/search"
	link := func(t string, off int) string {
		v := url.Values{}
		v.Set("query", q)
		v.Set("type", t)
		v.Set("offset", strconv.Itoa(off))
		v.Set("limit", strconv.Itoa(limit))
		return base + "?" + v.Encode()
	}
	out := make(map[string]spPaging, len(types))
	for _, t := range types {
		pg := spPaging{Href: link(t, offset), Items: []struct{}{}, Limit: limit, Offset: offset}
		if t == "track" {
			hits := s.searchSpotify(parseSpotifyQuery(q))
			pg.Total = len(hits)
			items := []spTrack{}
			for i := offset; i < len(hits) && i < offset+limit; i++ {
				items = append(items, s.spTrackObject(r, hits[i].p))
			}
			pg.Items = items
			if offset+limit < len(hits) {
				n := link(t, offset+limit)
				pg.Next = &n
			}
			if offset > 0 {
				p := link(t, max(0, offset-limit))
				pg.Previous = &p
			}
		}
		out[spSearchTypes[t]] = pg
	}
	writeJSON(w, http.StatusOK, out)
}
