package backend_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/lifecycletest"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/sqlite"
)

// scriptEngine is an in-memory engine whose calls can be made to fail.
type scriptEngine struct {
	mu        sync.Mutex
	sandboxes map[string]*backend.Sandbox // by external id
	getErrs   []error                     // returned by GetSandbox, one per call, before the real answer
	deleteErr error
	createErr error
	creates   int
}

func newScriptEngine() *scriptEngine { return &scriptEngine{sandboxes: map[string]*backend.Sandbox{}} }

func (e *scriptEngine) Name() string { return "local" }
func (e *scriptEngine) Capabilities() backend.Capabilities {
	return backend.Capabilities{StopStart: true, Exec: true}
}
func (e *scriptEngine) ValidateSpec(backend.SandboxSpec) error { return nil }
func (e *scriptEngine) CreateSandbox(_ context.Context, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.creates++
	sb := &backend.Sandbox{ExternalID: "x-" + spec.RecordID, RecordID: spec.RecordID, State: backend.StateRunning}
	e.sandboxes[sb.ExternalID] = sb
	if e.createErr != nil {
		return nil, e.createErr
	}
	c := *sb
	return &c, nil
}
func (e *scriptEngine) GetSandbox(_ context.Context, ext string) (*backend.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.getErrs) > 0 {
		err := e.getErrs[0]
		e.getErrs = e.getErrs[1:]
		return nil, err
	}
	sb, ok := e.sandboxes[ext]
	if !ok {
		return nil, fmt.Errorf("sandbox %s: %w", ext, backend.ErrNotFound)
	}
	c := *sb
	return &c, nil
}
func (e *scriptEngine) FindSandbox(ctx context.Context, recordID string) (*backend.Sandbox, error) {
	return e.GetSandbox(ctx, "x-"+recordID)
}
func (e *scriptEngine) ListSandboxes(context.Context) ([]*backend.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*backend.Sandbox
	for _, sb := range e.sandboxes {
		out = append(out, sb)
	}
	return out, nil
}
func (e *scriptEngine) UpdateSandbox(ctx context.Context, ext string, _ backend.SandboxSpec) (*backend.Sandbox, error) {
	return e.GetSandbox(ctx, ext)
}
func (e *scriptEngine) setState(ext, state string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[ext]
	if !ok {
		return backend.ErrNotFound
	}
	sb.State = state
	return nil
}
func (e *scriptEngine) StartSandbox(_ context.Context, ext string) error {
	return e.setState(ext, backend.StateRunning)
}
func (e *scriptEngine) StopSandbox(_ context.Context, ext string) error {
	return e.setState(ext, backend.StateStopped)
}
func (e *scriptEngine) DeleteSandbox(_ context.Context, ext string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.deleteErr != nil {
		return e.deleteErr
	}
	delete(e.sandboxes, ext)
	return nil
}
func (e *scriptEngine) Exec(context.Context, string, backend.ExecRequest) (*backend.ExecResult, error) {
	return &backend.ExecResult{Stdout: []byte("ok\n")}, nil
}
func (e *scriptEngine) WriteFile(context.Context, string, string, []byte) error { return nil }
func (e *scriptEngine) ReadFile(context.Context, string, string) ([]byte, error) {
	return nil, backend.ErrNotFound
}

func newLifecycle(t *testing.T) (*backend.Lifecycle, *scriptEngine) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	eng := newScriptEngine()
	return &backend.Lifecycle{Store: st, Engines: backend.EngineMap{"local": eng}}, eng
}

var req = backend.SandboxRequest{Backend: "local", Spec: backend.SandboxSpec{Purpose: "t", Timeout: time.Minute, Env: map[string]string{"S": "secret-value"}}, Params: map[string]any{"team": "x"}}

func TestCreateReadDelete(t *testing.T) {
	ctx := context.Background()
	lc, eng := newLifecycle(t)
	res, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	rec := res.Record
	if rec.String("status") != backend.StatusActive || rec.String("externalSandboxId") != "x-"+rec.ID {
		t.Fatalf("record after create: %+v", rec.Attrs)
	}
	book, _ := rec.JSONMap("params")[backend.ParamsTerraform].(map[string]any)
	if book[backend.BookConfigHash] != backend.ConfigHash(req) || book[backend.BookOwner] == nil || book[backend.BookConfirmed] != nil {
		t.Errorf("an active record keeps its owner and config hash, unconfirmed, until Terraform reads it back: %v", book)
	}
	if fmt.Sprint(rec.Attrs) == "" || containsValue(rec.Attrs, "secret-value") {
		t.Error("env reached the record")
	}
	got, err := lc.ReadSandbox(ctx, rec.ID)
	if err != nil || got == nil || got.Sandbox.State != backend.StateRunning {
		t.Fatalf("read: %v %+v", err, got)
	}
	if book, _ := got.Record.JSONMap("params")[backend.ParamsTerraform].(map[string]any); book[backend.BookConfirmed] != true {
		t.Errorf("a read does not confirm the record: %v", book)
	}
	if err := lc.DeleteSandbox(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	after, err := lc.Store.Get(ctx, backend.EntitySandboxes, rec.ID)
	if err != nil || after.String("status") != backend.StatusShutdown {
		t.Fatalf("after delete: %v %+v", err, after)
	}
	if _, ok := after.Int("shutdownAt"); !ok {
		t.Error("no shutdownAt")
	}
	if len(eng.sandboxes) != 0 {
		t.Error("engine object left")
	}
	if got, err := lc.ReadSandbox(ctx, rec.ID); err != nil || got != nil {
		t.Errorf("a shutdown record reads as gone, got %v %v", got, err)
	}
}

func containsValue(attrs backend.Attrs, s string) bool {
	return strings.Contains(fmt.Sprintf("%#v", attrs), s)
}

func TestReadRetriesTransientErrorsAndNeverFlipsOnThem(t *testing.T) {
	ctx := context.Background()
	lc, eng := newLifecycle(t)
	res, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	transient := errors.New("502 bad gateway")
	eng.getErrs = []error{transient, transient}
	got, err := lc.ReadSandbox(ctx, res.ID())
	if err != nil || got == nil {
		t.Fatalf("two transient errors then success should read the sandbox: %v", err)
	}
	eng.getErrs = []error{transient, transient, transient}
	if _, err := lc.ReadSandbox(ctx, res.ID()); !errors.Is(err, transient) {
		t.Fatalf("want the transient error after the retries, got %v", err)
	}
	rec, _ := lc.Store.Get(ctx, backend.EntitySandboxes, res.ID())
	if rec.String("status") != backend.StatusActive {
		t.Fatalf("a transient error flipped the record to %q (the seed library's bug)", rec.String("status"))
	}
	// Gone for real: the record becomes shutdown.
	delete(eng.sandboxes, "x-"+res.ID())
	if got, err := lc.ReadSandbox(ctx, res.ID()); err != nil || got != nil {
		t.Fatalf("a vanished sandbox reads as gone: %v %v", got, err)
	}
	rec, _ = lc.Store.Get(ctx, backend.EntitySandboxes, res.ID())
	if rec.String("status") != backend.StatusShutdown {
		t.Fatalf("vanished sandbox record is %q", rec.String("status"))
	}
}

func TestDeleteNeverSwallowsEngineErrors(t *testing.T) {
	ctx := context.Background()
	lc, eng := newLifecycle(t)
	res, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	eng.deleteErr = errors.New("503 engine down")
	if err := lc.DeleteSandbox(ctx, res.ID()); err == nil {
		t.Fatal("delete returned nil although the engine failed")
	}
	rec, _ := lc.Store.Get(ctx, backend.EntitySandboxes, res.ID())
	if rec.String("status") != backend.StatusActive {
		t.Fatalf("the record was closed (%q) while its engine object still exists", rec.String("status"))
	}
}

func TestFailedCreateRecordsErrorAndDeleteFindsHalfMadeObject(t *testing.T) {
	ctx := context.Background()
	lc, eng := newLifecycle(t)
	eng.createErr = errors.New("boom after provisioning")
	res, err := lc.CreateSandbox(ctx, req)
	if err == nil || res == nil || res.ID() == "" {
		t.Fatalf("want an error with the record id, got %v %v", res, err)
	}
	if res.Record.String("status") != backend.StatusError || res.Record.JSONMap("params")["error"] == nil {
		t.Fatalf("record after failure: %+v", res.Record.Attrs)
	}
	if len(eng.sandboxes) != 1 {
		t.Fatal("the fake should hold the half-made object")
	}
	if err := lc.DeleteSandbox(ctx, res.ID()); err != nil {
		t.Fatal(err)
	}
	if len(eng.sandboxes) != 0 {
		t.Fatal("delete did not find the half-made object by its record id")
	}
}

func TestAdoptionOnlyOfDeadOwnersWithTheSameConfig(t *testing.T) {
	ctx := context.Background()
	lc, eng := newLifecycle(t)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	id, err := lifecycletest.SimulateInterruptedCreate(ctx, lc, req, dead)
	if err != nil {
		t.Fatal(err)
	}
	// A different configuration does not adopt it.
	other := req
	other.Spec.Purpose = "other"
	res, err := lc.CreateSandbox(ctx, other)
	if err != nil || res.ID() == id {
		t.Fatalf("a different config adopted the record: %v", err)
	}
	// An owner that still runs (this test's parent) keeps its record.
	live, err := lifecycletest.SimulateInterruptedCreate(ctx, lc, req, os.Getppid())
	if err != nil {
		t.Fatal(err)
	}
	res, err = lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID() != id {
		t.Fatalf("the dead owner's record %s was not adopted (got %s)", id, res.ID())
	}
	if res.ID() == live {
		t.Fatal("a live owner's record was taken over")
	}
	if eng.creates != 3 { // two simulations and the other config; the adoption made nothing new
		t.Fatalf("engine creates = %d, want 3", eng.creates)
	}
}

func TestDesiredStoppedAndReservedParams(t *testing.T) {
	ctx := context.Background()
	lc, _ := newLifecycle(t)
	r := req
	r.DesiredState = backend.DesiredStopped
	res, err := lc.CreateSandbox(ctx, r)
	if err != nil || res.Sandbox.State != backend.StateStopped {
		t.Fatalf("desired stopped: %v %+v", err, res)
	}
	bad := req
	bad.Params = map[string]any{"error": "x"}
	if _, err := lc.CreateSandbox(ctx, bad); err == nil {
		t.Fatal("reserved params key accepted")
	}
}

func TestRunCommandRecordsTheRun(t *testing.T) {
	ctx := context.Background()
	lc, eng := newLifecycle(t)
	res, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.StopSandbox(ctx, "x-"+res.ID()); err != nil {
		t.Fatal(err)
	}
	run, err := lc.RunCommand(ctx, backend.CommandRequest{SandboxID: res.ID(), Argv: []string{"echo", "ok"}, Env: map[string]string{"K": "run-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != backend.ProcessExited || !run.Ran || run.Stdout != "ok\n" || run.Record.String("sandboxId") != res.ID() {
		t.Fatalf("run: %+v", run)
	}
	if containsValue(run.Record.Attrs, "run-secret") {
		t.Fatal("env reached the process record")
	}
	sb, _ := eng.GetSandbox(ctx, "x-"+res.ID())
	if sb.State != backend.StateStopped {
		t.Fatalf("a stopped sandbox was left %s after the run", sb.State)
	}
	if err := lc.DeleteSandbox(ctx, res.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.RunCommand(ctx, backend.CommandRequest{SandboxID: res.ID(), Argv: []string{"true"}}); !errors.Is(err, backend.ErrSandboxNotActive) {
		t.Fatalf("a command in a shutdown sandbox: %v", err)
	}
}

func TestLastLinesAndTail(t *testing.T) {
	if got := backend.LastLines("a\nb\nc\n", 2); got != "b\nc\n" {
		t.Errorf("LastLines = %q", got)
	}
	if got := backend.LastLines("one", 5); got != "one" {
		t.Errorf("LastLines = %q", got)
	}
}

// barrierStore holds every Query of sandbox records until n of them are in flight (or wait has passed), so
// that concurrent creates look for interrupted creates at the same moment, as Terraform's parallel creates do.
type barrierStore struct {
	backend.Store
	n       int
	wait    time.Duration
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func (s *barrierStore) Query(ctx context.Context, q backend.Query) ([]*backend.Record, error) {
	recs, err := s.Store.Query(ctx, q)
	if q.Entity == backend.EntitySandboxes {
		s.mu.Lock()
		s.arrived++
		if s.arrived == s.n {
			close(s.all)
		}
		s.mu.Unlock()
		select {
		case <-s.all:
		case <-time.After(s.wait):
		}
	}
	return recs, err
}

// TestConcurrentCreatesAdoptOnce: one abandoned creating record and four concurrent creates of the same
// configuration (a for_each after a killed apply): one create adopts it, the others make their own records.
func TestConcurrentCreatesAdoptOnce(t *testing.T) {
	ctx := context.Background()
	lc, _ := newLifecycle(t)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	abandoned, err := lifecycletest.SimulateInterruptedCreate(ctx, lc, req, cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	lc.Store = &barrierStore{Store: lc.Store, n: n, wait: 100 * time.Millisecond, all: make(chan struct{})}
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := lc.CreateSandbox(ctx, req)
			if res != nil {
				ids[i] = res.ID()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for i, id := range ids {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		seen[id]++
	}
	if len(seen) != n || seen[abandoned] != 1 {
		t.Fatalf("ids %v: want %d distinct records, one of them the abandoned %s", ids, n, abandoned)
	}
}

// TestAdoptsActiveUnconfirmedRecordsOnly: a create that reached the engine and its record's active status but
// never the state (the apply was killed before Terraform saved it) is adopted by the next create of the same
// configuration and scope, with no second engine object; once a read has confirmed a record (Terraform handed it
// back), or when it belongs to another scope, it is never adopted.
func TestAdoptsActiveUnconfirmedRecordsOnly(t *testing.T) {
	ctx := context.Background()
	lc, eng := newLifecycle(t)
	lc.Scope = "dir-a#default"
	dead := deadPID(t)
	// Three finished creates of the killed apply, each owned by the dead process: one left as the kill left it,
	// one read back by a later plan (so in a state), one made under another scope.
	mk := func(scope string) string {
		l2 := &backend.Lifecycle{Store: lc.Store, Engines: lc.Engines, Scope: scope}
		res, err := l2.CreateSandbox(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res.ID()
	}
	left, confirmed, other := mk("dir-a#default"), mk("dir-a#default"), mk("dir-b#default")
	for _, id := range []string{left, confirmed, other} { // the apply that made them is killed
		rec, err := lc.Store.Get(ctx, backend.EntitySandboxes, id)
		if err != nil {
			t.Fatal(err)
		}
		params := rec.JSONMap("params")
		bookOf(t, params)[backend.BookOwner] = map[string]any{"host": mustHost(t), "pid": dead}
		if _, err := lc.Store.Update(ctx, backend.EntitySandboxes, id, backend.Attrs{"params": params}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := lc.ReadSandbox(ctx, confirmed); err != nil || got == nil {
		t.Fatalf("read: %v", err)
	}
	creates := eng.creates
	res, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID() != left {
		t.Fatalf("the next create made %s; want the unconfirmed active record %s adopted", res.ID(), left)
	}
	if eng.creates != creates {
		t.Fatalf("adopting an active record made %d new engine object(s)", eng.creates-creates)
	}
	if res.Record.String("status") != backend.StatusActive {
		t.Fatalf("adopted record is %s", res.Record.String("status"))
	}
	res2, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res2.ID() == confirmed || res2.ID() == other || res2.ID() == left {
		t.Fatalf("a second create took over %s (confirmed %s, other scope %s, adopted %s)", res2.ID(), confirmed, other, left)
	}
}

func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func mustHost(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// slowQueryStore holds every Query of sandbox records for a while, so that two processes started together
// both load the abandoned record as a candidate before either takes it over.
type slowQueryStore struct {
	backend.Store
	wait time.Duration
}

func (s *slowQueryStore) Query(ctx context.Context, q backend.Query) ([]*backend.Record, error) {
	recs, err := s.Store.Query(ctx, q)
	if q.Entity == backend.EntitySandboxes {
		time.Sleep(s.wait)
	}
	return recs, err
}

// TestAdoptionRaceAcrossProcesses: one abandoned record and several OS processes on one SQLite file, each
// creating the same configuration at the same moment (two applies on one store after a kill): exactly one
// process adopts the record, the others make their own. Without the compare-and-swap in the store, every
// process takes it over.
func TestAdoptionRaceAcrossProcesses(t *testing.T) {
	if os.Getenv("ADOPT_RACE_DB") != "" {
		t.Skip("child")
	}
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "r.db")
	st, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lc := &backend.Lifecycle{Store: st, Engines: backend.EngineMap{"local": newScriptEngine()}}
	abandoned, err := lifecycletest.SimulateInterruptedCreate(ctx, lc, req, deadPID(t))
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	start := time.Now().Add(1500 * time.Millisecond).UnixNano()
	outs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestAdoptionRaceChild$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "ADOPT_RACE_DB="+dbPath, fmt.Sprintf("ADOPT_RACE_START=%d", start))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("child %d: %v\n%s", i, err, out)
			}
			outs[i] = string(out)
		})
	}
	wg.Wait()
	adopters := 0
	for _, out := range outs {
		i := strings.Index(out, "RECORD=")
		if i < 0 {
			t.Fatalf("a child printed no record id:\n%s", out)
		}
		if strings.HasPrefix(out[i+len("RECORD="):], abandoned) {
			adopters++
		}
	}
	if adopters != 1 {
		t.Fatalf("%d of %d processes adopted the abandoned record %s; want exactly one", adopters, n, abandoned)
	}
}

// TestAdoptionRaceChild is one process of TestAdoptionRaceAcrossProcesses.
func TestAdoptionRaceChild(t *testing.T) {
	db := os.Getenv("ADOPT_RACE_DB")
	if db == "" {
		t.Skip("run by TestAdoptionRaceAcrossProcesses")
	}
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var at int64
	if _, err := fmt.Sscan(os.Getenv("ADOPT_RACE_START"), &at); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(time.Unix(0, at)))
	lc := &backend.Lifecycle{Store: &slowQueryStore{Store: st, wait: 500 * time.Millisecond}, Engines: backend.EngineMap{"local": newScriptEngine()}}
	res, err := lc.CreateSandbox(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("RECORD=%s\n", res.ID())
}

// killRun makes a process record look as a SIGKILLed provider leaves it: running, owned by a dead process of
// this machine.
func killRun(t *testing.T, lc *backend.Lifecycle, id string) {
	t.Helper()
	ctx := context.Background()
	rec, err := lc.Store.Get(ctx, backend.EntityProcesses, id)
	if err != nil {
		t.Fatal(err)
	}
	md := rec.JSONMap("metadata")
	bookOf(t, md)[backend.BookOwner] = map[string]any{"host": mustHost(t), "pid": deadPID(t)}
	if _, err := lc.Store.Update(ctx, backend.EntityProcesses, id, backend.Attrs{"status": backend.ProcessRunning, "metadata": md,
		"exitCode": nil, "exitedAt": nil}); err != nil {
		t.Fatal(err)
	}
}

// TestKilledRunIsRunAgainUnderItsRecord: a command whose apply was killed (its record running, or finished but
// never saved in a state) runs again under the same record at the next apply: one record per command. Once read
// back (confirmed), a record is never taken over.
func TestKilledRunIsRunAgainUnderItsRecord(t *testing.T) {
	ctx := context.Background()
	lc, _ := newLifecycle(t)
	sb, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	creq := backend.CommandRequest{SandboxID: sb.ID(), Argv: []string{"echo", "ok"}, Env: map[string]string{"K": "v"}}
	first, err := lc.RunCommand(ctx, creq)
	if err != nil {
		t.Fatal(err)
	}
	killRun(t, lc, first.Record.ID)
	again, err := lc.RunCommand(ctx, creq)
	if err != nil {
		t.Fatal(err)
	}
	if again.Record.ID != first.Record.ID || again.Status != backend.ProcessExited {
		t.Fatalf("the run again made record %s (%s); want %s re-run", again.Record.ID, again.Status, first.Record.ID)
	}
	// Another command in the same sandbox is not that run.
	other, err := lc.RunCommand(ctx, backend.CommandRequest{SandboxID: sb.ID(), Argv: []string{"echo", "other"}})
	if err != nil || other.Record.ID == first.Record.ID {
		t.Fatalf("another command took over the run: %v", err)
	}
	// Confirmed (a plan read it from state), then killed: never adopted.
	if _, err := lc.ReadProcess(ctx, first.Record.ID); err != nil {
		t.Fatal(err)
	}
	rec, _ := lc.Store.Get(ctx, backend.EntityProcesses, first.Record.ID)
	md := rec.JSONMap("metadata")
	bookOf(t, md)[backend.BookOwner] = map[string]any{"host": mustHost(t), "pid": deadPID(t)}
	if _, err := lc.Store.Update(ctx, backend.EntityProcesses, rec.ID, backend.Attrs{"metadata": md}); err != nil {
		t.Fatal(err)
	}
	third, err := lc.RunCommand(ctx, creq)
	if err != nil || third.Record.ID == first.Record.ID {
		t.Fatalf("a confirmed run was taken over: %v", err)
	}
	recs, err := lc.Store.Query(ctx, backend.Query{Entity: backend.EntityProcesses, Where: []backend.Cond{{Field: "sandboxId", Op: backend.OpEq, Value: sb.ID()}}})
	if err != nil || len(recs) != 3 {
		t.Fatalf("process records: %d (%v); want 3 (the re-run one, the other command, the third run)", len(recs), err)
	}
}

// TestReadProcessMarksUnknownOutcomesLost: a run left running by a provider that is gone becomes lost at the
// next read, with the reason in metadata.lost; a run whose owner still runs stays running; a run owned by
// another machine is lost only once its timeout and LostGrace have passed.
func TestReadProcessMarksUnknownOutcomesLost(t *testing.T) {
	ctx := context.Background()
	lc, _ := newLifecycle(t)
	sb, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	run := func(argv ...string) string {
		r, err := lc.RunCommand(ctx, backend.CommandRequest{SandboxID: sb.ID(), Argv: argv, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return r.Record.ID
	}
	dead, live, remote := run("a"), run("b"), run("c")
	killRun(t, lc, dead)
	killRun(t, lc, live)
	killRun(t, lc, remote)
	setOwner := func(id string, owner map[string]any, startedAt int64) {
		rec, _ := lc.Store.Get(ctx, backend.EntityProcesses, id)
		md := rec.JSONMap("metadata")
		bookOf(t, md)[backend.BookOwner] = owner
		if _, err := lc.Store.Update(ctx, backend.EntityProcesses, id, backend.Attrs{"metadata": md, "startedAt": startedAt}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UnixMilli()
	setOwner(live, map[string]any{"host": mustHost(t), "pid": os.Getppid()}, now)
	setOwner(remote, map[string]any{"host": "elsewhere", "pid": 1}, now)
	for id, want := range map[string]string{dead: backend.ProcessLost, live: backend.ProcessRunning, remote: backend.ProcessRunning} {
		rec, err := lc.ReadProcess(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.String("status"); got != want {
			t.Errorf("run %s: status %s, want %s", id, got, want)
		}
		if want == backend.ProcessLost {
			reason, _ := rec.JSONMap("metadata")["lost"].(map[string]any)["reason"].(string)
			if !strings.Contains(reason, "ended without recording the outcome") {
				t.Errorf("lost without a reason: %v", rec.JSONMap("metadata"))
			}
		}
	}
	// The remote run, long past its timeout.
	setOwner(remote, map[string]any{"host": "elsewhere", "pid": 1}, now-(time.Minute+backend.LostGrace+time.Minute).Milliseconds())
	if rec, err := lc.ReadProcess(ctx, remote); err != nil || rec.String("status") != backend.ProcessLost {
		t.Fatalf("a remote run past its timeout: %v %v", err, rec.Attrs)
	}
}

// bookOf returns the provider's bookkeeping in a record's params or metadata (both under "terraform"), failing
// the test when it is not there.
func bookOf(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, ok := m[backend.ParamsTerraform].(map[string]any)
	if !ok {
		t.Fatalf("no bookkeeping: %v", m)
	}
	return b
}
