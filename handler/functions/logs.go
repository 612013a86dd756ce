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

// A reply keeps at most maxReplyLines lines, of which at most maxReplyInfo
// below WARN. A sweep of a large tenant logs a few lines per app: kept
// whole, its reply grew with the tenant (7.7 MB, 20,000 lines for 10,000
// apps), and so did the handler's memory. Every line still goes to stdout.
const (
	maxReplyLines = 1000
	maxReplyInfo  = 500
)

type lines struct {
	mu       sync.Mutex
	l        []string
	reserved int
	info     int
	dropped  int
}

// keep reserves a place for a line of that level, or counts it as left out.
func (l *lines) keep(level slog.Level) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reserved >= maxReplyLines || (level < slog.LevelWarn && l.info >= maxReplyInfo) {
		l.dropped++
		return false
	}
	l.reserved++
	if level < slog.LevelWarn {
		l.info++
	}
	return true
}

func (l *lines) add(s string) {
	l.mu.Lock()
	l.l = append(l.l, s)
	l.mu.Unlock()
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string{}, l.l...)
	if l.dropped > 0 {
		out = append(out, fmt.Sprintf("INFO %d more log lines are left out of this reply; every line is in the handler's log (stdout)", l.dropped))
	}
	return out
}

// invocationWide are the attributes every line of an invocation carries.
var invocationWide = map[string]bool{"invocationId": true, "function": true}

func (c *capture) Enabled(ctx context.Context, lvl slog.Level) bool { return c.next.Enabled(ctx, lvl) }

func (c *capture) Handle(ctx context.Context, r slog.Record) error {
	if !c.lines.keep(r.Level) {
		return c.next.Handle(ctx, r)
	}
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
