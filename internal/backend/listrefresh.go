package backend

import (
	"context"
	"reflect"
	"sync"
	"time"
)

// RefreshLister is an optional interface of an Engine whose list endpoint can serve refreshes: ReadSandbox then
// asks the engine for one paged list of the sandboxes this provider made on it, shared by every read of the
// Lifecycle (see listed), instead of one GET per sandbox (a plan over 1000 hosted sandboxes is then the list's
// pages, not 1000 requests against a rate-limited API).
type RefreshLister interface {
	// ListForRefresh returns the sandboxes the engine lists as this provider's, keyed by external id, each as
	// GetSandbox would return it. A sandbox the list cannot describe as GetSandbox would (an entry without its
	// state, URLs that need a request of their own) is left out: the lifecycle then GETs it. A sandbox missing
	// from the list is never taken as gone: lists may be eventually consistent, so the lifecycle GETs it first.
	ListForRefresh(ctx context.Context) (map[string]*Sandbox, error)
}

// DefaultRefreshWindow is how long a list that failed is remembered (its readers GET) before a read asks for
// the list again, when Lifecycle.RefreshWindow is 0.
const DefaultRefreshWindow = 15 * time.Second

// refreshList is one engine list, shared by the reads that arrive while it is fetched and after.
type refreshList struct {
	done      chan struct{}
	started   time.Time // when it was asked for
	startedMs int64     // the same, in the milliseconds of records' updatedAt
	items     map[string]*Sandbox
	err       error
}

// readEngine is the engine's view of the sandbox of rec (external id ext) for ReadSandbox: from the engine's
// shared list when it shows the sandbox, else with GETs (getWithRetry). A sandbox with ports is always read on
// its own: its URLs (and Daytona's preview tokens) take requests that a list does not make. One the list does
// not show is read with a GET before anything calls it gone.
func (l *Lifecycle) readEngine(ctx context.Context, eng Engine, rec *Record, ext string) (*Sandbox, error) {
	if !nonEmptyList(rec.Attrs["ports"]) {
		if sb, ok := l.listed(ctx, eng, rec, ext); ok {
			return sb, nil
		}
	}
	return l.getWithRetry(ctx, eng, ext)
}

// listed returns the engine's view of the sandbox ext (of record rec) from a shared list, and whether the list
// showed it. It returns false (the caller GETs) when the engine has no list for refreshes, RefreshWindow is
// negative, the list failed, the record was written since the list was asked for (the sandbox may have
// changed after the engine answered: one GET for each sandbox that changed), or the list does not show ext.
//
// A list that worked serves every later read of this Lifecycle: no time makes it expire in the middle of a
// plan, however long the plan takes on a loaded machine. A Lifecycle is one provider configuration, and
// Terraform configures the provider anew for each plan, apply or refresh (a new process, or a new Configure
// of the same one in tests), so the next plan asks for a new list; within one, a create, update or delete by
// this process drops the lists (forgetLists), and a change by any other process shows in its record's
// updatedAt. What the list shows is then what a GET at the start of the plan would have shown.
func (l *Lifecycle) listed(ctx context.Context, eng Engine, rec *Record, ext string) (*Sandbox, bool) {
	lister, ok := eng.(RefreshLister)
	if !ok || l.RefreshWindow < 0 || ext == "" {
		return nil, false
	}
	retry := l.RefreshWindow
	if retry == 0 {
		retry = DefaultRefreshWindow
	}
	name := eng.Name()
	l.listMu.Lock()
	cur := l.lists[name]
	now := l.now()
	// A list that failed is remembered for a while: its readers GET, rather than every one of them asking for
	// the whole list again (a rate-limited list must not turn into more requests than no list).
	stale := cur != nil && isDone(cur.done) && cur.err != nil && now.Sub(cur.started) > retry
	if cur == nil || stale {
		cur = &refreshList{done: make(chan struct{}), started: now, startedMs: NowMillis(now)}
		if l.lists == nil {
			l.lists = map[string]*refreshList{}
		}
		l.lists[name] = cur
		l.listMu.Unlock()
		cur.items, cur.err = lister.ListForRefresh(ctx)
		close(cur.done)
	} else {
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
	if at, ok := rec.Int("updatedAt"); ok && at >= cur.startedMs {
		return nil, false
	}
	sb, ok := cur.items[ext]
	if !ok {
		return nil, false
	}
	cp := *sb // callers may change what they get; the list is shared
	return &cp, true
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
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
