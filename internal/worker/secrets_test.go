package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/providersim"
	"github.com/djmeta/enrichment/internal/testinfra"
	"github.com/djmeta/enrichment/internal/worker"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func randomSecret(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 12)
	_, err := rand.Read(b)
	testinfra.Must(t, err, "random secret")
	return prefix + hex.EncodeToString(b)
}

// startLoggedWorker runs a worker in-process with the given logger (startWorker uses zaptest).
func startLoggedWorker(t *testing.T, cfg config.Worker, log *zap.Logger) *runningWorker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 1)
	rw := &runningWorker{cancel: cancel, done: make(chan error, 1)}
	go func() {
		rw.done <- worker.Run(ctx, cfg, log, worker.AppOptions{Started: func(a string) { started <- a }})
	}()
	select {
	case rw.addr = <-started:
	case err := <-rw.done:
		cancel()
		t.Fatalf("worker exited at start: %v", err)
	}
	t.Cleanup(func() { _ = rw.stop() })
	return rw
}

func getBody(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	testinfra.Must(t, err, "GET "+u)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	testinfra.Must(t, err, "read "+u)
	return string(b)
}

// TestSecretsStayOutOfLogsAndMetrics runs two workers configured with a Spotify client secret,
// a Discogs token and a database password, logging at debug level, through successes and
// failures: one against a provider-sim that accepts the credentials but fails some requests,
// one against a provider-sim that rejects them, plus invalid and unmatchable tasks that are
// dead-lettered or retried. None of the secrets, in any common encoding, may appear in the logs,
// on /metrics, /healthz or /readyz, in the dead-lettered messages' headers, or in the rows.
func TestSecretsStayOutOfLogsAndMetrics(t *testing.T) {
	t.Parallel()
	spotifySecret := randomSecret(t, "spsecret")
	discogsToken := randomSecret(t, "dgtoken")
	dbPassword := randomSecret(t, "dbpass")

	// Worker A: provider-sim accepts the credentials, fails a share of the Spotify requests
	// and every Discogs request (the providers that carry the secrets): a task nothing
	// matches cannot ask Discogs and is retried, whatever else happens in the run.
	envA, _ := simStack(t, func(c *providersim.Config) {
		c.SpotifyErrorRate, c.DiscogsErrorRate = 0.3, 1
	})
	envA["SPOTIFY_CLIENT_SECRET"] = spotifySecret
	envA["DISCOGS_TOKEN"] = discogsToken
	envA["LOG_LEVEL"] = "debug"
	envA["CIRCUIT_FAILURES"] = "2"
	envA["CIRCUIT_OPEN_TIMEOUT"] = "200ms"
	b := setup(t, envA)

	// Postgres here trusts local connections: the password in the URL is sent only if asked,
	// and accepted either way.
	du, err := url.Parse(b.cfg.DatabaseURL)
	testinfra.Must(t, err, "parse DATABASE_URL")
	user := "postgres"
	if du.User != nil && du.User.Username() != "" {
		user = du.User.Username()
	}
	du.User = url.UserPassword(user, dbPassword)
	cfgA := b.cfg
	cfgA.DatabaseURL = du.String()

	// Worker B: a provider-sim that accepts other credentials only (401s), with its own cache.
	envB, _ := simStack(t, func(c *providersim.Config) {
		c.SpotifyClientID, c.SpotifyClientSecret = "another-client", "another-secret"
		c.DiscogsTokens = []string{"another-token"}
	})
	cfgB := cfgA
	cfgB.SpotifyAPIURL, cfgB.SpotifyTokenURL = envB["SPOTIFY_API_URL"], envB["SPOTIFY_TOKEN_URL"]
	cfgB.MusicBrainzAPIURL, cfgB.DiscogsAPIURL = envB["MUSICBRAINZ_API_URL"], envB["DISCOGS_API_URL"]
	cfgB.CachePrefix = envB["CACHE_PREFIX"]

	logs := &syncBuffer{}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logs), zapcore.DebugLevel)
	log := zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.WarnLevel))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker logs:\n%s", logs.String())
		}
	})
	workers := []*runningWorker{
		startLoggedWorker(t, cfgA, log.With(zap.String("worker", "a"))),
		startLoggedWorker(t, cfgB, log.With(zap.String("worker", "b"))),
	}

	// A worker takes tasks only once Postgres has answered its start-up check: wait for both,
	// so that the broker spreads the tasks over the two.
	for _, w := range workers {
		testinfra.Eventually(t, 30*time.Second, "worker "+w.addr+" ready", func() (bool, error) { return get(w.addr, "/readyz") == 200, nil })
	}
	bodies := sampleBodies(t, 24)
	valid := len(bodies)
	// Nobody has these: no match, and a failing provider makes them retry. Worker B turns
	// its providers off (refused credentials) and finishes its share partial; eight make it
	// all but certain (1 in 256 otherwise) that some reach worker A.
	for i := range 8 {
		bodies = append(bodies, fmt.Sprintf(`{"track_id":"nomatch-%d","artist":"Nobody Known %d","title":"Nothing At All"}`, i, i))
		valid++
	}
	malformed := []string{`not json`, `{"track_id":"m1","artist":"Bicep"}`, `{"track_id":"m2","artist":"Bicep","title":"Glue","priority":"high"}`}
	bodies = append(bodies, malformed...)
	for _, body := range bodies {
		b.publishRaw(body, amqp.Publishing{ContentType: "application/json"})
	}
	b.waitStatusRows(valid, 45*time.Second)
	testinfra.Eventually(t, 30*time.Second, "malformed tasks dead-lettered", func() (bool, error) {
		n := b.queueDepth(broker.DeadLetterQueue)
		return n >= len(malformed), fmt.Errorf("DLQ holds %d", n)
	})

	// Everything a secret could leak into.
	var exposed strings.Builder
	for _, w := range workers {
		for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
			fmt.Fprintf(&exposed, "\n== %s%s\n%s", w.addr, p, getBody(t, "http://"+w.addr+p))
		}
	}
	for _, w := range workers {
		testinfra.Must(t, w.stop(), "stop worker")
	}
	for _, d := range b.drainDLQ() {
		fmt.Fprintf(&exposed, "\n== DLQ message\n%s\n%v", d.Body, d.Headers)
	}
	var rows string
	testinfra.Must(t, b.pool.QueryRow(context.Background(), `
		SELECT coalesce(string_agg(coalesce(s.last_error, '') || ' ' || coalesce(t.metadata::text, ''), E'\n'), '')
		FROM enrichment_status s JOIN tracks t ON t.id = s.track_id`).Scan(&rows), "read rows")
	exposed.WriteString("\n== rows\n" + rows)
	logText := logs.String()

	// The run went through the failure paths this test is about.
	for _, want := range []string{`"level":"debug"`, "invalid message", "unauthorized", "task failed, retrying"} {
		if !strings.Contains(logText, want) {
			t.Errorf("logs: got no %q, want the run to have logged it (debug level, failures)", want)
		}
	}
	if !strings.Contains(exposed.String(), "enrichment_provider_requests_total") {
		t.Errorf("/metrics: got no enrichment_provider_requests_total, want provider traffic in the run")
	}

	secrets := map[string]string{
		"SPOTIFY_CLIENT_SECRET": spotifySecret,
		"DISCOGS_TOKEN":         discogsToken,
		"database password":     dbPassword,
	}
	for what, s := range secrets {
		forms := map[string]string{
			"plain":          s,
			"URL-escaped":    url.QueryEscape(s),
			"base64":         base64.StdEncoding.EncodeToString([]byte(s)),
			"Basic auth":     base64.StdEncoding.EncodeToString([]byte(cfgA.SpotifyClientID + ":" + s)),
			"Discogs header": "Discogs token=" + s,
		}
		for form, v := range forms {
			if strings.Contains(logText, v) {
				t.Errorf("logs: got the %s (%s form), want it never logged\n%s", what, form, excerpt(logText, v))
			}
			if strings.Contains(exposed.String(), v) {
				t.Errorf("metrics, health, DLQ or rows: got the %s (%s form), want it nowhere\n%s", what, form, excerpt(exposed.String(), v))
			}
		}
	}
	t.Logf("checked %d bytes of debug logs and %d bytes of metrics, health, DLQ and rows", len(logText), exposed.Len())
}

// excerpt returns the line around the first occurrence of s.
func excerpt(text, s string) string {
	i := strings.Index(text, s)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(text[:i], "\n") + 1
	end := strings.Index(text[i:], "\n")
	if end < 0 {
		end = len(text) - i
	}
	return text[start : i+end]
}
