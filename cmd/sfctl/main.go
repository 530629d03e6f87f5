// Command sfctl is screenfleet's command line.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/screenfleet/screenfleet/internal/sfctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := sfctl.Execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
