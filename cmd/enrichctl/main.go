// Command enrichctl is the operator CLI of the enrichment service: schema
// migrations, publishing tasks, backfills, status and the dead-letter
// queue. See `enrichctl --help`; the logic is in internal/enrichctl.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/djmeta/enrichment/internal/enrichctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := enrichctl.Run(ctx, os.Args[1:], enrichctl.StdEnv())
	stop()
	os.Exit(code)
}
