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

func TestReadSandboxWindow(t *testing.T) {
	ctx := context.Background()
	lc, eng := newListLifecycle(t)
	ids := createN(t, lc, 2)
	now := time.Now()
	lc.Now = func() time.Time { return now }
	eng.reset()
	for _, id := range ids {
		if _, err := lc.ReadSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// A plan that outlasts the window shares its list as long as its reads keep coming...
	for i := 0; i < 5; i++ {
		now = now.Add(backend.DefaultRefreshWindow / 2)
		if _, err := lc.ReadSandbox(ctx, ids[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	if lists, gets := eng.counts(); lists != 1 || gets != 0 {
		t.Errorf("reads at half-window intervals made %d lists and %d GETs, want 1 list", lists, gets)
	}
	// ...and a read after a pause longer than the window gets a new one,
	now = now.Add(backend.DefaultRefreshWindow + time.Second)
	if _, err := lc.ReadSandbox(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if lists, gets := eng.counts(); lists != 2 || gets != 0 {
		t.Errorf("reads within then after the window made %d lists and %d GETs, want 2 lists", lists, gets)
	}
	// as does a read when the list is older than RefreshMaxAge, however busy the plan.
	for elapsed := time.Duration(0); elapsed <= backend.RefreshMaxAge; elapsed += backend.DefaultRefreshWindow / 2 {
		now = now.Add(backend.DefaultRefreshWindow / 2)
		if _, err := lc.ReadSandbox(ctx, ids[0]); err != nil {
			t.Fatal(err)
		}
	}
	if lists, _ := eng.counts(); lists != 3 {
		t.Errorf("reads for longer than RefreshMaxAge made %d lists, want 3", lists)
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
