// Package snapshot owns the snapshot format: the file appwarden snapshot
// export writes and that appwarden scan --tenant, appwarden replay --tenant
// and the Graph stand-in (fakegraph.Load) read.
//
// A snapshot is one JSON object:
//
//	{
//	"tenantId": "...",
//	"applications": [
//	{...},
//	{...}
//	],
//	"servicePrincipals": [...],
//	"owners": {
//	"<object id>": [{...}, {...}]
//	},
//	"appRoleAssignments": [...],
//	"oauth2PermissionGrants": [...]
//	}
//
// with every object in Graph's own JSON, compacted to one line. Load reads
// one; Writer writes one as its objects come, so memory stays flat however
// large the tenant.
package snapshot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// File is a snapshot in memory. Objects are kept as the JSON they are in the
// file; the reader parses them into what it needs.
type File struct {
	TenantID               string                       `json:"tenantId"`
	Applications           []json.RawMessage            `json:"applications"`
	ServicePrincipals      []json.RawMessage            `json:"servicePrincipals"`
	Owners                 map[string][]json.RawMessage `json:"owners"`
	AppRoleAssignments     []json.RawMessage            `json:"appRoleAssignments"`
	OAuth2PermissionGrants []json.RawMessage            `json:"oauth2PermissionGrants"`
}

// Load reads a snapshot. Missing sections are empty; anything after the
// object is an error.
func Load(r io.Reader) (*File, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Section is one of a snapshot's sections, in file order.
type Section int

const (
	Applications Section = iota
	ServicePrincipals
	Owners
	AppRoleAssignments
	OAuth2PermissionGrants
	numSections
)

var sectionNames = [numSections]string{"applications", "servicePrincipals", "owners", "appRoleAssignments", "oauth2PermissionGrants"}

func (s Section) String() string {
	if s >= 0 && s < numSections {
		return sectionNames[s]
	}
	return fmt.Sprintf("Section(%d)", int(s))
}

// Writer writes a snapshot as its objects are added, so memory stays flat
// however large the tenant. Sections come in file order: adding to a later
// section closes the ones before it (those skipped are written empty), and
// adding to a section already closed is an error. Objects read before
// their section's place (owners read while applications are listed, say)
// are held instead (Hold, HoldOwners): they wait in a temporary file and
// are written first when their section opens.
//
// A Writer buffers; Close writes the sections still to come, ends the
// snapshot and flushes. Close or Discard must be called to remove
// temporary files.
type Writer struct {
	w      *bufio.Writer
	cur    Section // the open section; -1 before the first
	first  bool    // no object yet in the open section
	spools [numSections]*spool
	err    error
	closed bool
}

// NewWriter starts a snapshot of the tenant on w.
func NewWriter(w io.Writer, tenantID string) *Writer {
	sw := &Writer{w: bufio.NewWriterSize(w, 256<<10), cur: -1}
	tid, _ := json.Marshal(tenantID)
	sw.w.WriteString("{\n\"tenantId\": ")
	sw.w.Write(tid)
	return sw
}

// Add writes one object of an array section (every section but Owners),
// compacted to one line; it must be valid JSON.
func (sw *Writer) Add(s Section, raw json.RawMessage) error {
	if err := sw.check(s); err != nil {
		return err
	}
	return sw.write(s, false, func(w *bufio.Writer, first bool) error { return writeItem(w, raw, first) })
}

// AddOwners writes the owners of one object (by object id) in the Owners
// section. An empty list writes nothing.
func (sw *Writer) AddOwners(objectID string, owners []json.RawMessage) error {
	if len(owners) == 0 {
		return sw.err
	}
	return sw.write(Owners, false, func(w *bufio.Writer, first bool) error { return writeOwners(w, objectID, owners, first) })
}

// Hold is Add for an object whose section comes after the open one: it
// waits in a temporary file until its section opens.
func (sw *Writer) Hold(s Section, raw json.RawMessage) error {
	if err := sw.check(s); err != nil {
		return err
	}
	return sw.write(s, true, func(w *bufio.Writer, first bool) error { return writeItem(w, raw, first) })
}

// HoldOwners is AddOwners for owners read before the Owners section opens.
func (sw *Writer) HoldOwners(objectID string, owners []json.RawMessage) error {
	if len(owners) == 0 {
		return sw.err
	}
	return sw.write(Owners, true, func(w *bufio.Writer, first bool) error { return writeOwners(w, objectID, owners, first) })
}

func (sw *Writer) check(s Section) error {
	if s == Owners || s < 0 || s >= numSections {
		return fmt.Errorf("snapshot: no array section %v (owners are added with AddOwners)", s)
	}
	return nil
}

func (sw *Writer) write(s Section, hold bool, write func(w *bufio.Writer, first bool) error) error {
	switch {
	case sw.err != nil:
		return sw.err
	case sw.closed:
		return errors.New("snapshot: write after Close")
	case s < sw.cur || hold && s == sw.cur:
		sw.err = fmt.Errorf("snapshot: %v added after its place in the file", s)
		return sw.err
	}
	if hold {
		sp := sw.spools[s]
		if sp == nil {
			if sp, sw.err = newSpool(); sw.err != nil {
				return sw.err
			}
			sw.spools[s] = sp
		}
		sw.err = write(sp.w, sp.first)
		sp.first = false
		return sw.err
	}
	sw.openThrough(s)
	if sw.err == nil {
		sw.err = write(sw.w, sw.first)
		sw.first = false
	}
	return sw.err
}

// openThrough closes the open section and writes every section up to s,
// those between with whatever waited for them, and leaves s open.
func (sw *Writer) openThrough(s Section) {
	for sw.cur < s && sw.err == nil {
		if sw.cur >= 0 {
			sw.closeSection()
		}
		sw.cur++
		sw.openSection()
	}
}

func (sw *Writer) openSection() {
	open := "\": ["
	if sw.cur == Owners {
		open = "\": {"
	}
	sw.w.WriteString(",\n\"" + sectionNames[sw.cur] + open)
	sw.first = true
	if sp := sw.spools[sw.cur]; sp != nil {
		sw.err = sp.copyTo(sw.w)
		sw.first = sp.first
		sp.discard()
		sw.spools[sw.cur] = nil
	}
}

func (sw *Writer) closeSection() {
	if sw.cur == Owners {
		sw.w.WriteString("\n}")
	} else {
		sw.w.WriteString("\n]")
	}
}

// Close writes the sections still to come, ends the snapshot and flushes.
func (sw *Writer) Close() error {
	if sw.closed {
		return sw.err
	}
	defer sw.Discard()
	if sw.err == nil {
		sw.openThrough(numSections - 1)
	}
	if sw.err == nil {
		sw.closeSection()
		sw.w.WriteString("\n}\n")
		sw.err = sw.w.Flush()
	}
	sw.closed = true
	return sw.err
}

// Flush writes what is buffered to the underlying writer.
func (sw *Writer) Flush() error {
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	return sw.err
}

// Discard removes the temporary files; the snapshot is left unfinished
// unless Close ran. It is safe to call more than once.
func (sw *Writer) Discard() {
	for i, sp := range sw.spools {
		if sp != nil {
			sp.discard()
			sw.spools[i] = nil
		}
	}
	sw.closed = true
}

// writeItem writes one object of an array, compacted to one line.
func writeItem(w *bufio.Writer, raw json.RawMessage, first bool) error {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return fmt.Errorf("snapshot: an object is not valid JSON: %w", err)
	}
	if !first {
		w.WriteByte(',')
	}
	w.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// writeOwners writes one "id": [owners] member.
func writeOwners(w *bufio.Writer, key string, owners []json.RawMessage, first bool) error {
	k, _ := json.Marshal(key)
	var b bytes.Buffer
	b.Write(k)
	b.WriteString(": [")
	for i, raw := range owners {
		if i > 0 {
			b.WriteString(", ")
		}
		if err := json.Compact(&b, raw); err != nil {
			return fmt.Errorf("snapshot: an owner of %s is not valid JSON: %w", key, err)
		}
	}
	b.WriteString("]")
	if !first {
		w.WriteByte(',')
	}
	w.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// spool holds a section's objects in a temporary file until its place.
type spool struct {
	f     *os.File
	w     *bufio.Writer
	first bool
}

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "appwarden-snapshot-*")
	if err != nil {
		return nil, fmt.Errorf("snapshot: temporary file: %w", err)
	}
	return &spool{f: f, w: bufio.NewWriterSize(f, 64<<10), first: true}, nil
}

func (s *spool) copyTo(w io.Writer) error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, s.f)
	return err
}

func (s *spool) discard() {
	if s.f != nil {
		name := s.f.Name()
		s.f.Close()
		os.Remove(name)
		s.f = nil
	}
}
