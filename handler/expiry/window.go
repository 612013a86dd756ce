package expiry

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// MaxWindow is the longest window ParseWindow accepts: 100 years, far past
// any credential Entra issues, and well inside time.Duration.
const MaxWindow = 36500 * day

// ParseWindow reads the window of `appwarden scan --expiring`: days ("30d")
// or a Go duration ("12h"), positive and at most MaxWindow. Unlike
// ParseDays it refuses a number of days too large for a duration rather
// than let it wrap.
func ParseWindow(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && (days > int(MaxWindow/day) || days < -int(MaxWindow/day)) {
			return 0, fmt.Errorf("%q is longer than %d days", s, MaxWindow/day)
		}
	}
	d, err := ParseDays(s)
	if err != nil {
		return 0, err
	}
	if d > MaxWindow {
		return 0, fmt.Errorf("%q is longer than %d days", s, MaxWindow/day)
	}
	return d, nil
}

// Within is Due with one threshold: the app's credentials that expire
// within window after now, or have expired (managed identities and
// Microsoft first-party apps are skipped, as by Due), sorted by expiry.
func Within(app *appwarden.App, now time.Time, window time.Duration) []appwarden.Expiring {
	return Due(app, now, []time.Duration{window})
}

// DaysLeft is the whole days from now until end, rounded down: 0 for a
// credential that expires within a day, -1 for one that expired within the
// last day, -3 for one that expired between two and three days ago.
func DaysLeft(end, now time.Time) int {
	return int(math.Floor(end.Sub(now).Hours() / 24))
}
