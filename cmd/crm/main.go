package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// defaultMemoryLimit is the Go heap's soft limit when GOMEMLIMIT is not set. A
// full board of 10,000 leads is about 3 MB of JSON and as much again in leads;
// with several such requests at once the garbage collector's default pacing
// (GOGC=100: collect when the heap doubles) let RSS reach 176 MB. The soft limit
// makes it collect sooner as the heap nears 80 MiB; it is not a cap, the heap
// may exceed it when that much is live. Set GOMEMLIMIT to change it.
const defaultMemoryLimit = 80 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "crm:", err)
		os.Exit(1)
	}
}
