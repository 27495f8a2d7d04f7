package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/mlflow-gate/mlflow-gate/internal/reqid"
)

// Log formats (MLFLOW_GATE_LOG_FORMAT): auto is text for a person at a
// terminal and JSON lines for everything else (a file, a pipe, a log
// collector).
const (
	logFormatAuto = "auto"
	logFormatText = "text"
	logFormatJSON = "json"
)

// newLogger writes records to w at level, as text or JSON lines (format
// auto, text or json); every record logged with a request's context carries
// its request_id.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler
	if format == logFormatText || (format != logFormatJSON && isTerminal(w)) {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(requestIDHandler{h})
}

// isTerminal reports whether stream (a reader or a writer) is a character
// device, as a terminal is. (So is /dev/null, where a log's format does not
// matter and a question finds no answer.) Anything that is not an *os.File,
// such as a test's buffer, is not a terminal.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// requestIDHandler adds the request id found in a record's context, unless the
// record names it already (packages that log without this handler, such as
// proxy, add it themselves).
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := reqid.From(ctx); id != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
