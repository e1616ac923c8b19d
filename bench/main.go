// Command bench measures the enrichment service against the broker's ceiling
// and against the consumers a Go team would write instead (docs/BENCHMARKS.md).
//
//	go run . run  [-quick] [-runs 3] ...   every scenario, then docs/BENCHMARKS.md and docs/bench/scaling.png
//	go run . soak [-duration 10m]          steady load; heap and RSS every 10 s; prints the slopes
//	go run . report                        rewrite the report and chart from docs/bench/results.json
//	go run . peer -kind K ...              one peer consumer (started by run as a child process)
//
// It drives the product's binaries from bin/ (make build) as processes and
// runs the peers as child processes of itself. Run it from bench/ or pass
// -root.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/djmeta/enrichment/bench/driver"
	"github.com/djmeta/enrichment/bench/peers"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench run|soak|report|peer [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "run":
		err = driver.Run(ctx, os.Args[2:])
	case "report":
		err = driver.Report(os.Args[2:])
	case "soak":
		err = driver.Soak(ctx, os.Args[2:])
	case "peer":
		err = peers.Main(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want run, soak, report or peer", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
