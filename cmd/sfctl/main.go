// Command sfctl is screenfleet's command line.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/screenfleet/screenfleet/internal/ocr"
	"github.com/screenfleet/screenfleet/internal/sfctl"
)

func main() {
	// sfctl dev and demo run Tesseract in this process (see ocr.ReexecWithThreadLimit).
	if err := ocr.ReexecWithThreadLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "sfctl:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := sfctl.Execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
