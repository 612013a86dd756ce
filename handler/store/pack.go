package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
)

// The in-memory store keeps each record's data packed: the JSON the caller
// gave, with the substrings every record repeats written shorter. Most of
// a record is lower-case GUIDs (36 characters, 16 bytes of information),
// RFC 3339 times (up to 30 characters) and field names, and 4,000 contained
// apps keep two records each for as long as the process lives (the undo
// record and the facts), so this is most of what memory mode costs.
//
// Packing is lossless and checked: a record is packed only when unpacking
// gives back exactly its bytes, else it is kept as given. The form never
// leaves the process (the store hands out and Table Storage keeps the JSON
// itself), so it may change with any release.
//
// Packed data starts with tagPacked; data that the codec cannot hold (it
// has control bytes, which encoding/json never writes) is kept verbatim,
// behind tagVerbatim if it would otherwise read as packed.
const (
	tagPacked   = 0x01
	tagVerbatim = 0x02
	// In packed data, after the tag:
	opGUID  = 0x03 // 16 bytes: a lower-case canonical GUID
	opTime  = 0x04 // digits of the fraction (1 byte), seconds (8), nanoseconds (4): an RFC 3339 UTC time
	opToken = 0x05 // index (1 byte) into tokens
)

// tokens are substrings the records of AppWarden repeat: field names and
// common values (see handler/trail, handler/remediate, handler/baseline,
// handler/notify). Order is the index; only append, or change freely
// (packed data never outlives the process).
var tokens = []string{
	`{"kind":"`, `","id":"`, `","name":"`, `","state":"`, `","detail":"`, `","since":"`, `","on":"`,
	`{"at":"`, `","facts":[`, `],"read":[`, `"partial":true`,
	`"permission"`, `"credential"`, `"federatedCredential"`, `"owner"`, `"directoryRole"`, `"redirectUri"`, `"audience"`,
	`"requested"`, `"granted"`, `"consented"`, `"password"`, `"certificate"`, `"application"`, `"servicePrincipal"`,
	`"user"`, `Microsoft Graph`, ` application"`, ` delegated"`, `"AzureADMyOrg"`, `"AzureADMultipleOrgs"`,
	`disableServicePrincipal`, `deactivateApplication`, `removePasswords`, `removeCriticalAppRoleAssignments`,
	`revokeOAuth2Grants`, `markQuarantined`, `removeCredentials`, `removeAppRoleGrants`,
	`","appId":"`, `","target":"`, `","before":`, `{"accountEnabled":true}`, `{"accountEnabled":false}`,
	`,"dryRun":false`, `,"dryRun":true`, `,"at":"`, `","fingerprint":"`, `","status":"`, `"done"`, `"claimed"`,
	`"released"`, `"wouldDo"`, `,"leaseUntil":"0001-01-01T00:00:00Z"`, `,"leaseUntil":"`, `,"undo":{"method":"`,
	`"PATCH"`, `"POST"`, `"DELETE"`, `","path":"`, `/servicePrincipals/`, `/applications/`, `","body":`,
	`,"note":"`, `,"attempts":`, `,"owner":"`, `,"error":"`, `,"keys":`,
	`service principal disabled in this tenant: no new tokens`,
	`{"signal":"`, `","signalKind":"`, `","app":{"appId":"`, `","displayName":"`, `","application":{"id":"`,
	`","createdDateTime":"`, `","signInAudience":"`, `","requiredResourceAccess":[`, `{"resourceAppId":"`,
	`","resourceAccess":[`, `","type":"`, `"Role"`, `"Scope"`, `,"isDisabled":false`, `,"isDisabled":true`,
	`"servicePrincipals":[`, `,"accountEnabled":true`, `,"accountEnabled":false`, `","appOwnerOrganizationId":"`,
	`","servicePrincipalType":"`, `"Application"`, `"appRoleAssignments":[`, `","appRoleId":"`, `","principalId":"`,
	`","resourceId":"`, `","resourceDisplayName":"`, `"owners":[`, `","upn":"`, `","mail":"`, `"creator":{"userId":"`,
	`"permissions":[`, `","resourceName":"`, `","privilege":`, `,"requested":true`, `,"requested":false`,
	`,"granted":true`, `,"granted":false`, `,"grantIds":[`, `"change":{"kind":"`, `","activity":"`,
	`"initiator":{"userId":"`, `","source":"`, `"eventhub"`, `"eventgrid"`, `"sweep"`, `"auditpull"`, `,"new":true`,
	`,"added":[`, `,"resolvedAt":"`, `"decision":{"appId":"`, `"findings":[{"ruleId":"`, `","title":"`,
	`","severity":"`, `"critical"`, `"high"`, `"medium"`, `"low"`, `"evidence":[`, `","remedy":"`, `"actions":[`,
	`"notify"`, `","mode":"`, `"enforce"`, `"audit"`, `","explanation":"`, `","policyVersion":"`, `appwarden.io/v1@sha256:`,
	`"outcome":{"actions":[`, `","objectId":"`, `","objectType":"`, `","time":"`, `","dedupeKey":"`,
	`"AppCreated"`, `"ServicePrincipalCreated"`, `"CredentialAdded"`, `"OwnerAdded"`, `"ConsentGranted"`,
	`"AppRoleGranted"`, `"AppUpdated"`, `"Add application"`, `"Add service principal"`, `audit:Directory_`,
	`{"source":"`, `{"channel":"`, `","subject":"`, `,"message":`, `"pending"`,
	`"delivered"`, `"dead"`, `,"created":"`, `,"delivered":"`, `,"nextAttempt":"`, `","lastError":"`,
	`00000003-0000-0000-c000-000000000000`, ` permission, privilege level `,
	`Requests or holds a critical application permission`,
}

// tokenIndex lists, per first byte, the tokens starting with it, longest
// first (so the longest match wins).
var tokenIndex = func() (ix [256][]uint8) {
	if len(tokens) > 256 {
		panic("store: more than 256 tokens")
	}
	for i, t := range tokens {
		ix[t[0]] = append(ix[t[0]], uint8(i))
	}
	for _, l := range ix {
		for i := 1; i < len(l); i++ { // insertion sort, by length descending
			for j := i; j > 0 && len(tokens[l[j]]) > len(tokens[l[j-1]]); j-- {
				l[j], l[j-1] = l[j-1], l[j]
			}
		}
	}
	return ix
}()

// pack returns the form the store keeps of data.
func pack(data []byte) string {
	if len(data) == 0 {
		return ""
	}
	packable := true
	for _, c := range data {
		if c < 0x20 {
			packable = false
			break
		}
	}
	if !packable {
		if data[0] == tagPacked || data[0] == tagVerbatim {
			return string([]byte{tagVerbatim}) + string(data)
		}
		return string(data)
	}
	out := make([]byte, 1, len(data))
	out[0] = tagPacked
	for i := 0; i < len(data); {
		if g, ok := guidAt(data[i:]); ok {
			out = append(out, opGUID)
			out = append(out, g[:]...)
			i += 36
			continue
		}
		if n, b, ok := timeAt(data[i:]); ok {
			out = append(out, opTime)
			out = append(out, b[:]...)
			i += n
			continue
		}
		if t, ok := tokenAt(data[i:]); ok {
			out = append(out, opToken, t)
			i += len(tokens[t])
			continue
		}
		out = append(out, data[i])
		i++
	}
	if len(out) >= len(data) {
		return string(data)
	}
	s := string(out)
	if u, err := unpack(s); err != nil || !bytes.Equal(u, data) {
		return string(data) // never reached by a sound codec; kept as given rather than lost
	}
	return s
}

// unpack returns the data a packed form stands for, in a new slice.
func unpack(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	switch s[0] {
	case tagVerbatim:
		return []byte(s[1:]), nil
	case tagPacked:
	default:
		return []byte(s), nil
	}
	out := make([]byte, 0, 2*len(s))
	for i := 1; i < len(s); {
		switch c := s[i]; c {
		case opGUID:
			if i+17 > len(s) {
				return nil, errCorrupt
			}
			out = appendGUID(out, s[i+1:i+17])
			i += 17
		case opTime:
			if i+14 > len(s) {
				return nil, errCorrupt
			}
			out = appendTime(out, s[i+1:i+14])
			i += 14
		case opToken:
			if i+2 > len(s) || int(s[i+1]) >= len(tokens) {
				return nil, errCorrupt
			}
			out = append(out, tokens[s[i+1]]...)
			i += 2
		default:
			out = append(out, c)
			i++
		}
	}
	return out, nil
}

type corruptError struct{}

func (corruptError) Error() string { return "store: packed record is corrupt" }

var errCorrupt error = corruptError{}

func isLowerHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// guidAt reads a lower-case canonical GUID at the start of b.
func guidAt(b []byte) (g [16]byte, ok bool) {
	if len(b) < 36 || b[8] != '-' || b[13] != '-' || b[18] != '-' || b[23] != '-' {
		return g, false
	}
	var hx [32]byte
	n := 0
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		if !isLowerHex(b[i]) {
			return g, false
		}
		hx[n] = b[i]
		n++
	}
	_, _ = hex.Decode(g[:], hx[:])
	return g, true
}

func appendGUID(out []byte, g string) []byte {
	var hx [32]byte
	hex.Encode(hx[:], []byte(g))
	out = append(out, hx[:8]...)
	out = append(out, '-')
	out = append(out, hx[8:12]...)
	out = append(out, '-')
	out = append(out, hx[12:16]...)
	out = append(out, '-')
	out = append(out, hx[16:20]...)
	out = append(out, '-')
	return append(out, hx[20:]...)
}

// timeAt reads an RFC 3339 UTC time at the start of b, as encoding/json
// writes a time.Time: 2006-01-02T15:04:05, then up to nine digits of
// fraction, then Z. It returns its length and its packed form, only when
// that form gives back the same characters.
func timeAt(b []byte) (n int, p [13]byte, ok bool) {
	const layout = "0000-00-00T00:00:00"
	if len(b) < len(layout)+1 || b[4] != '-' || b[10] != 'T' {
		return 0, p, false
	}
	for i := 0; i < len(layout); i++ {
		if layout[i] == '0' {
			if b[i] < '0' || b[i] > '9' {
				return 0, p, false
			}
		} else if b[i] != layout[i] {
			return 0, p, false
		}
	}
	n = len(layout)
	digits := 0
	if b[n] == '.' {
		n++
		for n < len(b) && b[n] >= '0' && b[n] <= '9' && digits < 9 {
			n++
			digits++
		}
		if digits == 0 {
			return 0, p, false
		}
	}
	if n >= len(b) || b[n] != 'Z' {
		return 0, p, false
	}
	n++
	t, err := time.Parse(time.RFC3339Nano, string(b[:n]))
	if err != nil {
		return 0, p, false
	}
	p[0] = byte(digits)
	binary.LittleEndian.PutUint64(p[1:9], uint64(t.Unix()))
	binary.LittleEndian.PutUint32(p[9:13], uint32(t.Nanosecond()))
	if !bytes.Equal(appendTime(nil, string(p[:])), b[:n]) {
		return 0, p, false
	}
	return n, p, true
}

func appendTime(out []byte, p string) []byte {
	digits := int(p[0])
	sec := int64(binary.LittleEndian.Uint64([]byte(p[1:9])))
	nsec := int64(binary.LittleEndian.Uint32([]byte(p[9:13])))
	out = time.Unix(sec, nsec).UTC().AppendFormat(out, "2006-01-02T15:04:05")
	if digits > 0 {
		out = append(out, '.')
		frac := nsec
		for range 9 - min(digits, 9) {
			frac /= 10
		}
		var d [9]byte
		for i := digits - 1; i >= 0; i-- {
			d[i] = byte('0' + frac%10)
			frac /= 10
		}
		out = append(out, d[:digits]...)
	}
	return append(out, 'Z')
}

// tokenAt finds the longest token at the start of b.
func tokenAt(b []byte) (uint8, bool) {
	for _, t := range tokenIndex[b[0]] {
		if len(b) >= len(tokens[t]) && strings.HasPrefix(string(b[:len(tokens[t])]), tokens[t]) {
			return t, true
		}
	}
	return 0, false
}
