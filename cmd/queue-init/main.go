// Command queue-init declares the whole RabbitMQ topology of the enrichment
// service, idempotently, then exits 0. It is safe to run on every deploy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/logging"
	"go.uber.org/zap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "queue-init:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("queue-init", flag.ContinueOnError)
	wait := fs.Duration("wait", 60*time.Second, "how long to keep retrying while the broker is unreachable")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg, err := config.LoadCommon(nil)
	if err != nil {
		return err
	}
	log, err := logging.New(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	topo := broker.NewTopology(cfg.RetryDelays, cfg.DeliveryLimit)
	if err := topo.DeclareWithRetry(ctx, cfg.AMQPURL, *wait, log); err != nil {
		return err
	}
	log.Info("topology declared", zap.Strings("queues", topo.Queues()),
		zap.String("retry_delays", cfg.RetryDelays.String()), zap.Int("delivery_limit", cfg.DeliveryLimit))
	return nil
}
