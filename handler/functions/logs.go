package functions

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// capture is a slog.Handler that passes records on and also keeps a
// human-readable line for each, for the reply's Logs (the host forwards those
// to Application Insights as the invocation's log).
type capture struct {
	next  slog.Handler
	lines *lines
	attrs []slog.Attr
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(s string) {
	l.mu.Lock()
	l.l = append(l.l, s)
	l.mu.Unlock()
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string{}, l.l...)
}

// invocationWide are the attributes every line of an invocation carries.
var invocationWide = map[string]bool{"invocationId": true, "function": true}

func (c *capture) Enabled(ctx context.Context, lvl slog.Level) bool { return c.next.Enabled(ctx, lvl) }

func (c *capture) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Resolve())
		return true
	}
	// The invocation-wide attributes are already known to the host; keep
	// the line short and list the narrower ones (the signal's kind, appId
	// and dedupe key) and the record's own.
	for _, a := range c.attrs {
		if !invocationWide[a.Key] {
			write(a)
		}
	}
	r.Attrs(write)
	c.lines.add(b.String())
	return c.next.Handle(ctx, r)
}

func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	return &capture{next: c.next.WithAttrs(as), lines: c.lines, attrs: append(append([]slog.Attr{}, c.attrs...), as...)}
}

func (c *capture) WithGroup(name string) slog.Handler {
	return &capture{next: c.next.WithGroup(name), lines: c.lines, attrs: c.attrs}
}
