// Package logging builds the zerolog loggers every screenfleet process passes
// to its components: JSON by default, console form on a terminal.
package logging

import (
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Formats a logger can write.
const (
	FormatAuto    = "auto"
	FormatJSON    = "json"
	FormatConsole = "console"
)

// New returns a logger for one component writing to stderr. format is auto,
// json or console; auto picks console on a terminal. level is a zerolog level
// name; an unknown one means info.
func New(component, format, level string) zerolog.Logger {
	return NewTo(os.Stderr, component, format, level)
}

// NewTo is New writing to w.
func NewTo(w io.Writer, component, format, level string) zerolog.Logger {
	if format == FormatConsole || (format != FormatJSON && isTerminal(w)) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("component", component).Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
