package store

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
)

// Memory is the in-memory store: the embedded default when no storage is
// configured. State lives as long as the process.
type Memory struct {
	mu    sync.Mutex
	parts map[string]map[string]Record
	seq   int64
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{parts: map[string]map[string]Record{}} }

func (m *Memory) etag() string {
	m.seq++
	return strconv.FormatInt(m.seq, 10)
}

// owned copies a record's data, so that neither a writer nor a reader shares
// bytes with the stored record (Table Storage keeps its own copy too).
func owned(r Record) Record {
	if r.Data != nil {
		r.Data = append(json.RawMessage(nil), r.Data...)
	}
	return r
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, rec Record) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.parts[rec.Partition]
	if p == nil {
		p = map[string]Record{}
		m.parts[rec.Partition] = p
	}
	if _, ok := p[rec.Key]; ok {
		return false, nil
	}
	rec.ETag = m.etag()
	p[rec.Key] = owned(rec)
	return true, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, partition, key string) (Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.parts[partition][key]
	return owned(r), ok, nil
}

// Replace implements Store.
func (m *Memory) Replace(_ context.Context, rec Record) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.parts[rec.Partition]
	if p == nil {
		p = map[string]Record{}
		m.parts[rec.Partition] = p
	}
	if rec.ETag != "" {
		cur, ok := p[rec.Key]
		if !ok {
			return "", ErrNotFound
		}
		if cur.ETag != rec.ETag {
			return "", ErrConflict
		}
	}
	rec.ETag = m.etag()
	p[rec.Key] = owned(rec)
	return rec.ETag, nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, partition string) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Record, 0, len(m.parts[partition]))
	for _, r := range m.parts[partition] {
		out = append(out, owned(r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, partition, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.parts[partition], key)
	return nil
}
