package metrics_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/djmeta/enrichment/internal/metrics"
)

// TestPprofOnlyWhenEnabled: /debug/pprof/ is served only after EnablePprof
// (METRICS_PPROF), beside /metrics.
func TestPprofOnlyWhenEnabled(t *testing.T) {
	for _, enable := range []bool{false, true} {
		reg := prometheus.NewRegistry()
		ready := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ready"})
		srv, err := metrics.NewServer("127.0.0.1:0", reg, ready)
		if err != nil {
			t.Fatal(err)
		}
		if enable {
			srv.EnablePprof()
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		for path, want := range map[string]int{
			"/metrics":      http.StatusOK,
			"/debug/pprof/": map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[enable],
		} {
			resp, err := http.Get("http://" + srv.Addr() + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("pprof enabled %v: GET %s = %d, want %d", enable, path, resp.StatusCode, want)
			}
		}
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}
}
