package spotify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/djmeta/enrichment/internal/provider"
)

// tokenExpiryMargin is how long before its expires_in a token is replaced.
const tokenExpiryMargin = 60 * time.Second

// tokenSource gets and caches client-credentials access tokens. It is safe
// for concurrent use; at most one token request is in flight at a time. The
// token is a credential: it never goes into an error or a log.
type tokenSource struct {
	tr         *provider.Transport
	url        string
	id, secret string
	now        func() time.Time
	refreshing chan struct{} // one slot, held while a token is requested
	mu         sync.Mutex    // guards tok and expiry
	tok        string
	expiry     time.Time
}

func newTokenSource(tr *provider.Transport, tokenURL, id, secret string) *tokenSource {
	return &tokenSource{
		tr: tr, url: tokenURL, id: id, secret: secret,
		now:        time.Now,
		refreshing: make(chan struct{}, 1),
	}
}

// token returns a valid access token, requesting a new one when none is
// cached or the cached one is about to expire.
func (ts *tokenSource) token(ctx context.Context) (string, error) {
	if tok, ok := ts.cached(); ok {
		return tok, nil
	}
	select {
	case ts.refreshing <- struct{}{}:
	case <-ctx.Done():
		return "", &provider.Error{Provider: provider.Spotify, Kind: provider.KindUnavailable, Err: fmt.Errorf("wait for access token: %w", ctx.Err())}
	}
	defer func() { <-ts.refreshing }()
	if tok, ok := ts.cached(); ok { // another caller refreshed it meanwhile
		return tok, nil
	}
	start := ts.now()
	tok, ttl, err := ts.fetch(ctx)
	if err != nil {
		return "", err
	}
	ts.mu.Lock()
	ts.tok, ts.expiry = tok, start.Add(ttl)
	ts.mu.Unlock()
	return tok, nil
}

func (ts *tokenSource) cached() (string, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.tok, ts.tok != "" && ts.now().Before(ts.expiry)
}

// invalidate drops tok if it is still the cached token (the Web API refused
// it), so the next call requests a new one. Comparing first means that many
// calls refused with the same token cause one refresh, not many.
func (ts *tokenSource) invalidate(tok string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.tok == tok {
		ts.tok = ""
	}
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"` // seconds
}

// fetch runs the client-credentials flow: POST grant_type=client_credentials
// with HTTP Basic auth. It returns the token and how long to keep it.
func (ts *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	var resp tokenResponse
	err := ts.tr.Do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.url, strings.NewReader(form))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.SetBasicAuth(ts.id, ts.secret)
		return req, nil
	}, classifyToken, &resp)
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Err != nil {
			pe.Err = fmt.Errorf("token endpoint: %w", pe.Err)
		}
		return "", 0, err
	}
	if resp.AccessToken == "" || resp.TokenType != "" && !strings.EqualFold(resp.TokenType, "bearer") {
		return "", 0, &provider.Error{Provider: provider.Spotify, Kind: provider.KindBadResponse, Status: http.StatusOK,
			Err: fmt.Errorf("token endpoint: no bearer token (token_type %q)", resp.TokenType)}
	}
	expiresIn := time.Duration(resp.ExpiresIn) * time.Second
	return resp.AccessToken, max(expiresIn-tokenExpiryMargin, expiresIn/2, 0), nil
}

// classifyToken maps a token endpoint status to an error kind. Spotify
// answers bad credentials with 400 {"error":"invalid_client"} (401 per the
// OAuth spec); both mean we cannot authenticate. Other 4xx mean a wrong
// TokenURL, not a missing thing.
func classifyToken(status int) provider.ErrorKind {
	switch {
	case status == http.StatusBadRequest, status == http.StatusUnauthorized:
		return provider.KindUnauthorized
	case status == http.StatusTooManyRequests, status >= 500:
		return provider.DefaultClassify(status)
	}
	return provider.KindBadResponse
}
