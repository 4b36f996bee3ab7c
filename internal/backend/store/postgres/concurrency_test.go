package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres/pgtest"
)

// ownedFields are the sandbox_sandboxes fields that concurrent writers split between them: writer w of a
// record sets only ownedFields[w], so a lost update shows as a field holding an older value.
var ownedFields = []string{"sandboxUrl", "runtime", "purpose", "externalSandboxId"}

func ownedValue(writer, round int) string {
	return fmt.Sprintf("writer-%02d-round-%03d", writer, round)
}

// TestConcurrentUpdates has 20 goroutines patch disjoint fields of five shared records, each through the same
// pool, while creating and querying their own records.
func TestConcurrentUpdates(t *testing.T) {
	const (
		workers = 20
		rounds  = 25
	)
	s := freshStore(t)
	ctx := t.Context()
	records := make([]string, workers/len(ownedFields))
	for i := range records {
		records[i] = backend.NewID()
		if _, err := s.Create(ctx, backend.EntitySandboxes, records[i], backend.Attrs{"status": "active", "provider": "local"}); err != nil {
			t.Fatal(err)
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			id, field := records[w/len(ownedFields)], ownedFields[w%len(ownedFields)]
			own := backend.NewID()
			if _, err := s.Create(ctx, backend.EntityProcesses, own, backend.Attrs{"sandboxId": id, "status": "running"}); err != nil {
				t.Errorf("worker %d: Create: %v", w, err)
				return
			}
			for r := range rounds {
				rec, err := s.Update(ctx, backend.EntitySandboxes, id, backend.Attrs{field: ownedValue(w, r)})
				if err != nil {
					t.Errorf("worker %d: Update: %v", w, err)
					return
				}
				if got := rec.String(field); got != ownedValue(w, r) {
					t.Errorf("worker %d: Update returned %s = %q; want %q", w, field, got, ownedValue(w, r))
				}
				if _, err := s.Update(ctx, backend.EntityProcesses, own, backend.Attrs{"updatedAt": r}); err != nil {
					t.Errorf("worker %d: Update own: %v", w, err)
					return
				}
				recs, err := s.Query(ctx, backend.Query{Entity: backend.EntityProcesses, Where: []backend.Cond{
					{Field: "sandboxId", Op: backend.OpEq, Value: id},
				}, OrderBy: "updatedAt", Desc: true, Limit: 10})
				if err != nil {
					t.Errorf("worker %d: Query: %v", w, err)
					return
				}
				if len(recs) == 0 {
					t.Errorf("worker %d: Query found none of the processes of %s", w, id)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for i, id := range records {
		rec, err := s.Get(ctx, backend.EntitySandboxes, id)
		if err != nil {
			t.Fatal(err)
		}
		for j, field := range ownedFields {
			if got, want := rec.String(field), ownedValue(i*len(ownedFields)+j, rounds-1); got != want {
				t.Errorf("record %d: %s = %q; want %q (lost update)", i, field, got, want)
			}
		}
		if rec.String("status") != "active" || rec.String("provider") != "local" {
			t.Errorf("record %d: fields no writer touched changed: %v", i, rec.Attrs)
		}
	}
}

// Environment of the child processes of TestTwoProcesses.
const (
	childEnvDSN     = "PGSTORE_TEST_CHILD_DSN"
	childEnvSchema  = "PGSTORE_TEST_CHILD_SCHEMA"
	childEnvIndex   = "PGSTORE_TEST_CHILD_INDEX"
	childEnvBarrier = "PGSTORE_TEST_CHILD_BARRIER"
	childEnvIDs     = "PGSTORE_TEST_CHILD_IDS"
)

const (
	childRecords = 3
	childRounds  = 100
	casTarget    = 200
)

// childIDs are the shared record ids, passed to both children.
func childIDs() []string {
	ids := make([]string, childRecords)
	for i := range ids {
		ids[i] = os.Getenv(childEnvIDs + strconv.Itoa(i))
	}
	return ids
}

// TestTwoProcesses runs this test binary twice at once against a database that has no tables yet: both
// processes open the store (and so migrate it at the same time), create the same shared records, and patch
// their own fields of them. Both must succeed and no update may be lost. Then both count one field up with
// compare-and-swaps: every step is won by exactly one process.
func TestTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes")
	}
	dsn := pgtest.Start(t)
	schema := "two processes"
	barrier := t.TempDir()
	env := append(os.Environ(), childEnvDSN+"="+dsn, childEnvSchema+"="+schema, childEnvBarrier+"="+barrier)
	ids := make([]string, childRecords)
	for i := range ids {
		ids[i] = backend.NewID()
		env = append(env, childEnvIDs+strconv.Itoa(i)+"="+ids[i])
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	type result struct {
		out []byte
		err error
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTwoProcessesChild$", "-test.count=1", "-test.v")
			cmd.Env = append(slices.Clip(env), childEnvIndex+"="+strconv.Itoa(i)) // no shared backing array
			results[i].out, results[i].err = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			t.Errorf("process %d: %v\n%s", i, r.err, r.out)
		} else {
			t.Logf("process %d:\n%s", i, r.out)
		}
	}
	if t.Failed() {
		return
	}
	s0, e0 := updateSpan(t, barrier, 0)
	s1, e1 := updateSpan(t, barrier, 1)
	if s0 >= e1 || s1 >= e0 {
		t.Errorf("the two processes did not update at the same time: [%d, %d] and [%d, %d]", s0, e0, s1, e1)
	}
	t.Logf("the processes updated at the same time for %v", time.Duration(min(e0, e1)-max(s0, s1)))

	s := openStore(t, Config{URL: dsn, Schema: schema})
	for r, id := range ids {
		rec, err := s.Get(t.Context(), backend.EntitySandboxes, id)
		if err != nil {
			t.Fatalf("shared record %d: %v", r, err)
		}
		for p := range 2 {
			for _, field := range ownedFields[p*2 : p*2+2] {
				if got, want := rec.String(field), ownedValue(p, childRounds-1); got != want {
					t.Errorf("shared record %d: %s = %q; want %q (lost update)", r, field, got, want)
				}
			}
		}
	}
	total := 0
	for p := range 2 {
		b, err := os.ReadFile(filepath.Join(barrier, "wins-"+strconv.Itoa(p)))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(string(b))
		t.Logf("process %d won %d compare-and-swaps", p, n)
		total += n
	}
	if total != casTarget {
		t.Errorf("the two processes won %d compare-and-swaps counting to %d; want exactly %d (each step won once)", total, casTarget, casTarget)
	}
	if v := migrationRows(t, adminPool(t, dsn), schema); len(v) != 1 {
		t.Errorf("schema_migrations versions = %v; want [1]", v)
	}
}

// TestTwoProcessesChild is one of TestTwoProcesses's processes; it only runs when that test starts it.
func TestTwoProcessesChild(t *testing.T) {
	dsn := os.Getenv(childEnvDSN)
	if dsn == "" {
		t.Skip("run by TestTwoProcesses")
	}
	p, err := strconv.Atoi(os.Getenv(childEnvIndex))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Wait for the other process at each step, so that both open (and migrate) at the same time, then update
	// at the same time.
	barrier := func(step string) {
		mark := func(i int) string {
			return filepath.Join(os.Getenv(childEnvBarrier), step+"-"+strconv.Itoa(i))
		}
		if err := os.WriteFile(mark(p), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			if _, err := os.Stat(mark(1 - p)); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the other process never reached %q", step)
			}
		}
	}
	barrier("started")
	start := time.Now()
	s := openStore(t, Config{URL: dsn, Schema: os.Getenv(childEnvSchema)})
	t.Logf("process %d (pid %d): opened in %v", p, os.Getpid(), time.Since(start).Round(time.Millisecond))
	ids := childIDs()
	conflicts := 0
	for _, id := range ids {
		_, err := s.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"status": "active"})
		switch {
		case errors.Is(err, backend.ErrConflict):
			conflicts++
		case err != nil:
			t.Fatal(err)
		}
	}
	barrier("created")
	updates := time.Now()
	for r := range childRounds {
		for _, id := range ids {
			attrs := backend.Attrs{}
			for _, field := range ownedFields[p*2 : p*2+2] {
				attrs[field] = ownedValue(p, r)
			}
			if _, err := s.Update(ctx, backend.EntitySandboxes, id, attrs); err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
	}
	span := fmt.Sprintf("%d %d", updates.UnixNano(), time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(os.Getenv(childEnvBarrier), "span-"+strconv.Itoa(p)), []byte(span), 0o600); err != nil {
		t.Fatal(err)
	}
	// Compare-and-swap race: both processes count vcpus of the last shared record up to casTarget, each
	// step a swap from the value just read; a step is won by exactly one process, so the wins add up to
	// casTarget.
	barrier("cas")
	wins := 0
	for {
		rec, err := s.Get(ctx, backend.EntitySandboxes, ids[len(ids)-1])
		if err != nil {
			t.Fatal(err)
		}
		v, _ := rec.Int("vcpus")
		if v >= casTarget {
			break
		}
		var expect any
		if _, set := rec.Attrs["vcpus"]; set {
			expect = v
		}
		_, err = s.CompareAndUpdate(ctx, backend.EntitySandboxes, rec.ID, "vcpus", expect, backend.Attrs{"vcpus": v + 1})
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, backend.ErrStale):
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(os.Getenv(childEnvBarrier), "wins-"+strconv.Itoa(p)), []byte(strconv.Itoa(wins)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("process %d: %d creates lost to the other process, %d updates in %v", p, conflicts,
		childRounds*len(ids), time.Since(updates).Round(time.Millisecond))
}

// updateSpan reads when a child process started and ended its updates.
func updateSpan(t *testing.T, dir string, p int) (start, end int64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "span-"+strconv.Itoa(p)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscan(string(b), &start, &end); err != nil {
		t.Fatal(err)
	}
	return start, end
}
