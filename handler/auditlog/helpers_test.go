package auditlog_test

import (
	"regexp"

	"github.com/appwarden/appwarden/handler/appwarden/appwardentest"
)

// The decoders' shared test helpers.
var (
	fixture         = appwardentest.Fixture
	decodeJSON      = appwardentest.DecodeJSON
	fixtureObject   = appwardentest.FixtureObject
	mustTime        = appwardentest.MustTime
	checkSignal     = appwardentest.CheckSignal
	errorTexts      = appwardentest.ErrorTexts
	addFixtureSeeds = appwardentest.AddFixtureSeeds
)

// testdata is the shared fixture folder (a copy of shared/fixtures).
const testdata = "../../tests/testdata"

var guidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// isGUID reports whether s is a GUID in lower case, written independently of
// the decoder's own check.
func isGUID(s string) bool { return guidRe.MatchString(s) }
