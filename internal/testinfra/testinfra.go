// Package testinfra gives integration tests isolated resources on the real
// servers this project runs against: a fresh Postgres database, a RabbitMQ
// vhost and a Redis key prefix per test, removed when the test ends. Tests
// never share state, so packages and tests run in parallel.
//
// Servers are found through TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable),
// TEST_AMQP_URL (amqp://guest:guest@127.0.0.1:5672/), TEST_RABBITMQ_API
// (http://guest:guest@127.0.0.1:15672, the management plugin) and
// TEST_REDIS_URL (redis://127.0.0.1:6379/0).
package testinfra

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/djmeta/enrichment/internal/migrate"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Name returns a short unique name with prefix.
func Name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// Database creates an empty database and returns its URL; it is dropped
// when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	admin := env("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to Postgres at %s (is it running? see .ci/run): %v", redact(admin), err)
	}
	defer conn.Close(ctx)
	name := Name("enrich_test")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// MigratedDatabase is Database with every migration applied.
func MigratedDatabase(t testing.TB) string {
	t.Helper()
	dbURL := Database(t)
	m, err := migrate.New(dbURL)
	if err != nil {
		t.Fatalf("migrator: %v", err)
	}
	defer m.Close()
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	return dbURL
}

// VHost creates a RabbitMQ vhost (through the management API) that guest
// may use and returns the AMQP URL for it; it is deleted when the test ends.
func VHost(t testing.TB) string {
	t.Helper()
	api := strings.TrimSuffix(env("TEST_RABBITMQ_API", "http://guest:guest@127.0.0.1:15672"), "/")
	name := Name("enrich_test")
	mgmt(t, api, http.MethodPut, "/api/vhosts/"+url.PathEscape(name), "")
	mgmt(t, api, http.MethodPut, "/api/permissions/"+url.PathEscape(name)+"/guest",
		`{"configure":".*","write":".*","read":".*"}`)
	t.Cleanup(func() { mgmt(t, api, http.MethodDelete, "/api/vhosts/"+url.PathEscape(name), "") })
	base := strings.TrimSuffix(env("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"), "/")
	return base + "/" + url.PathEscape(name)
}

func mgmt(t testing.TB, api, method, path, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := url.Parse(api + path)
	if err != nil {
		t.Fatalf("TEST_RABBITMQ_API: %v", err)
	}
	user := u.User
	u.User = nil
	u.RawPath = ""
	req, err := http.NewRequestWithContext(ctx, method, u.Scheme+"://"+u.Host+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("management API request: %v", err)
	}
	if user != nil {
		pw, _ := user.Password()
		req.SetBasicAuth(user.Username(), pw)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("RabbitMQ management API at %s (enable it: rabbitmq-plugins enable rabbitmq_management): %v", u.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && !(method == http.MethodDelete && resp.StatusCode == http.StatusNotFound) {
		t.Fatalf("management API %s %s: %s", method, path, resp.Status)
	}
}

// RedisURL returns the Redis URL tests use and a key prefix unique to this
// test; callers must put every key under the prefix. When the test ends
// every key under the prefix is deleted, so that a run does not leave the
// shared Redis holding every test's keys.
func RedisURL(t testing.TB) (redisURL, prefix string) {
	t.Helper()
	redisURL, prefix = env("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"), Name("t")+":"
	t.Cleanup(func() { deletePrefix(redisURL, prefix) })
	return redisURL, prefix
}

// deletePrefix deletes every key under prefix (best effort: a test that
// could not reach Redis has nothing to delete).
func deletePrefix(url, prefix string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for it.Next(ctx) {
		if batch = append(batch, it.Val()); len(batch) == 1000 {
			_ = rdb.Unlink(ctx, batch...).Err()
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		_ = rdb.Unlink(ctx, batch...).Err()
	}
}

// Redis returns a client of the test Redis, checked with a PING, and a key
// prefix unique to this test. When the test ends every key under the prefix
// is deleted and the client closed.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url, prefix := RedisURL(t)
	opts, err := redis.ParseURL(url)
	Must(t, err, "parse TEST_REDIS_URL")
	rdb := redis.NewClient(opts)
	ctx := context.Background()
	t.Cleanup(func() { _ = rdb.Close() })
	Must(t, rdb.Ping(ctx).Err(), "ping Redis at "+opts.Addr)
	return rdb, prefix
}

// RedisCommands is a go-redis hook that records the names of the commands
// a client sends (rdb.AddHook(log)); pipelines are not recorded.
type RedisCommands struct {
	mu    sync.Mutex
	names []string
}

// DialHook implements redis.Hook.
func (l *RedisCommands) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (l *RedisCommands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.mu.Lock()
		l.names = append(l.names, cmd.Name())
		l.mu.Unlock()
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (l *RedisCommands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// Take returns the commands recorded since the last Take.
func (l *RedisCommands) Take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.names
	l.names = nil
	return out
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// Eventually polls cond every 20ms until it returns true or timeout passes.
// It is for state held by another process (a database, a broker), which
// offers no event to wait on; in-process waits use channels.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Must fails the test on err.
func Must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// CloseConnections force-closes every client connection of the vhost in
// amqpURL through the management API (as a broker restart or a network
// cut would) and returns how many it closed.
func CloseConnections(t testing.TB, amqpURL string) int {
	t.Helper()
	return CloseConnectionsOnce(t, amqpURL, "")
}

// apiConnection is a connection as the management API lists it.
type apiConnection struct {
	Name             string `json:"name"`
	UserProvidedName string `json:"user_provided_name"`
}

// CloseConnectionsOnce is CloseConnections that closes nothing (and
// returns 0) until a connection named want (its client-provided name) is
// listed; "" waits for none. The management API lists connections only
// after its statistics interval, so a caller that must cut a given client
// polls this until it returns more than 0.
func CloseConnectionsOnce(t testing.TB, amqpURL, want string) int {
	t.Helper()
	u, err := url.Parse(amqpURL)
	if err != nil {
		t.Fatalf("amqp url: %v", err)
	}
	vhost := strings.TrimPrefix(u.Path, "/")
	api := strings.TrimSuffix(env("TEST_RABBITMQ_API", "http://guest:guest@127.0.0.1:15672"), "/")
	au, err := url.Parse(api)
	if err != nil {
		t.Fatalf("TEST_RABBITMQ_API: %v", err)
	}
	pw, _ := au.User.Password()
	req, err := http.NewRequest(http.MethodGet, au.Scheme+"://"+au.Host+"/api/vhosts/"+url.PathEscape(vhost)+"/connections", nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	req.SetBasicAuth(au.User.Username(), pw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("list connections: %v", err)
	}
	defer resp.Body.Close()
	var conns []apiConnection
	if err := json.NewDecoder(resp.Body).Decode(&conns); err != nil {
		t.Fatalf("decode connections: %v", err)
	}
	if want != "" && !slices.ContainsFunc(conns, func(c apiConnection) bool { return c.UserProvidedName == want }) {
		return 0
	}
	for _, c := range conns {
		mgmt(t, api, http.MethodDelete, "/api/connections/"+url.PathEscape(c.Name), "")
	}
	return len(conns)
}
