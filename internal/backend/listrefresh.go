package backend

import (
	"context"
	"reflect"
	"sync"
	"time"
)

// RefreshLister is an optional interface of an Engine whose list endpoint can serve refreshes: ReadSandbox then
// asks the engine for one paged list of the sandboxes this provider made on it, shared by every read within
// Lifecycle.RefreshWindow of each other, instead of one GET per sandbox (a plan over 1000 hosted sandboxes is then the list's
// pages, not 1000 requests against a rate-limited API).
type RefreshLister interface {
	// ListForRefresh returns the sandboxes the engine lists as this provider's, keyed by external id, each as
	// GetSandbox would return it. A sandbox the list cannot describe as GetSandbox would (an entry without its
	// state, URLs that need a request of their own) is left out: the lifecycle then GETs it. A sandbox missing
	// from the list is never taken as gone: lists may be eventually consistent, so the lifecycle GETs it first.
	ListForRefresh(ctx context.Context) (map[string]*Sandbox, error)
}

// DefaultRefreshWindow is how long one engine list keeps serving ReadSandbox after the last read it served, when
// Lifecycle.RefreshWindow is 0: the reads of one plan arrive one after the other, so a plan shares one list
// however long it takes (up to RefreshMaxAge), and a read after a pause gets a new one.
const DefaultRefreshWindow = 15 * time.Second

// RefreshMaxAge is the oldest a list may be and still serve a read: a plan over many thousands of sandboxes
// lists again every RefreshMaxAge, so that no read shows what an engine said more than that long ago.
const RefreshMaxAge = 2 * time.Minute

// refreshList is one engine list, shared by the reads that arrive while it is fetched and during the window.
type refreshList struct {
	done    chan struct{}
	started time.Time
	last    time.Time // of the last read it served (guarded by listMu)
	items   map[string]*Sandbox
	err     error
}

// readEngine is the engine's view of the sandbox of rec (external id ext) for ReadSandbox: from the engine's
// shared list when it shows the sandbox, else with GETs (getWithRetry). A sandbox with ports is always read on
// its own: its URLs (and Daytona's preview tokens) take requests that a list does not make. One the list does
// not show is read with a GET before anything calls it gone.
func (l *Lifecycle) readEngine(ctx context.Context, eng Engine, rec *Record, ext string) (*Sandbox, error) {
	if !nonEmptyList(rec.Attrs["ports"]) {
		if sb, ok := l.listed(ctx, eng, ext); ok {
			return sb, nil
		}
	}
	return l.getWithRetry(ctx, eng, ext)
}

// listed returns the engine's view of the sandbox ext from a shared list, and whether the list showed it. It
// returns false (the caller GETs) when the engine has no list for refreshes, the window is negative, the list
// failed, or the list does not show ext.
func (l *Lifecycle) listed(ctx context.Context, eng Engine, ext string) (*Sandbox, bool) {
	lister, ok := eng.(RefreshLister)
	if !ok || l.RefreshWindow < 0 || ext == "" {
		return nil, false
	}
	window := l.RefreshWindow
	if window == 0 {
		window = DefaultRefreshWindow
	}
	name := eng.Name()
	l.listMu.Lock()
	cur := l.lists[name]
	// A list that failed is remembered for the window too: its readers GET, rather than every one of them
	// asking for the whole list again (a rate-limited list must not turn into more requests than no list).
	now := l.now()
	if cur == nil || now.Sub(cur.last) > window || now.Sub(cur.started) > RefreshMaxAge {
		cur = &refreshList{done: make(chan struct{}), started: now, last: now}
		if l.lists == nil {
			l.lists = map[string]*refreshList{}
		}
		l.lists[name] = cur
		l.listMu.Unlock()
		cur.items, cur.err = lister.ListForRefresh(ctx)
		close(cur.done)
	} else {
		cur.last = now
		l.listMu.Unlock()
		select {
		case <-cur.done:
		case <-ctx.Done():
			return nil, false
		}
	}
	if cur.err != nil {
		return nil, false
	}
	sb, ok := cur.items[ext]
	if !ok {
		return nil, false
	}
	cp := *sb // callers may change what they get; the list is shared
	return &cp, true
}

// forgetLists drops the shared lists: this process is changing a sandbox, so no later read may be served
// from what an engine said before the change.
func (l *Lifecycle) forgetLists() {
	l.listMu.Lock()
	l.lists = nil
	l.listMu.Unlock()
}

// listState is the part of Lifecycle that serves refreshes from shared lists.
type listState struct {
	listMu sync.Mutex
	lists  map[string]*refreshList
}

// nonEmptyList reports whether v (a record's json list field, decoded or as written) has elements.
func nonEmptyList(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.IsValid() && rv.Kind() == reflect.Slice && rv.Len() > 0
}
