package store

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// Records as AppWarden writes them (an undo record, a facts record, a
// signal) and data no codec should touch.
var packSamples = []string{
	`{"kind":"disableServicePrincipal","appId":"fa02d9fa-a2a0-48ad-a0b5-f3485da7557b","target":"3ec92790-2b90-4a22-9e86-31c81ec503cf","before":{"accountEnabled":true},"dryRun":false,"at":"2026-12-04T21:21:25.999064077Z","fingerprint":"ef71b087adf10b8b","status":"done","leaseUntil":"0001-01-01T00:00:00Z","undo":{"method":"PATCH","path":"/servicePrincipals/3ec92790-2b90-4a22-9e86-31c81ec503cf","body":{"accountEnabled":true}},"note":"service principal disabled in this tenant: no new tokens","attempts":1}`,
	`{"at":"2026-12-04T21:21:22.256450128Z","facts":[{"kind":"audience","name":"AzureADMyOrg"},{"kind":"owner","id":"30a6c29d-de7c-4830-815f-9b3bb366e975","name":"dev.one@contoso.example","state":"user"},{"kind":"permission","id":"9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8","name":"RoleManagement.ReadWrite.Directory","state":"granted","detail":"Microsoft Graph application","since":"2026-12-04T21:21:19Z"}]}`,
	`{"kind":"AppCreated","appId":"fa02d9fa-a2a0-48ad-a0b5-f3485da7557b","time":"2026-12-04T21:21:21.6871Z","source":"eventhub","dedupeKey":"audit:Directory_649948a3-08b0-4d50-af38-507f7a73c920"}`,
	`{"at":"2026-12-04T21:21:21.000000000Z","b":"2026-12-04T21:21:21.10Z","c":"2026-12-04T21:21:21.Z","d":"2026-12-04T21:21:21.1234567891Z","e":"2026-13-45T21:21:21Z"}`,
	`{"id":"FA02D9FA-A2A0-48AD-A0B5-F3485DA7557B","x":"fa02d9fa-a2a0-48ad-a0b5-f3485da7557","y":"fa02d9fa-a2a0-48ad-a0b5-f3485da7557bz"}`,
	"{\n  \"indented\": true\n}",
	"\x01not json", "\x02neither", `"x"`, `1`, `{"kind":"`, `","id":"`, "",
	`{"name":"Ünïcode ✓","note":"\u0001 escaped"}`,
}

func TestPackRoundTrips(t *testing.T) {
	for _, s := range packSamples {
		p := pack([]byte(s))
		got, err := unpack(p)
		if err != nil || !bytes.Equal(got, []byte(s)) {
			t.Errorf("unpack(pack(%q)) = %q, %v", s, got, err)
		}
	}
	// Random bytes, and random splices of the samples' pieces.
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var b []byte
		for range r.IntN(8) {
			s := packSamples[r.IntN(len(packSamples))]
			i := r.IntN(len(s) + 1)
			b = append(b, s[i:min(len(s), i+r.IntN(80))]...)
			if r.IntN(4) == 0 {
				b = append(b, byte(r.IntN(256)))
			}
		}
		got, err := unpack(pack(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("unpack(pack(%q)) = %q, %v", b, got, err)
		}
	}
}

func TestPackTimes(t *testing.T) {
	for _, at := range []time.Time{{}, time.Date(2026, 12, 4, 21, 21, 22, 256450128, time.UTC), time.Date(1999, 1, 1, 0, 0, 0, 500_000_000, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 1, time.UTC)} {
		raw, _ := json.Marshal(map[string]time.Time{"at": at})
		p := pack(raw)
		if len(p) >= len(raw) {
			t.Errorf("%s was not packed: %d bytes from %d", raw, len(p), len(raw))
		}
		got, _ := unpack(p)
		if !bytes.Equal(got, raw) {
			t.Errorf("unpack(pack(%s)) = %s", raw, got)
		}
	}
}

// The undo record of a contained app, the record memory mode keeps most
// of, packs to well under half.
func TestPackShrinksAnUndoRecord(t *testing.T) {
	raw := packSamples[0]
	if p := pack([]byte(raw)); len(p) > len(raw)*2/5 {
		t.Errorf("an undo record packs to %d bytes of %d; want at most 40%%", len(p), len(raw))
	}
}

func FuzzPack(f *testing.F) {
	for _, s := range packSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := unpack(pack(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("unpack(pack(%q)) = %q, %v", b, got, err)
		}
	})
}
