package report

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress shows a scan's progress on stderr. On a terminal it redraws one
// line in place, a bar when the number of objects is known (a snapshot), a
// counter when it is not (a live tenant, whose size delta query does not
// tell); elsewhere (a pipe, a CI log) it prints a plain line every Every
// apps, so logs stay readable.
type Progress struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	total  int
	every  int
	read   int
	judged int
	start  time.Time
	drawn  time.Time
	done   bool
	now    func() time.Time
}

// ProgressEvery is how many apps a plain progress line stands for.
const ProgressEvery = 500

// NewProgress starts progress output to w. tty selects the redrawn bar;
// total is the number of objects the feeds will deliver, or 0 if unknown.
func NewProgress(w io.Writer, tty bool, total int) *Progress {
	p := &Progress{w: w, tty: tty, total: total, every: ProgressEvery, now: time.Now}
	p.start = p.now()
	if tty {
		p.mu.Lock()
		p.draw()
		p.mu.Unlock()
	}
	return p
}

// Read counts objects read from the feeds (judged or skipped).
func (p *Progress) Read(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.read += n
	p.maybeDraw()
}

// Judged counts one app judged.
func (p *Progress) Judged() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.judged++
	if !p.tty && p.judged%p.every == 0 {
		fmt.Fprintf(p.w, "scanned %d apps…\n", p.judged)
		return
	}
	p.maybeDraw()
}

// Finish draws the last state and ends the line.
func (p *Progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
	if p.tty {
		p.draw()
		fmt.Fprint(p.w, "\n")
		return
	}
	fmt.Fprintf(p.w, "scanned %d apps (%d objects read) in %s\n", p.judged, p.read, p.now().Sub(p.start).Round(100*time.Millisecond))
}

func (p *Progress) maybeDraw() {
	if !p.tty || p.done {
		return
	}
	if now := p.now(); now.Sub(p.drawn) >= 100*time.Millisecond {
		p.draw()
	}
}

// barWidth is the bar's width in cells.
const barWidth = 30

func (p *Progress) draw() {
	now := p.now()
	p.drawn = now
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.judged) / elapsed
	}
	var b strings.Builder
	b.WriteString("\rscanning ")
	if p.total > 0 {
		frac := min(1, float64(p.read)/float64(p.total))
		full := int(frac * barWidth)
		b.WriteString("[")
		b.WriteString(strings.Repeat("=", full))
		if full < barWidth {
			b.WriteString(">")
			b.WriteString(strings.Repeat(" ", barWidth-full-1))
		}
		fmt.Fprintf(&b, "] %3d%%  %d/%d objects", int(frac*100), p.read, p.total)
	} else {
		spin := `|/-\`[int(elapsed*4)%4]
		fmt.Fprintf(&b, "%c %d objects", spin, p.read)
	}
	fmt.Fprintf(&b, "  %d apps judged  %.0f/s\x1b[K", p.judged, rate)
	fmt.Fprint(p.w, b.String())
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f.Fd())
}
