package driver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Servers are the shared services, each scenario isolating itself in its
// own vhost, database and Redis key prefix.
type Servers struct {
	Root     string // repository root (bin/, testdata/)
	AMQP     string // amqp://guest:guest@127.0.0.1:5672 (no vhost)
	API      string // RabbitMQ management API, http://guest:guest@127.0.0.1:15672
	PGAdmin  string // a database to connect to for CREATE/DROP DATABASE
	RedisURL string
	WorkDir  string // logs of this run
}

func (s *Servers) bin(name string) string { return filepath.Join(s.Root, "bin", name) }

func randName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// Scenario is one benchmark scenario's isolated resources.
type Scenario struct {
	Name        string
	srv         *Servers
	VHost       string
	AMQPURL     string
	DBName      string
	DBURL       string
	RedisPrefix string
	db          *pgx.Conn
}

// NewScenario creates a vhost (with queue-init's topology), a migrated
// database and a Redis prefix.
func (s *Servers) NewScenario(ctx context.Context, name string) (*Scenario, error) {
	sc := &Scenario{Name: name, srv: s, VHost: randName("bench_" + name), DBName: randName("bench_" + strings.ReplaceAll(name, "-", "_"))}
	sc.RedisPrefix = "bench:" + sc.VHost + ":"
	if err := s.mgmt(ctx, http.MethodPut, "/api/vhosts/"+url.PathEscape(sc.VHost), ""); err != nil {
		return nil, err
	}
	if err := s.mgmt(ctx, http.MethodPut, "/api/permissions/"+url.PathEscape(sc.VHost)+"/guest",
		`{"configure":".*","write":".*","read":".*"}`); err != nil {
		_ = sc.Close()
		return nil, err
	}
	sc.AMQPURL = strings.TrimSuffix(s.AMQP, "/") + "/" + url.PathEscape(sc.VHost)
	admin, err := pgx.Connect(ctx, s.PGAdmin)
	if err != nil {
		_ = sc.Close()
		return nil, fmt.Errorf("connect to Postgres: %w", err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{sc.DBName}.Sanitize())
	_ = admin.Close(ctx)
	if err != nil {
		_ = sc.Close()
		return nil, fmt.Errorf("create database: %w", err)
	}
	u, _ := url.Parse(s.PGAdmin)
	u.Path = "/" + sc.DBName
	sc.DBURL = u.String()
	if err := s.runTool(ctx, "enrichctl", []string{"migrate", "up"}, "DATABASE_URL="+sc.DBURL); err != nil {
		_ = sc.Close()
		return nil, err
	}
	if err := s.runTool(ctx, "queue-init", nil, "AMQP_URL="+sc.AMQPURL); err != nil {
		_ = sc.Close()
		return nil, err
	}
	if sc.db, err = pgx.Connect(ctx, sc.DBURL); err != nil {
		_ = sc.Close()
		return nil, err
	}
	return sc, nil
}

func (s *Servers) runTool(ctx context.Context, name string, args []string, env ...string) error {
	cmd := exec.CommandContext(ctx, s.bin(name), args...)
	cmd.Dir = s.Root
	cmd.Env = append(baseEnv(), env...)
	cmd.Env = append(cmd.Env, "LOG_LEVEL=warn")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// baseEnv is the environment every child starts from: nothing of ours
// (credentials, URLs) leaks in from the caller's.
func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
}

// Truncate empties the tables between runs, then forces a checkpoint so
// that no run pays for writing out the dirty pages and WAL of the runs
// before it: a checkpoint landing in the first latency run after the warm
// runs made its p50 161–196 ms against 27–40 ms for the next runs.
func (sc *Scenario) Truncate(ctx context.Context) error {
	if _, err := sc.db.Exec(ctx, "TRUNCATE tracks, enrichment_status CASCADE"); err != nil {
		return err
	}
	_, err := sc.db.Exec(ctx, "CHECKPOINT")
	return err
}

// Count returns the rows of enrichment_status.
func (sc *Scenario) Count(ctx context.Context) (int, error) {
	var n int
	err := sc.db.QueryRow(ctx, "SELECT count(*) FROM enrichment_status").Scan(&n)
	return n, err
}

// NewPrefix gives the scenario a fresh Redis prefix (a cold cache); the old
// prefix's keys are deleted.
func (sc *Scenario) NewPrefix(ctx context.Context) {
	sc.dropRedis(ctx)
	sc.RedisPrefix = "bench:" + randName(sc.VHost) + ":"
}

func (sc *Scenario) dropRedis(ctx context.Context) {
	opts, err := redis.ParseURL(sc.srv.RedisURL)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, sc.RedisPrefix+"*", 1000).Result()
		if err != nil {
			return
		}
		if len(keys) > 0 {
			_ = rdb.Unlink(ctx, keys...).Err()
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}

// Close removes the vhost, the database and the Redis keys.
func (sc *Scenario) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var errs []string
	if sc.db != nil {
		_ = sc.db.Close(ctx)
	}
	if err := sc.srv.mgmt(ctx, http.MethodDelete, "/api/vhosts/"+url.PathEscape(sc.VHost), ""); err != nil {
		errs = append(errs, err.Error())
	}
	if sc.DBURL != "" || sc.DBName != "" {
		if admin, err := pgx.Connect(ctx, sc.srv.PGAdmin); err == nil {
			if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{sc.DBName}.Sanitize()+" WITH (FORCE)"); err != nil {
				errs = append(errs, err.Error())
			}
			_ = admin.Close(ctx)
		}
	}
	sc.dropRedis(ctx)
	if len(errs) > 0 {
		return fmt.Errorf("clean up %s: %s", sc.Name, strings.Join(errs, "; "))
	}
	return nil
}

func (s *Servers) mgmt(ctx context.Context, method, path, body string) error {
	u, err := url.Parse(s.API)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.Scheme+"://"+u.Host+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		req.SetBasicAuth(u.User.Username(), pw)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("RabbitMQ management API (rabbitmq-plugins enable rabbitmq_management): %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && !(method == http.MethodDelete && resp.StatusCode == http.StatusNotFound) {
		return fmt.Errorf("management API %s %s: %s %s", method, path, resp.Status, b)
	}
	return nil
}

// mgmtGet decodes a GET of the management API.
func (s *Servers) mgmtGet(ctx context.Context, path string) ([]byte, error) {
	u, err := url.Parse(s.API)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Scheme+"://"+u.Host+path, nil)
	if err != nil {
		return nil, err
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		req.SetBasicAuth(u.User.Username(), pw)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
