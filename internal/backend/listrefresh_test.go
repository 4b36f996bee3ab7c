package backend_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// listEngine is a scriptEngine with a list for refreshes that counts its calls; hide leaves sandboxes out of
// the list (an eventually consistent list that has not caught up yet), listErr makes it fail.
type listEngine struct {
	*scriptEngine
	lmu     sync.Mutex
	lists   int
	gets    int
	hide    map[string]bool
	listErr error
}

func (e *listEngine) ListForRefresh(context.Context) (map[string]*backend.Sandbox, error) {
	e.lmu.Lock()
	e.lists++
	hide, lerr := e.hide, e.listErr
	e.lmu.Unlock()
	if lerr != nil {
		return nil, lerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]*backend.Sandbox{}
	for ext, sb := range e.sandboxes {
		if !hide[ext] {
			c := *sb
			out[ext] = &c
		}
	}
	return out, nil
}

func (e *listEngine) GetSandbox(ctx context.Context, ext string) (*backend.Sandbox, error) {
	e.lmu.Lock()
	e.gets++
	e.lmu.Unlock()
	return e.scriptEngine.GetSandbox(ctx, ext)
}

func (e *listEngine) counts() (lists, gets int) {
	e.lmu.Lock()
	defer e.lmu.Unlock()
	return e.lists, e.gets
}

func (e *listEngine) reset() {
	e.lmu.Lock()
	e.lists, e.gets = 0, 0
	e.lmu.Unlock()
}

func newListLifecycle(t *testing.T) (*backend.Lifecycle, *listEngine) {
	t.Helper()
	lc, se := newLifecycle(t)
	eng := &listEngine{scriptEngine: se}
	lc.Engines = backend.EngineMap{"local": eng}
	// A clock that moves a millisecond at each look: a record written just before a list is then never in the
	// same millisecond as the list (whose reads GET a record written at or after the list was asked for).
	var mu sync.Mutex
	now := time.Now()
	lc.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
	return lc, eng
}

func createN(t *testing.T, lc *backend.Lifecycle, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		r := req
		r.Spec.Purpose = "p" + string(rune('a'+i%26))
		res, err := lc.CreateSandbox(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = res.ID()
	}
	return ids
}

// readAll reads every id concurrently, as Terraform's refresh does, and returns the results by id.
func readAll(t *testing.T, lc *backend.Lifecycle, ids []string) map[string]*backend.SandboxResult {
	t.Helper()
	var mu sync.Mutex
	out := map[string]*backend.SandboxResult{}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := lc.ReadSandbox(context.Background(), id)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			out[id] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func TestReadSandboxServedByOneSharedList(t *testing.T) {
	lc, eng := newListLifecycle(t)
	ids := createN(t, lc, 30)
	if err := eng.setState("x-"+ids[3], backend.StateStopped); err != nil {
		t.Fatal(err)
	}
	eng.reset()
	got := readAll(t, lc, ids)
	if lists, gets := eng.counts(); lists != 1 || gets != 0 {
		t.Fatalf("30 concurrent reads made %d lists and %d GETs, want 1 list and no GET", lists, gets)
	}
	for _, id := range ids {
		want, _ := eng.scriptEngine.GetSandbox(context.Background(), "x-"+id)
		if res := got[id]; res == nil || res.Sandbox == nil || res.Sandbox.State != want.State || res.Sandbox.ExternalID != want.ExternalID {
			t.Errorf("read of %s from the list: %+v, GET says %+v", id, res, want)
		}
	}
	if got[ids[3]].Sandbox.State != backend.StateStopped {
		t.Errorf("the sandbox stopped outside the provider reads %s", got[ids[3]].Sandbox.State)
	}
}

func TestReadSandboxConfirmsUnlistedWithGet(t *testing.T) {
	ctx := context.Background()
	lc, eng := newListLifecycle(t)
	ids := createN(t, lc, 5)
	// ids[0] exists but the list has not caught up with it; ids[1] is gone from the engine.
	eng.hide = map[string]bool{"x-" + ids[0]: true}
	if err := eng.DeleteSandbox(ctx, "x-"+ids[1]); err != nil {
		t.Fatal(err)
	}
	eng.reset()
	got := readAll(t, lc, ids)
	if lists, gets := eng.counts(); lists != 1 || gets != 2 {
		t.Fatalf("reads made %d lists and %d GETs, want 1 list and a GET for each of the 2 sandboxes it does not show", lists, gets)
	}
	if res := got[ids[0]]; res == nil || res.Sandbox == nil || res.Sandbox.State != backend.StateRunning {
		t.Errorf("a sandbox missing from an eventually consistent list was not confirmed by its GET: %+v", res)
	}
	if got[ids[1]] != nil {
		t.Errorf("a deleted sandbox still reads as %+v", got[ids[1]])
	}
	rec, err := lc.Store.Get(ctx, backend.EntitySandboxes, ids[1])
	if err != nil || rec.String("status") != backend.StatusShutdown {
		t.Errorf("record of the deleted sandbox: %v, %v; want shutdown", rec, err)
	}
}

func TestReadSandboxListForgottenAfterAChange(t *testing.T) {
	ctx := context.Background()
	lc, eng := newListLifecycle(t)
	ids := createN(t, lc, 3)
	if res, err := lc.ReadSandbox(ctx, ids[0]); err != nil || res.Sandbox.State != backend.StateRunning {
		t.Fatalf("read: %+v %v", res, err)
	}
	stop := req
	stop.DesiredState = backend.DesiredStopped
	if _, err := lc.UpdateSandbox(ctx, ids[0], stop); err != nil {
		t.Fatal(err)
	}
	eng.reset()
	res, err := lc.ReadSandbox(ctx, ids[0])
	if err != nil || res.Sandbox.State != backend.StateStopped {
		t.Fatalf("read after this process stopped the sandbox: %+v %v; want stopped", res, err)
	}
	if lists, _ := eng.counts(); lists != 1 {
		t.Errorf("the read after a change made %d lists, want a new one", lists)
	}
}

// TestReadSandboxListServesTheWholePlan: one list serves every read of a Lifecycle (one provider configuration:
// one Terraform plan), however far apart its reads come (a loaded machine, a plan over a large fleet): no time
// makes it expire mid-plan. A sandbox whose record was written after the list was asked for (another process
// changed it) is read with a GET, and only that one; the next plan (a new Lifecycle) asks for a new list.
func TestReadSandboxListServesTheWholePlan(t *testing.T) {
	ctx := context.Background()
	lc, eng := newListLifecycle(t)
	ids := createN(t, lc, 4)
	var mu sync.Mutex
	now := time.Now().Add(time.Second)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	lc.Now = clock
	eng.reset()
	if _, err := lc.ReadSandbox(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	// Reads 20 s apart (longer than the old 15 s window), for 10 minutes (longer than the old 2 min cap).
	for i := 0; i < 30; i++ {
		advance(20 * time.Second)
		if _, err := lc.ReadSandbox(ctx, ids[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	if lists, gets := eng.counts(); lists != 1 || gets != 0 {
		t.Errorf("a plan whose reads came 20 s apart for 10 minutes made %d lists and %d GETs, want 1 list", lists, gets)
	}
	// Another process stops ids[2] (its record says so) and the engine changes ids[3] outside the provider
	// (no record write): ids[2] is read with a GET, and shows stopped; ids[3] is served by the list, as a GET
	// at the start of the plan would have shown it.
	if err := eng.setState("x-"+ids[2], backend.StateStopped); err != nil {
		t.Fatal(err)
	}
	advance(time.Second)
	if _, err := lc.Store.Update(ctx, backend.EntitySandboxes, ids[2], backend.Attrs{"updatedAt": backend.NowMillis(clock())}); err != nil {
		t.Fatal(err)
	}
	if err := eng.setState("x-"+ids[3], backend.StateStopped); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	eng.reset()
	got := readAll(t, lc, ids[2:])
	if lists, gets := eng.counts(); lists != 0 || gets != 1 {
		t.Errorf("reads after one record changed made %d lists and %d GETs, want no list and one GET", lists, gets)
	}
	if res := got[ids[2]]; res == nil || res.Sandbox == nil || res.Sandbox.State != backend.StateStopped {
		t.Errorf("the sandbox whose record changed after the list reads %+v, want stopped (its GET)", res)
	}
	if res := got[ids[3]]; res == nil || res.Sandbox == nil || res.Sandbox.State != backend.StateRunning {
		t.Errorf("the sandbox changed outside the provider reads %+v, want running (the list of this plan)", res)
	}
	// The next plan configures a new Lifecycle: a new list, which shows ids[3] stopped.
	next := &backend.Lifecycle{Store: lc.Store, Engines: lc.Engines, Now: clock}
	eng.reset()
	res, err := next.ReadSandbox(ctx, ids[3])
	if err != nil || res == nil || res.Sandbox.State != backend.StateStopped {
		t.Errorf("the next plan reads %+v, %v; want stopped", res, err)
	}
	if lists, gets := eng.counts(); lists != 1 || gets != 0 {
		t.Errorf("the next plan made %d lists and %d GETs, want its own list", lists, gets)
	}
	lc.RefreshWindow = -1
	eng.reset()
	if _, err := lc.ReadSandbox(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if lists, gets := eng.counts(); lists != 0 || gets != 1 {
		t.Errorf("with RefreshWindow < 0 a read made %d lists and %d GETs, want one GET", lists, gets)
	}
}

// TestReadSandboxFailedListRetried: a list that failed is remembered for the window (its readers GET), and a
// read after the window asks for the list again.
func TestReadSandboxFailedListRetried(t *testing.T) {
	ctx := context.Background()
	lc, eng := newListLifecycle(t)
	ids := createN(t, lc, 2)
	now := time.Now().Add(time.Second)
	lc.Now = func() time.Time { return now }
	eng.lmu.Lock()
	eng.listErr = errors.New("429 too many requests")
	eng.lmu.Unlock()
	eng.reset()
	for _, id := range ids {
		if _, err := lc.ReadSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(backend.DefaultRefreshWindow / 2)
	if _, err := lc.ReadSandbox(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if lists, gets := eng.counts(); lists != 1 || gets != 3 {
		t.Errorf("reads within the window of a failed list made %d lists and %d GETs, want 1 list and 3 GETs", lists, gets)
	}
	eng.lmu.Lock()
	eng.listErr = nil
	eng.lmu.Unlock()
	now = now.Add(backend.DefaultRefreshWindow)
	eng.reset()
	for _, id := range ids {
		if _, err := lc.ReadSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if lists, gets := eng.counts(); lists != 1 || gets != 0 {
		t.Errorf("reads after the window of a failed list made %d lists and %d GETs, want a new list and no GET", lists, gets)
	}
}

func TestReadSandboxListFailureFallsBackToGet(t *testing.T) {
	lc, eng := newListLifecycle(t)
	ids := createN(t, lc, 10)
	eng.listErr = errors.New("429 too many requests")
	eng.reset()
	got := readAll(t, lc, ids)
	if lists, gets := eng.counts(); lists != 1 || gets != 10 {
		t.Errorf("with a failing list, reads made %d lists and %d GETs, want one list then a GET each", lists, gets)
	}
	for _, id := range ids {
		if got[id] == nil || got[id].Sandbox == nil {
			t.Errorf("%s did not read", id)
		}
	}
}

func TestReadSandboxWithPortsIsAGet(t *testing.T) {
	ctx := context.Background()
	lc, eng := newListLifecycle(t)
	r := req
	r.Spec.Ports = []int{3000}
	res, err := lc.CreateSandbox(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	eng.reset()
	if _, err := lc.ReadSandbox(ctx, res.ID()); err != nil {
		t.Fatal(err)
	}
	if lists, gets := eng.counts(); lists != 0 || gets != 1 {
		t.Errorf("a sandbox with ports was read with %d lists and %d GETs, want one GET (its URLs need it)", lists, gets)
	}
}
