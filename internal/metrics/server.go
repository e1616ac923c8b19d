package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is a named readiness check. A Degraded check that fails is reported
// but does not make the worker unready.
type Check struct {
	Name     string
	Degraded bool
	Func     func(ctx context.Context) error
}

// ShutdownTimeout bounds the server's graceful shutdown (a scrape in
// progress); it is part of the worker's exit margin (broker.ShutdownMargin).
const ShutdownTimeout = 2 * time.Second

// Server serves /metrics, /healthz (alive) and /readyz.
type Server struct {
	srv    *http.Server
	mux    *http.ServeMux
	ln     net.Listener
	checks []Check
	ready  prometheus.Gauge
}

// NewServer listens on addr (host:port or :port) right away, so a bad
// address fails at start.
func NewServer(addr string, reg *prometheus.Registry, ready prometheus.Gauge, checks ...Check) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	s := &Server{ln: ln, checks: checks, ready: ready, mux: mux}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// EnablePprof serves Go's profiler under /debug/pprof/ (METRICS_PPROF).
// Call it before Run. Off by default: a profile costs CPU while it runs.
func (s *Server) EnablePprof() {
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx is cancelled, then shuts down.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("metrics server shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}

// Refresh runs the readiness checks and updates the ready gauge, so the
// gauge is current even when nothing calls /readyz.
func (s *Server) Refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s.evaluate(ctx)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	ok, body := s.evaluate(ctx)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = fmt.Fprint(w, body)
}

func (s *Server) evaluate(ctx context.Context) (bool, string) {
	ok := true
	body := ""
	for _, c := range s.checks {
		if err := c.Func(ctx); err != nil {
			state := "fail"
			if c.Degraded {
				state = "degraded"
			} else {
				ok = false
			}
			body += fmt.Sprintf("%s: %s: %v\n", c.Name, state, err)
			continue
		}
		body += c.Name + ": ok\n"
	}
	if s.ready != nil {
		if ok {
			s.ready.Set(1)
		} else {
			s.ready.Set(0)
		}
	}
	return ok, body
}
