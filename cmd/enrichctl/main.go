// Command enrichctl is the operator CLI of the enrichment service: schema
// migrations, publishing tasks, and run summaries. See `enrichctl help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/djmeta/enrichment/internal/enrichctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "enrichctl:", err)
		if errors.Is(err, enrichctl.ErrUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	return enrichctl.Main(ctx, os.Args[1:], enrichctl.Env{
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		Interactive: term.IsTerminal(int(os.Stderr.Fd())),
	})
}
