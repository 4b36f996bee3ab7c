package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/sqlite"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/sweep"
)

// dumpStore returns every record of the SQLite file at path, one line per record, sorted.
func dumpStore(t *testing.T, path string) []string {
	t.Helper()
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer st.Close()
	var out []string
	for _, e := range backend.EntityNames() {
		recs, err := st.Query(context.Background(), backend.Query{Entity: e})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			b, _ := json.Marshal(r.Attrs)
			out = append(out, e+" "+r.ID+" "+string(b))
		}
	}
	sort.Strings(out)
	return out
}

func durableConfig(env *testEnv, dbPath, purpose, marker string) string {
	return strings.Replace(env.providerHCL(), fmt.Sprintf("sqlite_path = %q", env.dbPath), fmt.Sprintf("sqlite_path = %q", dbPath), 1) + fmt.Sprintf(`
resource "sandbox_sandbox" "a" {
  purpose = %q
}

resource "sandbox_sandbox" "b" {
  purpose = "durable"
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.a.id
  command    = ["sh", "-c", "echo %s"]
}
`, purpose, marker)
}

// TestAccStoreIdentity_otherStoreIsAnError: a state planned against another record store fails, naming both
// stores and what to set, and writes nothing to either: a SQLite path that does not exist is not created, and
// an existing file with another identity is left as it was, as is the store that holds the records.
func TestAccStoreIdentity_otherStoreIsAnError(t *testing.T) {
	env := newTestEnv(t)
	other := filepath.Join(env.dir, "elsewhere", "records.db")
	var before []string
	var idA, idB string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config: durableConfig(env, env.dbPath, "durable", "one"),
				Check: func(*terraform.State) error {
					var err error
					if idA, err = backend.StoreIdentity(context.Background(), env.store(), false); err != nil || idA == "" {
						return fmt.Errorf("the store has no identity after an apply: %q %w", idA, err)
					}
					return nil
				},
			},
			{
				PreConfig: func() { before = dumpStore(t, env.dbPath) },
				Config:    durableConfig(env, other, "durable", "one"),
				PlanOnly:  true,
				// The message names the configured path, the identity of the store that holds the record, and
				// what to set.
				ExpectError: regexp.MustCompile(`(?s)Record store not found.*elsewhere.*records\.db.*does\s+not\s+exist.*written\s+to\s+store`),
			},
			{
				PreConfig: func() {
					if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("a plan against a missing SQLite path created it (%v)", err)
					}
					if _, err := os.Stat(filepath.Dir(other)); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("a plan against a missing SQLite path created its directory (%v)", err)
					}
					if after := dumpStore(t, env.dbPath); strings.Join(after, "\n") != strings.Join(before, "\n") {
						t.Fatalf("the plan wrote to the store that holds the records:\nbefore %v\nafter  %v", before, after)
					}
					// Now the other path is a store of its own (another configuration's, a fresh runner's).
					st, err := sqlite.Open(other)
					if err != nil {
						t.Fatal(err)
					}
					idB, err = backend.StoreIdentity(context.Background(), st, true)
					_ = st.Close()
					if err != nil {
						t.Fatal(err)
					}
				},
				Config:      durableConfig(env, other, "durable", "one"),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Record in another store.*has\s+no\s+record.*elsewhere.*written\s+to\s+store`),
			},
			{
				PreConfig: func() {
					if after := dumpStore(t, env.dbPath); strings.Join(after, "\n") != strings.Join(before, "\n") {
						t.Fatalf("the plan wrote to the store that holds the records:\nbefore %v\nafter  %v", before, after)
					}
					if got := dumpStore(t, other); len(got) != 1 || !strings.Contains(got[0], idB) {
						t.Fatalf("the plan wrote to the other store: %v", got)
					}
				},
				// Back on the right store: nothing to do.
				Config:   durableConfig(env, env.dbPath, "durable", "one"),
				PlanOnly: true,
			},
		},
	})
	if idA == "" || idB == "" || idA == idB {
		t.Fatalf("store identities %q and %q", idA, idB)
	}
}

// TestAccStoreIdentity_messagesNameBothStores checks the error texts themselves (terraform may wrap lines, so
// the acceptance test above matches loosely): both identities and the settings to change.
func TestStoreIdentityMessages(t *testing.T) {
	data := &providerData{records: RecordsSQLite, sqlitePath: "/nowhere/records.db"}
	was := storePrivate{ID: "11111111-1111-4111-8111-111111111111", Where: "sqlite at /a/records.db"}
	msg := "x " + madeIn(was) + " " + data.howToChooseStore() + " " + data.storeWhere()
	for _, want := range []string{was.ID, "/a/records.db", "/nowhere/records.db", EnvSQLitePath, "sqlite_path"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
}

// TestAccPlanWritesOnlyEngineFacts: a plan (a pull-request plan in CI) writes nothing to the records but what
// the engine confirmed: a sandbox whose engine object is gone gets status shutdown. Configuration changes
// (an in-place change, a command to run again) leave every record as it was.
func TestAccPlanWritesOnlyEngineFacts(t *testing.T) {
	env := newTestEnv(t)
	var before []string
	var goneID string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config: durableConfig(env, env.dbPath, "durable", "one"),
				Check: func(s *terraform.State) error {
					goneID = s.RootModule().Resources["sandbox_sandbox.b"].Primary.ID
					return nil
				},
			},
			{
				PreConfig: func() {
					before = dumpStore(t, env.dbPath)
					rec, err := env.record(goneID)
					if err != nil {
						t.Fatal(err)
					}
					if err := env.engine().DeleteSandbox(context.Background(), rec.String("externalSandboxId")); err != nil {
						t.Fatal(err)
					}
				},
				Config:             durableConfig(env, env.dbPath, "changed", "two"),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				PreConfig: func() {
					after := dumpStore(t, env.dbPath)
					if len(after) != len(before) {
						t.Fatalf("the plan added or removed records:\nbefore %v\nafter  %v", before, after)
					}
					for i := range before {
						if before[i] == after[i] {
							continue
						}
						if !strings.Contains(before[i], goneID) {
							t.Fatalf("the plan changed a record other than the vanished sandbox's:\nbefore %s\nafter  %s", before[i], after[i])
						}
						var b, a map[string]any
						_ = json.Unmarshal([]byte(before[i][strings.Index(before[i], "{"):]), &b)
						_ = json.Unmarshal([]byte(after[i][strings.Index(after[i], "{"):]), &a)
						for k := range a {
							if fmt.Sprint(a[k]) != fmt.Sprint(b[k]) && k != "status" && k != "shutdownAt" && k != "updatedAt" {
								t.Errorf("the plan changed %s of the vanished sandbox's record: %v -> %v", k, b[k], a[k])
							}
						}
						if a["status"] != backend.StatusShutdown {
							t.Errorf("the vanished sandbox's record is %v, want shutdown", a["status"])
						}
					}
				},
				Config: durableConfig(env, env.dbPath, "changed", "two"),
			},
		},
	})
}

// TestAccScopedSweep: two configurations (scopes "team-a" and "team-b") share one record store and one local
// root. B applies three sandboxes; A's state is empty (what a killed first apply leaves). A sweep given A's empty
// state (scoped to A) removes nothing of B's: B's records stay active, its engine objects stay, and B's next plan
// is empty.
func TestAccScopedSweep(t *testing.T) {
	env := newTestEnv(t)
	withScope := func(scope string) string {
		return strings.Replace(env.providerHCL(), "provider \"sandbox\" {\n", fmt.Sprintf("provider \"sandbox\" {\n  scope = %q\n", scope), 1)
	}
	cfgB := withScope("team-b") + `
resource "sandbox_sandbox" "b" {
  count   = 3
  purpose = "team-b"
}
`
	var ids []string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config: cfgB,
				Check: func(s *terraform.State) error {
					for _, r := range s.RootModule().Resources {
						ids = append(ids, r.Primary.ID)
						rec, err := env.record(r.Primary.ID)
						if err != nil {
							return err
						}
						if got := sweep.Scope(rec); got != "team-b" {
							return fmt.Errorf("record %s has scope %q, want team-b", rec.ID, got)
						}
					}
					return nil
				},
			},
			{
				PreConfig: func() {
					rep, err := sweep.Sweep(context.Background(), env.store(), backend.EngineMap{"local": env.engine()},
						sweep.Options{Apply: true, Managed: map[string]bool{}, Scopes: map[string]bool{"team-a": true}})
					if err != nil {
						t.Fatal(err)
					}
					if n := len(rep.Actionable()); n != 0 {
						t.Fatalf("a sweep with team-a's empty state acted on %d finding(s): %+v", n, rep.Actionable())
					}
					others := 0
					for _, f := range rep.Findings {
						if f.Problem == sweep.ProblemOtherScope {
							others++
						}
					}
					if others != len(ids) {
						t.Errorf("%d finding(s) reported as another configuration's, want %d", others, len(ids))
					}
					for _, id := range ids {
						rec, err := env.record(id)
						if err != nil || rec.String("status") != backend.StatusActive {
							t.Fatalf("team-b's record %s after the sweep: %v %v", id, err, rec)
						}
						if _, err := env.engine().GetSandbox(context.Background(), rec.String("externalSandboxId")); err != nil {
							t.Fatalf("team-b's engine object %s after the sweep: %v", rec.String("externalSandboxId"), err)
						}
					}
				},
				Config:   cfgB,
				PlanOnly: true, // B's plan stays empty
			},
		},
	})
}

// TestAccDataSourcesNeverCreateTheStore: data sources read records; on a SQLite path that does not exist yet
// they find none, and neither plan nor apply creates the file.
func TestAccDataSourcesNeverCreateTheStore(t *testing.T) {
	env := newTestEnv(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: env.providerHCL() + `data "sandbox_records" "x" {}`,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("data.sandbox_records.x", "ids.#", "0"),
					func(*terraform.State) error {
						if _, err := os.Stat(env.dbPath); !errors.Is(err, os.ErrNotExist) {
							return fmt.Errorf("reading records created the SQLite file (%w)", err)
						}
						return nil
					},
				),
			},
			{
				Config:      env.providerHCL() + `data "sandbox_record" "x" { id = "6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f" }`,
				ExpectError: regexp.MustCompile(`(?s)No record 6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f.*does\s+not\s+exist`),
			},
		},
	})
	if _, err := os.Stat(env.dbPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reading records created the SQLite file (%v)", err)
	}
}

// TestAccCommandRunLostAtNextRead: a run left running by a provider that is gone (killed mid-run, or the store
// unreachable when the run ended) becomes lost, with the reason in metadata.lost, at the next plan.
func TestAccCommandRunLostAtNextRead(t *testing.T) {
	env := newTestEnv(t)
	var runID string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config: durableConfig(env, env.dbPath, "durable", "one"),
				Check: func(s *terraform.State) error {
					runID = s.RootModule().Resources["sandbox_command.c"].Primary.ID
					return nil
				},
			},
			{
				PreConfig: func() {
					ctx := context.Background()
					rec, err := env.store().Get(ctx, backend.EntityProcesses, runID)
					if err != nil {
						t.Fatal(err)
					}
					md := rec.JSONMap("metadata")
					book, ok := md[backend.MetadataTerraform].(map[string]any)
					if !ok {
						t.Fatalf("the run record has no bookkeeping: %v", md)
					}
					host, _ := os.Hostname()
					book[backend.BookOwner] = map[string]any{"host": host, "pid": deadPID(t)}
					if _, err := env.store().Update(ctx, backend.EntityProcesses, runID, backend.Attrs{
						"status": backend.ProcessRunning, "metadata": md, "exitCode": nil, "exitedAt": nil}); err != nil {
						t.Fatal(err)
					}
				},
				Config:   durableConfig(env, env.dbPath, "durable", "one"),
				PlanOnly: true,
			},
			{
				PreConfig: func() {
					rec, err := env.store().Get(context.Background(), backend.EntityProcesses, runID)
					if err != nil {
						t.Fatal(err)
					}
					if rec.String("status") != backend.ProcessLost {
						t.Fatalf("the run is %s after the plan; want lost", rec.String("status"))
					}
					lost, _ := rec.JSONMap("metadata")["lost"].(map[string]any)
					if reason, _ := lost["reason"].(string); !strings.Contains(reason, "ended without recording the outcome") {
						t.Fatalf("no reason in metadata.lost: %v", rec.JSONMap("metadata"))
					}
				},
				Config:   durableConfig(env, env.dbPath, "durable", "one"),
				PlanOnly: true,
			},
		},
	})
}
