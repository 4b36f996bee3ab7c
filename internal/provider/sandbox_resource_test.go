package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/lifecycletest"
)

const sandboxAddr = "sandbox_sandbox.test"

func sandboxConfig(env *testEnv, body string) string {
	return env.providerHCL() + fmt.Sprintf(`
resource "sandbox_sandbox" "test" {
%s
}
`, body)
}

// checkRecord asserts the record behind the resource's id: it exists, is active, and its engine object is there.
func (e *testEnv) checkRecord() resource.TestCheckFunc {
	const status = backend.StatusActive
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[sandboxAddr]
		if !ok {
			return errors.New("sandbox_sandbox.test not in state")
		}
		rec, err := e.record(rs.Primary.ID)
		if err != nil {
			return fmt.Errorf("record of state id %s: %w", rs.Primary.ID, err)
		}
		if rec.ID != rs.Primary.ID {
			return fmt.Errorf("state id %s != record id %s", rs.Primary.ID, rec.ID)
		}
		if got := rec.String("status"); got != status {
			return fmt.Errorf("record status = %q, want %q", got, status)
		}
		if got := rec.String("externalSandboxId"); got != rs.Primary.Attributes["external_sandbox_id"] {
			return fmt.Errorf("record externalSandboxId %q != state external_sandbox_id %q", got, rs.Primary.Attributes["external_sandbox_id"])
		}
		if _, err = e.engine().GetSandbox(context.Background(), rec.String("externalSandboxId")); err != nil {
			return fmt.Errorf("engine object %s: %w", rec.String("externalSandboxId"), err)
		}
		return nil
	}
}

// checkDestroyed asserts that every sandbox record is shutdown with shutdownAt, and no engine object is left.
func (e *testEnv) checkDestroyed(*terraform.State) error {
	ctx := context.Background()
	recs, err := e.store().Query(ctx, backend.Query{Entity: backend.EntitySandboxes})
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return errors.New("no sandbox records at all")
	}
	for _, r := range recs {
		if r.String("status") != backend.StatusShutdown {
			return fmt.Errorf("record %s is %q after destroy, want shutdown", r.ID, r.String("status"))
		}
		if _, ok := r.Int("shutdownAt"); !ok {
			return fmt.Errorf("record %s has no shutdownAt", r.ID)
		}
	}
	left, err := e.engine().ListSandboxes(ctx)
	if err != nil {
		return err
	}
	if len(left) != 0 {
		return fmt.Errorf("%d engine objects left after destroy, first %s", len(left), left[0].ExternalID)
	}
	return nil
}

func TestAccSandbox_basic(t *testing.T) {
	forEachStore(t, testAccSandboxBasic)
}

func testAccSandboxBasic(t *testing.T, env *testEnv) {
	cfg := sandboxConfig(env, `
  runtime = "node24"
  timeout = "3m"
  ports   = [3000, 8080]
  purpose = "ci"
  params  = jsonencode({ team = "infra", tier = 2 })
  env     = { GREETING = "hello" }
`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(sandboxAddr, tfjsonpath.New("backend"), knownvalue.StringExact("local")),
					statecheck.ExpectKnownValue(sandboxAddr, tfjsonpath.New("status"), knownvalue.StringExact("active")),
					statecheck.ExpectKnownValue(sandboxAddr, tfjsonpath.New("state"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue(sandboxAddr, tfjsonpath.New("desired_state"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue(sandboxAddr, tfjsonpath.New("timeout"), knownvalue.StringExact("3m")),
					statecheck.ExpectKnownValue(sandboxAddr, tfjsonpath.New("urls"), knownvalue.MapSizeExact(2)),
					statecheck.ExpectKnownValue(sandboxAddr, tfjsonpath.New("external_sandbox_id"), knownvalue.StringRegexp(regexp.MustCompile(`.+`))),
					statecheck.ExpectKnownValue(sandboxAddr, tfjsonpath.New("id"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f-]{36}$`))),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					env.checkRecord(),
					func(s *terraform.State) error {
						rec, err := env.record(s.RootModule().Resources[sandboxAddr].Primary.ID)
						if err != nil {
							return err
						}
						if ms, _ := rec.Int("timeout"); ms != 180000 {
							return fmt.Errorf("record timeout = %d ms, want 180000", ms)
						}
						if rec.String("purpose") != "ci" || rec.String("runtime") != "node24" || rec.String("provider") != "local" {
							return fmt.Errorf("record fields: %+v", rec.Attrs)
						}
						params := rec.JSONMap("params")
						if params["team"] != "infra" {
							return fmt.Errorf("record params lack the caller's params: %v", params)
						}
						if _, ok := params["local"]; !ok {
							return fmt.Errorf("record params lack params.local: %v", params)
						}
						for _, v := range rec.Attrs {
							if fmt.Sprint(v) != "" && regexp.MustCompile(`hello`).MatchString(fmt.Sprint(v)) {
								return fmt.Errorf("an env value reached the record: %v", rec.Attrs)
							}
						}
						return nil
					},
				),
			},
			{
				Config:   cfg,
				PlanOnly: true,
			},
			{
				ResourceName:            sandboxAddr,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"env"}, // env is never recorded: it may hold secrets
			},
		},
	})
}

func TestAccSandbox_desiredStateInPlace(t *testing.T) {
	env := newTestEnv(t)
	cfg := func(state string) string {
		return sandboxConfig(env, fmt.Sprintf("  desired_state = %q\n", state))
	}
	var id string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config: cfg("running"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(sandboxAddr, "state", "running"),
					func(s *terraform.State) error { id = s.RootModule().Resources[sandboxAddr].Primary.ID; return nil },
				),
			},
			{
				Config: cfg("stopped"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(sandboxAddr, plancheck.ResourceActionUpdate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(sandboxAddr, "state", "stopped"),
					resource.TestCheckResourceAttrPtr(sandboxAddr, "id", &id),
					env.engineState("stopped"),
				),
			},
			{Config: cfg("stopped"), PlanOnly: true},
			{
				Config: cfg("running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(sandboxAddr, plancheck.ResourceActionUpdate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(sandboxAddr, "state", "running"),
					resource.TestCheckResourceAttrPtr(sandboxAddr, "id", &id),
					env.engineState("running"),
				),
			},
			{
				// Stopped behind Terraform's back: the plan shows the change back to running.
				PreConfig: func() {
					rec, err := env.record(id)
					if err != nil {
						t.Fatal(err)
					}
					if err := env.engine().StopSandbox(context.Background(), rec.String("externalSandboxId")); err != nil {
						t.Fatal(err)
					}
				},
				Config: cfg("running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(sandboxAddr, plancheck.ResourceActionUpdate)},
				},
				Check: env.engineState("running"),
			},
		},
	})
}

func (e *testEnv) engineState(want string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rec, err := e.record(s.RootModule().Resources[sandboxAddr].Primary.ID)
		if err != nil {
			return err
		}
		sb, err := e.engine().GetSandbox(context.Background(), rec.String("externalSandboxId"))
		if err != nil {
			return err
		}
		if sb.State != want {
			return fmt.Errorf("engine state = %q, want %q", sb.State, want)
		}
		return nil
	}
}

func TestAccSandbox_runtimeReplaces(t *testing.T) {
	env := newTestEnv(t)
	var first string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config: sandboxConfig(env, `  runtime = "node24"`),
				Check: func(s *terraform.State) error {
					first = s.RootModule().Resources[sandboxAddr].Primary.ID
					return nil
				},
			},
			{
				Config: sandboxConfig(env, `  runtime = "python3.13"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(sandboxAddr, plancheck.ResourceActionDestroyBeforeCreate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					env.checkRecord(),
					func(s *terraform.State) error {
						if s.RootModule().Resources[sandboxAddr].Primary.ID == first {
							return errors.New("the id did not change on replacement")
						}
						old, err := env.record(first)
						if err != nil {
							return err
						}
						if old.String("status") != backend.StatusShutdown {
							return fmt.Errorf("the replaced sandbox's record is %q, want shutdown", old.String("status"))
						}
						return nil
					},
				),
			},
		},
	})
}

func TestAccSandbox_inPlaceFields(t *testing.T) {
	env := newTestEnv(t)
	var id string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config: sandboxConfig(env, `
  timeout = "1m"
  purpose = "ci"
  params  = jsonencode({ a = 1 })
  env     = { A = "1" }
`),
				Check: func(s *terraform.State) error { id = s.RootModule().Resources[sandboxAddr].Primary.ID; return nil },
			},
			{
				Config: sandboxConfig(env, `
  timeout = "2m"
  purpose = "agent"
  params  = jsonencode({ a = 2 })
  env     = { A = "2" }
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(sandboxAddr, plancheck.ResourceActionUpdate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPtr(sandboxAddr, "id", &id),
					func(*terraform.State) error {
						rec, err := env.record(id)
						if err != nil {
							return err
						}
						ms, _ := rec.Int("timeout")
						a, _ := backend.AsInt(rec.JSONMap("params")["a"])
						if ms != 120000 || rec.String("purpose") != "agent" || a != 2 {
							return fmt.Errorf("record not updated: %+v", rec.Attrs)
						}
						return nil
					},
				),
			},
		},
	})
}

func TestAccSandbox_disappears(t *testing.T) {
	env := newTestEnv(t)
	cfg := sandboxConfig(env, `  purpose = "disappears"`)
	var id string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: func(s *terraform.State) error {
					id = s.RootModule().Resources[sandboxAddr].Primary.ID
					rec, err := env.record(id)
					if err != nil {
						return err
					}
					// Remove the sandbox directory behind Terraform's back.
					dir := filepath.Join(env.root, "sandboxes", rec.String("externalSandboxId"))
					if _, err := os.Stat(dir); err != nil {
						return fmt.Errorf("sandbox directory: %w", err)
					}
					return os.RemoveAll(dir)
				},
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectResourceAction(sandboxAddr, plancheck.ResourceActionCreate)},
				},
			},
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					env.checkRecord(),
					func(s *terraform.State) error {
						if s.RootModule().Resources[sandboxAddr].Primary.ID == id {
							return errors.New("the sandbox was not re-created under a new record")
						}
						old, err := env.record(id)
						if err != nil {
							return err
						}
						if old.String("status") != backend.StatusShutdown {
							return fmt.Errorf("the vanished sandbox's record is %q, want shutdown", old.String("status"))
						}
						if _, ok := old.Int("shutdownAt"); !ok {
							return errors.New("the vanished sandbox's record has no shutdownAt")
						}
						return nil
					},
				),
			},
		},
	})
}

// failingEngine creates the engine object and then fails, as an engine that dies half-way would.
type failingEngine struct {
	backend.Engine
	fail *bool
}

func (f failingEngine) CreateSandbox(ctx context.Context, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	sb, err := f.Engine.CreateSandbox(ctx, spec)
	if err != nil || !*f.fail {
		return sb, err
	}
	return nil, errors.New("injected failure after the engine object was made")
}

func TestAccSandbox_failedCreateIsTaintedAndConverges(t *testing.T) {
	env := newTestEnv(t)
	fail := true
	testEngineHook = func(e backend.Engine) backend.Engine { return failingEngine{Engine: e, fail: &fail} }
	t.Cleanup(func() { testEngineHook = nil })
	cfg := sandboxConfig(env, `  purpose = "flaky"`)
	var firstID string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config:      cfg,
				ExpectError: regexp.MustCompile(`injected\s+failure`),
			},
			{
				PreConfig: func() {
					recs, err := env.store().Query(context.Background(), backend.Query{Entity: backend.EntitySandboxes})
					if err != nil || len(recs) != 1 {
						t.Fatalf("want one record after the failed create, got %d (%v)", len(recs), err)
					}
					firstID = recs[0].ID
					if recs[0].String("status") != backend.StatusError {
						t.Fatalf("record status after failed create = %q, want error", recs[0].String("status"))
					}
					if msg, _ := recs[0].JSONMap("params")["error"].(string); msg == "" {
						t.Fatal("params.error is empty")
					}
					fail = false
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(sandboxAddr, plancheck.ResourceActionDestroyBeforeCreate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					env.checkRecord(),
					env.engineObjects(1),
					func(*terraform.State) error {
						old, err := env.record(firstID)
						if err != nil {
							return err
						}
						if old.String("status") != backend.StatusShutdown {
							return fmt.Errorf("failed record is %q after the replacing apply, want shutdown", old.String("status"))
						}
						return nil
					},
				),
			},
			{Config: cfg, PlanOnly: true},
		},
	})
}

func (e *testEnv) engineObjects(n int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		left, err := e.engine().ListSandboxes(context.Background())
		if err != nil {
			return err
		}
		if len(left) != n {
			return fmt.Errorf("%d engine objects, want %d", len(left), n)
		}
		return nil
	}
}

// A create interrupted after the record was written (the apply killed before Terraform saved state) leaves a
// creating record owned by a dead process and maybe a half-made engine object. The next apply adopts them.
func TestAccSandbox_interruptedCreateAdopted(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	req := backend.SandboxRequest{Backend: "local", Spec: backend.SandboxSpec{Purpose: "interrupted", Timeout: defaultSandboxTimeoutDuration()}}
	// The provider in this test runs in the test process: its scope is this directory's default scope.
	lc := &backend.Lifecycle{Store: env.store(), Engines: backend.EngineMap{"local": env.engine()}, Scope: defaultScope()}
	id, err := lifecycletest.SimulateInterruptedCreate(ctx, lc, req, deadPID(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.engineObjects(1)(nil); err != nil {
		t.Fatalf("the simulation should leave one half-made engine object: %v", err)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config: sandboxConfig(env, `  purpose = "interrupted"`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(sandboxAddr, "id", id),
					env.checkRecord(),
					env.engineObjects(1),
				),
			},
		},
	})
}
