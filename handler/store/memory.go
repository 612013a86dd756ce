package store

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
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
	parts map[string]*partition
	seq   int64

	// history is a ring of the history records kept, oldest at next once
	// full; nil when history is unbounded.
	history   []recordID
	next      int
	forgotten int64
}

// entry is a stored record, compactly: the data packed (see pack), the
// ETag as its number, the partition only in the map that holds it. A
// contained app keeps two records for as long as the process lives (its
// undo record and its facts), so every byte here counts thousands of times.
type entry struct {
	key  string
	kind string
	time time.Time
	etag int64
	data string // pack(Record.Data)
}

func (e *entry) record(partition string) appwarden.Record {
	data, err := unpack(e.data)
	if err != nil { // unreachable: pack checks that what it keeps unpacks
		panic(err)
	}
	return appwarden.Record{Partition: partition, Key: e.key, Kind: e.kind, Time: e.time, Data: data, ETag: strconv.FormatInt(e.etag, 10)}
}

// partition holds one partition's records: a short slice sorted by key
// while it is small (an app's partition, mostly one to three records),
// a map once it grows (the facts of every app, the dedupe markers).
type partition struct {
	small []entry
	big   map[string]*entry
}

// smallPartition is the most records a partition keeps in its slice.
const smallPartition = 16

func (p *partition) len() int {
	if p.big != nil {
		return len(p.big)
	}
	return len(p.small)
}

func (p *partition) get(key string) *entry {
	if p == nil {
		return nil
	}
	if p.big != nil {
		return p.big[key]
	}
	if i, ok := slices.BinarySearchFunc(p.small, key, func(e entry, k string) int { return strings.Compare(e.key, k) }); ok {
		return &p.small[i]
	}
	return nil
}

// set inserts or overwrites e.
func (p *partition) set(e entry) {
	if p.big != nil {
		if cur := p.big[e.key]; cur != nil {
			*cur = e
			return
		}
		p.big[e.key] = &e
		return
	}
	i, ok := slices.BinarySearchFunc(p.small, e.key, func(x entry, k string) int { return strings.Compare(x.key, k) })
	if ok {
		p.small[i] = e
		return
	}
	if len(p.small) < smallPartition {
		p.small = slices.Insert(p.small, i, e)
		return
	}
	p.big = make(map[string]*entry, 2*smallPartition)
	for j := range p.small {
		x := p.small[j]
		p.big[x.key] = &x
	}
	p.small = nil
	p.big[e.key] = &e
}

func (p *partition) remove(key string) bool {
	if p.big != nil {
		if _, ok := p.big[key]; ok {
			delete(p.big, key)
			return true
		}
		return false
	}
	if i, ok := slices.BinarySearchFunc(p.small, key, func(e entry, k string) int { return strings.Compare(e.key, k) }); ok {
		p.small = slices.Delete(p.small, i, i+1)
		if len(p.small) == 0 {
			p.small = nil
		}
		return true
	}
	return false
}

// entries lists the partition's records in key order.
func (p *partition) entries() []*entry {
	if p.big == nil {
		out := make([]*entry, len(p.small))
		for i := range p.small {
			out[i] = &p.small[i]
		}
		return out
	}
	out := make([]*entry, 0, len(p.big))
	for _, e := range p.big {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *entry) int { return strings.Compare(a.key, b.key) })
	return out
}

// after lists, in key order, at most limit records whose key sorts after
// the given one. A large partition is a map: one pass over it keeps the
// limit smallest keys in a bounded max-heap, so that a page costs the
// partition's size once and holds only the page, however large the
// partition (no sorted copy of every key).
func (p *partition) after(after string, limit int) []*entry {
	if p.big == nil {
		i, found := slices.BinarySearchFunc(p.small, after, func(e entry, k string) int { return strings.Compare(e.key, k) })
		if found {
			i++
		}
		var out []*entry
		for ; i < len(p.small) && len(out) < limit; i++ {
			out = append(out, &p.small[i])
		}
		return out
	}
	h := make([]*entry, 0, min(limit, len(p.big)))
	for _, e := range p.big {
		switch {
		case e.key <= after:
		case len(h) < limit:
			h = append(h, e)
			for i := len(h) - 1; i > 0; { // sift up
				parent := (i - 1) / 2
				if h[parent].key >= h[i].key {
					break
				}
				h[parent], h[i] = h[i], h[parent]
				i = parent
			}
		case e.key < h[0].key:
			h[0] = e
			for i := 0; ; { // sift down
				big, l, r := i, 2*i+1, 2*i+2
				if l < len(h) && h[l].key > h[big].key {
					big = l
				}
				if r < len(h) && h[r].key > h[big].key {
					big = r
				}
				if big == i {
					break
				}
				h[big], h[i] = h[i], h[big]
				i = big
			}
		}
	}
	slices.SortFunc(h, func(a, b *entry) int { return strings.Compare(a.key, b.key) })
	return h
}

type recordID struct{ partition, key string }

// DefaultMemoryHistory is how many history records the handler's in-memory
// store keeps: the signal, dedupe marker and decision of the last three
// hundred or so apps judged, about 1 MB packed.
const DefaultMemoryHistory = 1000

// NewMemory returns an empty in-memory store that keeps everything.
func NewMemory() *Memory { return &Memory{parts: map[string]*partition{}} }

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
		if p.remove(old.key) {
			m.forgotten++
		}
		if p.len() == 0 {
			delete(m.parts, old.partition)
		}
	}
}

func (m *Memory) etag() int64 {
	m.seq++
	return m.seq
}

// stored is the entry a partition keeps of rec: its own copy of the data,
// packed, so that neither a writer nor a reader shares bytes with it
// (Table Storage keeps its own copy too).
func stored(rec appwarden.Record, etag int64) entry {
	return entry{key: rec.Key, kind: rec.Kind, time: rec.Time, etag: etag, data: pack(rec.Data)}
}

func (m *Memory) partition(name string) *partition {
	p := m.parts[name]
	if p == nil {
		p = &partition{}
		m.parts[name] = p
	}
	return p
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, rec appwarden.Record) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.parts[rec.Partition].get(rec.Key) != nil {
		return false, nil
	}
	m.partition(rec.Partition).set(stored(rec, m.etag()))
	m.remember(rec)
	return true, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, partition, key string) (appwarden.Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.parts[partition].get(key)
	if e == nil {
		return appwarden.Record{}, false, nil
	}
	return e.record(partition), true, nil
}

// Replace implements Store.
func (m *Memory) Replace(_ context.Context, rec appwarden.Record) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.parts[rec.Partition].get(rec.Key)
	if rec.ETag != "" {
		if cur == nil {
			return "", appwarden.ErrNotFound
		}
		if strconv.FormatInt(cur.etag, 10) != rec.ETag {
			return "", appwarden.ErrConflict
		}
	}
	e := stored(rec, m.etag())
	m.partition(rec.Partition).set(e)
	if cur == nil {
		m.remember(rec)
	}
	return strconv.FormatInt(e.etag, 10), nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, partition string) ([]appwarden.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.parts[partition]
	if p == nil {
		return []appwarden.Record{}, nil
	}
	es := p.entries()
	out := make([]appwarden.Record, 0, len(es))
	for _, e := range es {
		out = append(out, e.record(partition))
	}
	return out, nil
}

// ListAfter implements Store: a page of the partition, unpacked one page
// at a time.
func (m *Memory) ListAfter(_ context.Context, partition, after string, limit int) ([]appwarden.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.parts[partition]
	if p == nil || limit <= 0 {
		return []appwarden.Record{}, nil
	}
	es := p.after(after, limit)
	out := make([]appwarden.Record, 0, len(es))
	for _, e := range es {
		out = append(out, e.record(partition))
	}
	return out, nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, partition, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.parts[partition]; p != nil {
		p.remove(key)
		if p.len() == 0 {
			delete(m.parts, partition)
		}
	}
	return nil
}
