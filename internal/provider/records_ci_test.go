package provider

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
)

const ciWarning = "Records on this CI runner will disappear with it"

// The plan warns when records are kept in SQLite on a CI runner for a hosted engine, and only then.
func TestAccRecords_ciWarningForSQLiteWithHostedEngine(t *testing.T) {
	env := newTestEnv(t)
	fake := spritesfake.Start(t, spritesfake.Options{})
	hosted := newTFWorkdir(t, spritesHCL(env, fake)+`
resource "sandbox_sandbox" "s" {
  backend = "sprites"
}
`)
	localOnly := newTFWorkdir(t, env.providerHCL()+`
resource "sandbox_sandbox" "s" {}
`)
	cases := []struct {
		name string
		w    *tfWorkdir
		env  []string
		warn bool
	}{
		{"sqlite + sprites + CI=true", hosted, []string{"CI=true"}, true},
		{"sqlite + sprites, no CI", hosted, []string{"CI="}, false},
		{"sqlite + local + CI=true", localOnly, []string{"CI=true"}, false},
	}
	for _, c := range cases {
		out := c.w.mustRun(c.env, "plan", "-input=false", "-no-color")
		if got := strings.Contains(out, ciWarning); got != c.warn {
			t.Errorf("%s: warning shown = %v, want %v\n%s", c.name, got, c.warn, out)
		}
		if c.warn && (!strings.Contains(out, "instantdb") || !strings.Contains(out, "postgres")) {
			t.Errorf("%s: the warning does not name the shared stores:\n%s", c.name, out)
		}
	}
}

// Two applies at once, in two processes, against one PostgreSQL database: no error, no lost record.
func TestAccPostgres_twoConcurrentApplies(t *testing.T) {
	env := newTestEnvFor(t, RecordsPostgres)
	cfg := func(purpose string) string {
		return env.providerHCL() + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  count   = 4
  purpose = %q
}

resource "sandbox_command" "c" {
  count      = 4
  sandbox_id = sandbox_sandbox.s[count.index].id
  command    = ["sh", "-c", "echo run-${count.index}"]
}
`, purpose)
	}
	a, b := newTFWorkdir(t, cfg("team-a")), newTFWorkdir(t, cfg("team-b"))
	both := func(args ...string) {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		outs := make([]string, 2)
		for i, w := range []*tfWorkdir{a, b} {
			wg.Add(1)
			go func(i int, w *tfWorkdir) {
				defer wg.Done()
				outs[i], errs[i] = w.run(nil, args...)
			}(i, w)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("apply %d of 2 (%v): %v\n%s", i+1, args, err, outs[i])
			}
		}
	}
	both("apply", "-auto-approve", "-input=false", "-no-color", "-parallelism=8")
	ctx := context.Background()
	for _, purpose := range []string{"team-a", "team-b"} {
		recs, err := env.store().Query(ctx, backend.Query{Entity: backend.EntitySandboxes, Where: []backend.Cond{
			{Field: "purpose", Op: backend.OpEq, Value: purpose}, {Field: "status", Op: backend.OpEq, Value: backend.StatusActive},
		}})
		if err != nil || len(recs) != 4 {
			t.Fatalf("%s: %d active sandbox records, want 4 (%v)", purpose, len(recs), err)
		}
	}
	runs, err := env.store().Query(ctx, backend.Query{Entity: backend.EntityProcesses, Where: []backend.Cond{{Field: "status", Op: backend.OpEq, Value: backend.ProcessExited}}})
	if err != nil || len(runs) != 8 {
		t.Fatalf("%d exited run records, want 8 (%v)", len(runs), err)
	}
	both("destroy", "-auto-approve", "-input=false", "-no-color", "-parallelism=8")
	left, err := env.store().Query(ctx, backend.Query{Entity: backend.EntitySandboxes, Where: []backend.Cond{{Field: "status", Op: backend.OpEq, Value: backend.StatusActive}}})
	if err != nil || len(left) != 0 {
		t.Fatalf("%d active sandbox records after both destroys (%v)", len(left), err)
	}
}
