// Command enrichment-worker consumes enrichment tasks from RabbitMQ, enriches
// them and writes the results to Postgres. Many copies run side by side.
//
// Usage:
//
//	enrichment-worker              run (configured by environment, see docs/configuration.md)
//	enrichment-worker healthcheck  exit 0 if the local worker's /healthz answers 200
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/logging"
	"github.com/djmeta/enrichment/internal/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "enrichment-worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx)
	}
	if len(args) > 0 {
		return fmt.Errorf("unknown argument %q (usage: enrichment-worker [healthcheck])", args[0])
	}
	cfg, err := config.LoadWorker(nil)
	if err != nil {
		return err
	}
	log, err := logging.New(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return worker.Run(ctx, cfg, log, worker.AppOptions{})
}

// healthcheck asks the local worker's /healthz, for container healthchecks
// in images without a shell or curl.
func healthcheck(ctx context.Context) error {
	addr := os.Getenv("METRICS_ADDR")
	if addr == "" {
		addr = config.MetricsAddrDefault
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %s", resp.Status)
	}
	return nil
}
