package eventhub_test

import "github.com/appwarden/appwarden/handler/appwarden/appwardentest"

// The decoders' shared test helpers.
var (
	fixture         = appwardentest.Fixture
	decodeJSON      = appwardentest.DecodeJSON
	fixtureObject   = appwardentest.FixtureObject
	binding         = appwardentest.Binding
	mustTime        = appwardentest.MustTime
	checkSignal     = appwardentest.CheckSignal
	errorTexts      = appwardentest.ErrorTexts
	addFixtureSeeds = appwardentest.AddFixtureSeeds
)
