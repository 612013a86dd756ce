package store

import (
	"context"
	"encoding/json"
	"github.com/appwarden/appwarden/handler/appwarden"
	"sort"
	"strconv"
	"sync"
)

// Memory is the in-memory store: the embedded default when no storage is
// configured. State lives as long as the process.
//
// A long-running process in memory mode would otherwise grow with every
// event it sees, so a Memory can bound its history: the records that only
// tell the story (signals, decisions and signal dedupe markers; see
// IsHistory). The oldest are forgotten first. Records that keep AppWarden
// from acting twice or let it undo (actions, releases, claims, cursors, the
// outbox, notification markers, poison) are always kept. The whole trail
// is in the log lines either way.
type Memory struct {
	mu    sync.Mutex
	parts map[string]map[string]*appwarden.Record // pointers: a one-record partition's map stays small
	seq   int64

	// history is a ring of the history records kept, oldest at next once
	// full; nil when history is unbounded.
	history   []recordID
	next      int
	forgotten int64
}

type recordID struct{ partition, key string }

// DefaultMemoryHistory is how many history records the handler's in-memory
// store keeps: the signal and decision of the last five hundred or so apps
// judged, about 1.5 MB.
const DefaultMemoryHistory = 1000

// NewMemory returns an empty in-memory store that keeps everything.
func NewMemory() *Memory { return &Memory{parts: map[string]map[string]*appwarden.Record{}} }

// NewMemoryWithHistory returns an empty in-memory store that keeps at most
// limit history records (at least one).
func NewMemoryWithHistory(limit int) *Memory {
	m := NewMemory()
	m.history = make([]recordID, 0, max(limit, 1))
	return m
}

// IsHistory says whether a record only tells the story (and so may be
// forgotten by a bounded Memory): a signal, a decision, or a signal's
// dedupe marker, which at worst lets a late duplicate be reconciled again.
func IsHistory(r appwarden.Record) bool {
	return r.Kind == appwarden.KindSignal || r.Kind == appwarden.KindDecision || r.Partition == appwarden.PartitionDedupe
}

// Forgotten reports how many history records a bounded Memory has dropped.
func (m *Memory) Forgotten() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.forgotten
}

// remember notes a new history record and forgets the oldest one beyond the
// bound. The caller holds mu.
func (m *Memory) remember(rec appwarden.Record) {
	if m.history == nil || !IsHistory(rec) {
		return
	}
	id := recordID{rec.Partition, rec.Key}
	if len(m.history) < cap(m.history) {
		m.history = append(m.history, id)
		return
	}
	old := m.history[m.next]
	m.history[m.next] = id
	m.next = (m.next + 1) % len(m.history)
	if p := m.parts[old.partition]; p != nil {
		if _, ok := p[old.key]; ok {
			delete(p, old.key)
			m.forgotten++
		}
		if len(p) == 0 {
			delete(m.parts, old.partition)
		}
	}
}

func (m *Memory) etag() string {
	m.seq++
	return strconv.FormatInt(m.seq, 10)
}

// owned copies a record's data, so that neither a writer nor a reader shares
// bytes with the stored record (Table Storage keeps its own copy too).
func owned(r appwarden.Record) appwarden.Record {
	if r.Data != nil {
		r.Data = append(json.RawMessage(nil), r.Data...)
	}
	return r
}

// stored is the copy a partition keeps.
func stored(r appwarden.Record) *appwarden.Record {
	r = owned(r)
	return &r
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, rec appwarden.Record) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.parts[rec.Partition]
	if p == nil {
		p = map[string]*appwarden.Record{}
		m.parts[rec.Partition] = p
	}
	if _, ok := p[rec.Key]; ok {
		return false, nil
	}
	rec.ETag = m.etag()
	p[rec.Key] = stored(rec)
	m.remember(rec)
	return true, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, partition, key string) (appwarden.Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.parts[partition][key]
	if !ok {
		return appwarden.Record{}, false, nil
	}
	return owned(*r), true, nil
}

// Replace implements Store.
func (m *Memory) Replace(_ context.Context, rec appwarden.Record) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.parts[rec.Partition]
	cur, exists := p[rec.Key]
	if rec.ETag != "" {
		if !exists {
			return "", appwarden.ErrNotFound
		}
		if cur.ETag != rec.ETag {
			return "", appwarden.ErrConflict
		}
	}
	if p == nil {
		p = map[string]*appwarden.Record{}
		m.parts[rec.Partition] = p
	}
	rec.ETag = m.etag()
	p[rec.Key] = stored(rec)
	if !exists {
		m.remember(rec)
	}
	return rec.ETag, nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, partition string) ([]appwarden.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]appwarden.Record, 0, len(m.parts[partition]))
	for _, r := range m.parts[partition] {
		out = append(out, owned(*r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, partition, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.parts[partition], key)
	if len(m.parts[partition]) == 0 {
		delete(m.parts, partition)
	}
	return nil
}
