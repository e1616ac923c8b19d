package provider_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/djmeta/enrichment/internal/provider"
)

// TestNewHTTPClientReusesConnections: a worker makes several calls to one
// provider host at once, round after round. With idle connections kept for
// each of them, the second round opens no new connection; with
// http.DefaultTransport's two idle connections per host it would open most
// of them again (and, against the real APIs, do a TLS handshake for each).
func TestNewHTTPClientReusesConnections(t *testing.T) {
	t.Parallel()
	const concurrent = 8
	tests := []struct {
		name        string
		client      *http.Client
		wantNewConn func(n int64) bool
		want        string
	}{
		{"NewHTTPClient", provider.NewHTTPClient(5*time.Second, concurrent),
			func(n int64) bool { return n == 0 }, "0"},
		{"default transport (the reason for NewHTTPClient)", &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
			func(n int64) bool { return n >= concurrent-2 }, "at least concurrent-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Every request waits until all of the round have arrived, so the
			// round really holds `concurrent` connections at once.
			var (
				arrived sync.WaitGroup
				newConn atomic.Int64
			)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				arrived.Done()
				arrived.Wait()
				_, _ = io.WriteString(w, `{}`)
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					newConn.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			round := func() {
				arrived.Add(concurrent)
				var wg sync.WaitGroup
				for range concurrent {
					wg.Go(func() {
						req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
						if err != nil {
							t.Error(err)
							return
						}
						resp, err := tt.client.Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
					})
				}
				wg.Wait()
			}
			round()
			first := newConn.Load()
			round()
			if got := newConn.Load() - first; !tt.wantNewConn(got) {
				t.Errorf("second round of %d concurrent requests opened %d new connections, want %s", concurrent, got, tt.want)
			}
		})
	}
}
