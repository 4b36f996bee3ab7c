package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

func commandConfig(env *testEnv, body string) string {
	return env.providerHCL() + `
resource "sandbox_sandbox" "test" {
  purpose = "commands"
  env     = { SANDBOX_SECRET = "s3cr3t-sandbox-value" }
}
` + body
}

// processRecords returns the run records of the test's store.
func (e *testEnv) processRecords(t *testing.T) []*backend.Record {
	t.Helper()
	recs, err := e.store().Query(context.Background(), backend.Query{Entity: backend.EntityProcesses})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func (e *testEnv) runCount(want int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		recs, err := e.store().Query(context.Background(), backend.Query{Entity: backend.EntityProcesses})
		if err != nil {
			return err
		}
		if len(recs) != want {
			return fmt.Errorf("%d run records, want %d", len(recs), want)
		}
		return nil
	}
}

func TestAccCommand_sideEffectsTriggersAndImport(t *testing.T) {
	forEachStore(t, testAccCommandSideEffects)
}

func testAccCommandSideEffects(t *testing.T, env *testEnv) {
	cfg := func(trigger string) string {
		return commandConfig(env, fmt.Sprintf(`
resource "sandbox_command" "write" {
  sandbox_id = sandbox_sandbox.test.id
  command    = ["sh", "-c", "echo seeded > marker.txt; echo wrote"]
  env        = { RUN_SECRET = "s3cr3t-run-value" }
  triggers   = { version = %q }
}

resource "sandbox_command" "read" {
  sandbox_id = sandbox_sandbox.test.id
  command    = ["cat", "marker.txt"]
  depends_on = [sandbox_command.write]
}
`, trigger))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: cfg("1"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_command.write", "stdout", "wrote\n"),
					resource.TestCheckResourceAttr("sandbox_command.read", "stdout", "seeded\n"),
					resource.TestCheckResourceAttr("sandbox_command.read", "exit_code", "0"),
					resource.TestCheckResourceAttr("sandbox_command.read", "status", "exited"),
					resource.TestCheckResourceAttr("sandbox_command.read", "truncated", "false"),
					env.runCount(2),
					func(s *terraform.State) error {
						id := s.RootModule().Resources["sandbox_command.write"].Primary.ID
						rec, err := env.store().Get(context.Background(), backend.EntityProcesses, id)
						if err != nil {
							return err
						}
						want := map[string]string{"kind": "command", "mode": "foreground", "status": "exited", "provider": "local", "command": "sh"}
						for k, v := range want {
							if rec.String(k) != v {
								return fmt.Errorf("run record %s = %q, want %q", k, rec.String(k), v)
							}
						}
						if rec.String("sandboxId") != s.RootModule().Resources[sandboxAddr].Primary.ID {
							return fmt.Errorf("run record sandboxId %q is not the sandbox", rec.String("sandboxId"))
						}
						return env.noSecretsInStore("s3cr3t-run-value", "s3cr3t-sandbox-value")
					},
				),
			},
			{Config: cfg("1"), PlanOnly: true},
			{
				Config: cfg("2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction("sandbox_command.write", plancheck.ResourceActionReplace),
						plancheck.ExpectResourceAction("sandbox_command.read", plancheck.ResourceActionNoop),
						plancheck.ExpectResourceAction(sandboxAddr, plancheck.ResourceActionNoop),
					},
				},
				Check: env.runCount(3),
			},
			{
				ResourceName:      "sandbox_command.read",
				ImportState:       true,
				ImportStateVerify: true,
				// Output is kept in state only (never in records): the docs' Import section lists it.
				ImportStateVerifyIgnore: commandImportIgnore,
			},
		},
	})
}

// noSecretsInStore scans every record of every entity, and for SQLite the file byte by byte, for the secrets.
func (e *testEnv) noSecretsInStore(secrets ...string) error {
	for _, ent := range backend.EntityNames() {
		recs, err := e.store().Query(context.Background(), backend.Query{Entity: ent})
		if err != nil {
			return err
		}
		b, _ := json.Marshal(recs)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				return fmt.Errorf("secret %q found in a %s record", s, ent)
			}
		}
	}
	for _, path := range []string{e.dbPath, e.dbPath + "-wal"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				return fmt.Errorf("secret %q found in %s", s, path)
			}
		}
	}
	return nil
}

func TestAccCommand_failureTaintsThenConverges(t *testing.T) {
	env := newTestEnv(t)
	cfg := func(code int) string {
		return commandConfig(env, fmt.Sprintf(`
resource "sandbox_command" "test" {
  sandbox_id = sandbox_sandbox.test.id
  command    = ["sh", "-c", "echo about to fail >&2; exit %d"]
}
`, code))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      cfg(3),
				ExpectError: regexp.MustCompile(`(?s)exited with code 3.*about to fail`),
			},
			{
				PreConfig: func() {
					recs := env.processRecords(t)
					if len(recs) != 1 || recs[0].String("status") != backend.ProcessFailed {
						t.Fatalf("want one failed run record, got %d", len(recs))
					}
					if code, _ := recs[0].Int("exitCode"); code != 3 {
						t.Fatalf("run record exitCode = %d, want 3", code)
					}
				},
				Config: cfg(0),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction("sandbox_command.test", plancheck.ResourceActionReplace)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_command.test", "exit_code", "0"),
					env.runCount(2),
				),
			},
			{Config: cfg(0), PlanOnly: true},
		},
	})
}

func TestAccCommand_allowFailureTimeoutAndTruncation(t *testing.T) {
	env := newTestEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: commandConfig(env, `
resource "sandbox_command" "allowed" {
  sandbox_id    = sandbox_sandbox.test.id
  command       = ["sh", "-c", "exit 7"]
  allow_failure = true
}

resource "sandbox_command" "big" {
  sandbox_id       = sandbox_sandbox.test.id
  command          = ["sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done"]
  output_limit_kib = 1
}
`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_command.allowed", "exit_code", "7"),
					resource.TestCheckResourceAttr("sandbox_command.allowed", "status", "failed"),
					resource.TestCheckResourceAttr("sandbox_command.big", "truncated", "true"),
					resource.TestMatchResourceAttr("sandbox_command.big", "stdout", regexp.MustCompile(`line-2999\n$`)),
					func(s *terraform.State) error {
						if n := len(s.RootModule().Resources["sandbox_command.big"].Primary.Attributes["stdout"]); n > 1024 {
							return fmt.Errorf("stdout kept %d bytes, limit 1024", n)
						}
						return nil
					},
				),
			},
			{
				Config: commandConfig(env, `
resource "sandbox_command" "slow" {
  sandbox_id = sandbox_sandbox.test.id
  command    = ["sleep", "30"]
  timeout    = "1s"
}
`),
				ExpectError: regexp.MustCompile(`(?s)killed at its timeout`),
				Check:       nil,
			},
			{
				PreConfig: func() {
					killed := 0
					for _, r := range env.processRecords(t) {
						if r.String("status") == backend.ProcessKilled {
							killed++
						}
					}
					if killed != 1 {
						t.Fatalf("want one killed run record, got %d", killed)
					}
				},
				Config: commandConfig(env, ""),
			},
		},
	})
}
