package pipeline

import (
	"strings"
	"sync"
)

// appLocks serialize the handling of one app within this instance: an
// event and the sweep (or two invocations) about the same app take turns,
// so the second finds the first's decision recorded and does not resolve
// or act again. Locks are made on demand and dropped when no one holds or
// waits for them, so the map stays as small as the work in flight.
type appLocks struct {
	mu sync.Mutex
	m  map[string]*appLock
}

type appLock struct {
	sync.Mutex
	n int // holders and waiters
}

// lock takes key's lock and returns its release.
func (l *appLocks) lock(key string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*appLock{}
	}
	k := l.m[key]
	if k == nil {
		k = &appLock{}
		l.m[key] = k
	}
	k.n++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.n--; k.n == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}

// LockApp serializes work on one app (by appId, else object id) in this
// instance until the returned func is called. The pipeline takes it for
// every signal it processes; the sweep takes it around its check of what
// was already decided and its handling of the app.
func (p *Pipeline) LockApp(key string) func() {
	return p.locks.lock(strings.ToLower(key))
}

// appKey is what a signal's app is locked by.
func appKey(appID, objectID string) string {
	if appID != "" {
		return appID
	}
	return objectID
}
