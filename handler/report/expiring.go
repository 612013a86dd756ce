package report

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// ExpiringCredential is one secret or certificate that expires within the
// window of `scan --expiring`, or has already expired and is still present.
type ExpiringCredential struct {
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
	// Name is the credential's display name (often empty).
	Name  string `json:"credentialName"`
	KeyID string `json:"keyId"`
	// Type is "password" (a client secret) or "certificate"; On is
	// "application" (on the registration) or "servicePrincipal".
	Type string `json:"type"`
	On   string `json:"on"`
	// ObjectID is the id of the object holding the credential.
	ObjectID string    `json:"objectId,omitempty"`
	End      time.Time `json:"endDateTime"`
	// DaysLeft is the whole days from the scan's start until End, rounded
	// down: 0 expires within a day, negative has expired.
	DaysLeft int  `json:"daysLeft"`
	Expired  bool `json:"expired"`
}

// TypeWord names the credential's type for people: "secret" or
// "certificate".
func (c ExpiringCredential) TypeWord() string {
	if c.Type == appwarden.CredentialPassword {
		return "secret"
	}
	return c.Type
}

// Where names the object holding the credential for people: "registration"
// or "service principal".
func (c ExpiringCredential) Where() string {
	switch c.On {
	case appwarden.OnApplication:
		return "registration"
	case appwarden.OnServicePrincipal:
		return "service principal"
	}
	return c.On
}

// Expiry is what `scan --expiring` found: the window, and every expiring
// or expired credential of the judged apps, sorted by expiry. Its counts go
// into the JSON summary ("expiry"); the list is the report's own section
// (in JSON, the top-level "expiring" array).
type Expiry struct {
	// Window is how far ahead the scan looked; WindowText says it for people.
	Window     time.Duration `json:"-"`
	WindowText string        `json:"window"`
	// AsOf is the scan's start, which DaysLeft counts from; Until is AsOf
	// plus the window.
	AsOf        time.Time            `json:"asOf"`
	Until       time.Time            `json:"until"`
	Credentials int                  `json:"credentials"`
	Expired     int                  `json:"expired"`
	List        []ExpiringCredential `json:"-"`
}

// ExpiryList gathers the expiring credentials of a scan's apps as they
// stream through. It keeps only those rows (few, next to the apps), and
// sorts them at the end. A nil *ExpiryList gathers nothing: the scan
// without --expiring.
type ExpiryList struct {
	window time.Duration
	asOf   time.Time
	label  string
	rows   []ExpiringCredential
}

// NewExpiryList starts a list for credentials expiring within window of
// asOf; label is the window for people ("30 days").
func NewExpiryList(window time.Duration, asOf time.Time, label string) *ExpiryList {
	return &ExpiryList{window: window, asOf: asOf.UTC(), label: label}
}

// Add keeps rows.
func (l *ExpiryList) Add(rows ...ExpiringCredential) {
	if l != nil {
		l.rows = append(l.rows, rows...)
	}
}

// Expiry sorts what was gathered, by expiry (then app and keyId, so that
// the order is stable), and returns it; nil for a nil list.
func (l *ExpiryList) Expiry() *Expiry {
	if l == nil {
		return nil
	}
	slices.SortStableFunc(l.rows, func(a, b ExpiringCredential) int {
		return cmp.Or(a.End.Compare(b.End), strings.Compare(a.AppID, b.AppID), strings.Compare(a.KeyID, b.KeyID), strings.Compare(a.On, b.On))
	})
	e := &Expiry{Window: l.window, WindowText: l.label, AsOf: l.asOf, Until: l.asOf.Add(l.window), Credentials: len(l.rows), List: l.rows}
	for _, r := range l.rows {
		if r.Expired {
			e.Expired++
		}
	}
	return e
}

// heading is the expiring section's title.
func (e *Expiry) heading() string {
	return "Credentials expiring within " + e.WindowText + ", or expired"
}

// countLine says how many, for people.
func (e *Expiry) countLine() string {
	return fmt.Sprintf("%s expire within %s of %s (until %s), %d of them already expired", plural(e.Credentials, "credential"),
		e.WindowText, e.AsOf.Format("2006-01-02 15:04 UTC"), e.Until.Format("2006-01-02 15:04 UTC"), e.Expired)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// daysText is a row's days left for people: "12", "0", or "expired".
func daysText(c ExpiringCredential) string {
	if c.Expired {
		return "expired"
	}
	return strconv.Itoa(c.DaysLeft)
}

// ---- CSV ----

// ExpiringCSVHeader is the header of the expiring credentials' CSV file,
// one row per credential (scan writes it next to the findings' CSV, whose
// meaning stays one row per finding).
var ExpiringCSVHeader = []string{"appId", "displayName", "credentialName", "keyId", "type", "on", "endDateTime", "daysLeft", "expired"}

// NewExpiringCSVWriter returns a Writer of the expiring credentials as CSV:
// it ignores the apps and writes the summary's Expiry list at Close (just
// the header when there is none).
func NewExpiringCSVWriter(w io.Writer) Writer { return &expiringCSVWriter{w: csv.NewWriter(w)} }

type expiringCSVWriter struct{ w *csv.Writer }

func (*expiringCSVWriter) App(App) error { return nil }

func (c *expiringCSVWriter) Close(s Summary) error {
	if err := c.w.Write(ExpiringCSVHeader); err != nil {
		return err
	}
	if s.Expiry != nil {
		for _, r := range s.Expiry.List {
			if err := c.w.Write([]string{cell(r.AppID), cell(r.DisplayName), cell(r.Name), cell(r.KeyID), r.Type, r.On,
				r.End.UTC().Format(time.RFC3339), strconv.Itoa(r.DaysLeft), strconv.FormatBool(r.Expired)}); err != nil {
				return err
			}
		}
	}
	c.w.Flush()
	return c.w.Error()
}

// ---- the HTML timeline ----

// timeline is an inline SVG column chart of the expiring credentials over
// the window: one column of those already expired (marked), then one per
// day, week or longer bucket, from today (UTC) to the window's end.
type timeline struct {
	ID, Title     string
	Width, Height int
	AxisY, TodayX int
	Bucket        string // "day", "week" or "N days"
	Cols          []timelineCol
}

type timelineCol struct {
	Label, Label2, Class string
	From, To             string // the bucket's days, inclusive (YYYY-MM-DD); empty for the expired column
	Expired              bool
	Value                int
	X, W, Y, H           int // the bar
	CenterX              int
	ValueY, LabelY       int
	Label2Y              int
}

const (
	tlLeft     = 12
	tlCol      = 56
	tlBar      = 38
	tlPlot     = 150 // the tallest bar
	tlTop      = 22  // room for the value above the tallest bar
	tlBottom   = 40  // two lines of labels
	tlMaxCols  = 26
	tlSoonDays = 7
)

// timelineBucket is the bucket size for a window: days up to two weeks,
// weeks up to 26 weeks, then whole weeks enough to keep 26 columns.
func timelineBucket(window time.Duration) int {
	days := int((window + 24*time.Hour - 1) / (24 * time.Hour))
	switch {
	case days <= 14:
		return 1
	case days <= 7*tlMaxCols:
		return 7
	}
	weeks := (days + 7*tlMaxCols - 1) / (7 * tlMaxCols)
	return 7 * weeks
}

// TimelineBuckets counts e's credentials the way the HTML timeline draws
// them: expired, then per bucket of bucketDays days from AsOf's UTC day
// (the last bucket ends with the window). Exported for tests of the chart.
func TimelineBuckets(e *Expiry) (expired int, bucketDays int, counts []int) {
	bucketDays = timelineBucket(e.Window)
	day0 := e.AsOf.UTC().Truncate(24 * time.Hour)
	size := time.Duration(bucketDays) * 24 * time.Hour
	n := max(1, int((e.Until.Sub(day0)+size-1)/size))
	counts = make([]int, n)
	for _, r := range e.List {
		if r.Expired {
			expired++
			continue
		}
		i := min(n-1, max(0, int(r.End.Sub(day0)/size)))
		counts[i]++
	}
	return expired, bucketDays, counts
}

func newTimeline(e *Expiry) timeline {
	expired, bucketDays, counts := TimelineBuckets(e)
	t := timeline{ID: "chart-expiry", Title: "Credentials expiring by " + bucketName(bucketDays) + ", and expired"}
	t.Bucket = bucketName(bucketDays)
	top := expired
	for _, c := range counts {
		top = max(top, c)
	}
	t.AxisY = tlTop + tlPlot
	col := func(i, v int) timelineCol {
		h := 0
		if top > 0 {
			h = v * tlPlot / top
			if v > 0 {
				h = max(h, 2)
			}
		}
		x := tlLeft + i*tlCol
		return timelineCol{Value: v, X: x + (tlCol-tlBar)/2, W: tlBar, Y: t.AxisY - h, H: h, CenterX: x + tlCol/2,
			ValueY: t.AxisY - h - 5, LabelY: t.AxisY + 15, Label2Y: t.AxisY + 29}
	}
	c := col(0, expired)
	c.Label, c.Label2, c.Class, c.Expired = "expired", "before now", "exp-expired", true
	t.Cols = append(t.Cols, c)
	day0 := e.AsOf.UTC().Truncate(24 * time.Hour)
	last := e.Until.UTC().Truncate(24 * time.Hour)
	for i, v := range counts {
		from := day0.AddDate(0, 0, i*bucketDays)
		to := from.AddDate(0, 0, bucketDays-1)
		if to.After(last) {
			to = last
		}
		c := col(i+1, v)
		c.From, c.To = from.Format(time.DateOnly), to.Format(time.DateOnly)
		c.Label = from.Format("Jan 2")
		if !to.Equal(from) {
			c.Label2 = "to " + to.Format("Jan 2")
		}
		c.Class = "exp-later"
		if from.Before(day0.AddDate(0, 0, tlSoonDays)) {
			c.Class = "exp-soon"
		}
		t.Cols = append(t.Cols, c)
	}
	t.TodayX = tlLeft + tlCol
	t.Width = tlLeft*2 + len(t.Cols)*tlCol
	t.Height = tlTop + tlPlot + tlBottom
	return t
}

func bucketName(days int) string {
	switch days {
	case 1:
		return "day"
	case 7:
		return "week"
	}
	return strconv.Itoa(days) + " days"
}
