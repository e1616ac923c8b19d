package driver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/djmeta/enrichment/bench/peers"
)

// Proc is a child process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	Log  string
	done chan struct{}
	err  error
}

func startProc(ctx context.Context, name, path string, args, env []string, dir, logPath string, stdout io.Writer) (*Proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stderr = lf
	if stdout != nil {
		cmd.Stdout = stdout
	} else {
		cmd.Stdout = lf
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits (SIGKILL after timeout).
func (p *Proc) Stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s", p.Name, timeout)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitHTTP(ctx context.Context, url string, timeout time.Duration, p *Proc) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited at start; see %s", p.Name, p.Log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s after %s; see %s", p.Name, url, timeout, p.Log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Sim is a provider-sim process.
type Sim struct {
	*Proc
	URL string
}

// startSim runs bin/provider-sim with the given latency and every rate
// limit off (the workers' fleet limits are raised too): the benchmark
// measures the pipeline, not the providers' quotas.
func (s *Servers) startSim(ctx context.Context, latency, jitter time.Duration) (*Sim, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"-addr", addr, "-catalog", "testdata/catalog/catalog.json",
		"-latency", latency.String(), "-latency-jitter", jitter.String(),
		"-spotify-rate-limit", "0", "-musicbrainz-rate", "0", "-discogs-rate-limit", "0", "-seed", "1"}
	p, err := startProc(ctx, "provider-sim", s.bin("provider-sim"), args, baseEnv(), s.Root,
		filepath.Join(s.WorkDir, fmt.Sprintf("provider-sim-%d.log", port)), nil)
	if err != nil {
		return nil, err
	}
	sim := &Sim{Proc: p, URL: "http://" + addr}
	if err := waitHTTP(ctx, sim.URL+"/healthz", 10*time.Second, p); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, err
	}
	return sim, nil
}

// SimStats are provider-sim's request counters.
type SimStats map[string]int64

// Calls is the provider requests (the token endpoint excluded).
func (s SimStats) Calls() int64 { return s["spotify"] + s["musicbrainz"] + s["discogs"] }

func (sim *Sim) Stats(ctx context.Context) (SimStats, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sim.URL+"/_stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Providers map[string]struct {
			RequestsTotal int64 `json:"requests_total"`
		} `json:"providers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	out := SimStats{}
	for k, v := range body.Providers {
		out[k] = v.RequestsTotal
	}
	return out, nil
}

func (sim *Sim) Reset(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sim.URL+"/_stats/reset", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Worker is an enrichment-worker process.
type Worker struct {
	*Proc
	Metrics string
}

// workerEnv is a worker's environment for scenario sc and provider-sim sim
// (nil: no providers), with overrides last.
func workerEnv(sc *Scenario, sim *Sim, port int, overrides map[string]string) []string {
	e := map[string]string{
		"AMQP_URL":     sc.AMQPURL,
		"DATABASE_URL": sc.DBURL,
		"REDIS_URL":    sc.srv.RedisURL,
		"METRICS_ADDR": fmt.Sprintf("127.0.0.1:%d", port),
		"CACHE_PREFIX": sc.RedisPrefix,
		"LOG_LEVEL":    "info",
		"LOG_FORMAT":   "json",
	}
	if sim != nil {
		for k, v := range map[string]string{
			"SPOTIFY_CLIENT_ID": "bench", "SPOTIFY_CLIENT_SECRET": "bench", "DISCOGS_TOKEN": "bench",
			"SPOTIFY_API_URL":     sim.URL + "/spotify/v1",
			"SPOTIFY_TOKEN_URL":   sim.URL + "/spotify/api/token",
			"MUSICBRAINZ_API_URL": sim.URL + "/musicbrainz/ws/2",
			"DISCOGS_API_URL":     sim.URL + "/discogs",
			"SPOTIFY_RATE":        "10000", "MUSICBRAINZ_RATE": "10000", "DISCOGS_RATE": "10000",
		} {
			e[k] = v
		}
	} else {
		e["PROVIDERS"] = "none"
	}
	for k, v := range overrides {
		e[k] = v
	}
	env := baseEnv()
	for k, v := range e {
		env = append(env, k+"="+v)
	}
	return env
}

// startWorkers starts n workers and waits until each is ready.
func (s *Servers) startWorkers(ctx context.Context, sc *Scenario, sim *Sim, n int, overrides map[string]string, tag string) ([]*Worker, error) {
	var ws []*Worker
	stopAll := func() {
		for _, w := range ws {
			_ = w.Stop(30 * time.Second)
		}
	}
	for i := range n {
		port, err := freePort()
		if err != nil {
			stopAll()
			return nil, err
		}
		p, err := startProc(ctx, fmt.Sprintf("enrichment-worker %d", i), s.bin("enrichment-worker"), nil,
			workerEnv(sc, sim, port, overrides), s.Root,
			filepath.Join(s.WorkDir, fmt.Sprintf("%s-%s-worker%d.log", sc.Name, tag, i)), nil)
		if err != nil {
			stopAll()
			return nil, err
		}
		ws = append(ws, &Worker{Proc: p, Metrics: fmt.Sprintf("http://127.0.0.1:%d", port)})
	}
	for _, w := range ws {
		if err := waitHTTP(ctx, w.Metrics+"/readyz", 30*time.Second, w.Proc); err != nil {
			stopAll()
			return nil, err
		}
	}
	return ws, nil
}

func stopWorkers(ws []*Worker) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			if err := w.Stop(40 * time.Second); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", w.Name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Scrape reads the worker's metrics we use: values by full series name
// (name{labels}).
func (w *Worker) Scrape(ctx context.Context) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.Metrics+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "enrichment_tasks_total") && !strings.HasPrefix(line, "enrichment_last_task_completed") &&
			!strings.HasPrefix(line, "go_memstats_heap_alloc_bytes ") && !strings.HasPrefix(line, "go_goroutines ") &&
			!strings.HasPrefix(line, "go_memstats_heap_inuse_bytes ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// settled counts the tasks a worker finished for good (retries excluded).
func settled(m map[string]float64) (done, retried float64) {
	for k, v := range m {
		if !strings.HasPrefix(k, "enrichment_tasks_total{") {
			continue
		}
		if strings.Contains(k, `"retried"`) {
			retried += v
		} else {
			done += v
		}
	}
	return done, retried
}

// startPeer runs `bench peer` as a child process and waits for "ready".
type peerProc struct {
	*Proc
	lines chan string
}

func (s *Servers) startPeer(ctx context.Context, sc *Scenario, kind string, expect int, extra ...string) (*peerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	args := append([]string{"peer", "-kind", kind, "-amqp", sc.AMQPURL, "-db", sc.DBURL, "-expect", strconv.Itoa(expect)}, extra...)
	p, err := startProc(ctx, "peer "+kind, self, args, baseEnv(), s.Root,
		filepath.Join(s.WorkDir, fmt.Sprintf("%s-peer.log", sc.Name)), pw)
	if err != nil {
		return nil, err
	}
	pp := &peerProc{Proc: p, lines: make(chan string, 4)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			pp.lines <- sc.Text()
		}
		close(pp.lines)
	}()
	go func() { <-p.done; pw.Close() }()
	select {
	case l, ok := <-pp.lines:
		if !ok || l != "ready" {
			_ = p.Stop(5 * time.Second)
			return nil, fmt.Errorf("peer %s did not start (%q); see %s", kind, l, p.Log)
		}
	case <-time.After(30 * time.Second):
		_ = p.Stop(5 * time.Second)
		return nil, fmt.Errorf("peer %s not ready; see %s", kind, p.Log)
	}
	return pp, nil
}

// wait returns the times of the first and last commits and the peer's RSS.
func (pp *peerProc) wait(timeout time.Duration) (first, last time.Time, rssKiB int64, err error) {
	select {
	case l, ok := <-pp.lines:
		if !ok {
			<-pp.done
			return first, last, 0, fmt.Errorf("%s exited: %v; see %s", pp.Name, pp.err, pp.Log)
		}
		var ns, rss, fns int64
		if _, err := fmt.Sscanf(l, "done %d %d %d", &ns, &rss, &fns); err != nil {
			return first, last, 0, fmt.Errorf("%s: unexpected %q", pp.Name, l)
		}
		select {
		case <-pp.done:
		case <-time.After(10 * time.Second):
			_ = pp.Stop(5 * time.Second)
		}
		return time.Unix(0, fns), time.Unix(0, ns), rss, nil
	case <-time.After(timeout):
		_ = pp.Stop(5 * time.Second)
		return first, last, 0, fmt.Errorf("%s: timed out after %s; see %s", pp.Name, timeout, pp.Log)
	}
}

var rssKiB = peers.RSSKiB
