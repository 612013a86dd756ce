package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// Writer writes one report. App is called for every app in scan order;
// Close writes the summary (and, for the formats that put it first, the
// apps after it) and must be called once, also after a failed scan.
type Writer interface {
	App(App) error
	Close(Summary) error
}

// Options tune a Writer.
type Options struct {
	// SummaryOnly makes the text format print the summary and no apps (what
	// the terminal shows when the reports go to files).
	SummaryOnly bool
}

// NewWriter returns a writer of format f to w.
func NewWriter(f Format, w io.Writer, opts Options) (Writer, error) {
	switch f {
	case Text:
		return &textWriter{w: w, summaryOnly: opts.SummaryOnly}, nil
	case Markdown:
		return &markdownWriter{w: w}, nil
	case JSON:
		return &jsonWriter{w: w}, nil
	case CSV:
		return newCSVWriter(w), nil
	case HTML:
		return &htmlWriter{w: w}, nil
	}
	return nil, fmt.Errorf("report: unknown format %q", f)
}

// spool keeps what a writer must write after the summary in a temporary
// file, so that memory stays flat however many apps stream through.
type spool struct {
	f  *os.File
	bw *bufio.Writer
}

func (s *spool) writer() (*bufio.Writer, error) {
	if s.bw != nil {
		return s.bw, nil
	}
	f, err := os.CreateTemp("", "appwarden-report-*")
	if err != nil {
		return nil, fmt.Errorf("report: temporary file: %w", err)
	}
	s.f, s.bw = f, bufio.NewWriterSize(f, 64<<10)
	return s.bw, nil
}

// copyTo writes what was spooled to w and removes the file.
func (s *spool) copyTo(w io.Writer) error {
	if s.f == nil {
		return nil
	}
	defer s.discard()
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("report: temporary file: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("report: temporary file: %w", err)
	}
	_, err := io.Copy(w, s.f)
	return err
}

func (s *spool) discard() {
	if s.f != nil {
		name := s.f.Name()
		_ = s.f.Close()
		_ = os.Remove(name)
		s.f, s.bw = nil, nil
	}
}

// errWriter remembers the first write error, so a page of Fprintf calls
// needs one check.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, a ...any) { fmt.Fprintf(e, format, a...) }

// Clean makes text from Graph safe to print on a terminal (see clean).
func Clean(s string) string { return clean(s) }

// clean makes text from Graph (display names, URIs: anyone can register an
// app) safe for a terminal: control characters, including the escape that
// starts ANSI sequences, become U+FFFD.
func clean(s string) string {
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}
