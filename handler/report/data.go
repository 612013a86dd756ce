package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// ---- JSON ----

// jsonWriter writes one document, {"summary": {...}, "apps": [...]}, the
// summary first; every judged app is in apps, also those without findings.
// With an Expiry (scan --expiring) the document ends with "expiring": [...],
// the expiring and expired credentials sorted by expiry.
type jsonWriter struct {
	w  io.Writer
	sp spool
	n  int
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func (j *jsonWriter) App(a App) error {
	if a.Deleted {
		return nil
	}
	if a.Findings == nil {
		a.Findings = []appwarden.Finding{}
	}
	if a.Actions == nil {
		a.Actions = []Action{}
	}
	raw, err := marshal(a)
	if err != nil {
		return err
	}
	bw, err := j.sp.writer()
	if err != nil {
		return err
	}
	if j.n > 0 {
		bw.WriteString(",")
	}
	j.n++
	bw.WriteString("\n")
	_, err = bw.Write(raw)
	return err
}

func (j *jsonWriter) Close(s Summary) error {
	w := &errWriter{w: j.w}
	sum, err := marshal(s)
	if err != nil {
		j.sp.discard()
		return err
	}
	w.printf("{\"summary\": %s,\n\"apps\": [", sum)
	if w.err == nil {
		w.err = j.sp.copyTo(w.w)
	}
	j.sp.discard()
	w.printf("\n]")
	if s.Expiry != nil {
		w.printf(",\n\"expiring\": [")
		for i, r := range s.Expiry.List {
			raw, err := marshal(r)
			if err != nil {
				return err
			}
			if i > 0 {
				w.printf(",")
			}
			w.printf("\n%s", raw)
		}
		w.printf("\n]")
	}
	w.printf("}\n")
	return w.err
}

// ---- CSV ----

// CSVHeader is the CSV format's header: one row per finding.
var CSVHeader = []string{"appId", "displayName", "ruleId", "severity", "evidence"}

type csvWriter struct {
	w      *csv.Writer
	header bool
}

func newCSVWriter(w io.Writer) *csvWriter { return &csvWriter{w: csv.NewWriter(w)} }

// cell keeps a value from being read as a formula by a spreadsheet: display
// names are chosen by whoever registers an app.
func cell(s string) string {
	s = clean(s)
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (c *csvWriter) writeHeader() error {
	if c.header {
		return nil
	}
	c.header = true
	return c.w.Write(CSVHeader)
}

func (c *csvWriter) App(a App) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	for _, f := range a.Findings {
		if err := c.w.Write([]string{cell(a.AppID), cell(a.DisplayName), cell(f.RuleID), f.Severity.String(), cell(EvidenceText(f.Evidence))}); err != nil {
			return err
		}
	}
	return nil
}

func (c *csvWriter) Close(Summary) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}
