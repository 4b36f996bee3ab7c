package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona/daytonafake"
)

const testDaytonaKey = "dtn_test_key_0123456789"

func startDaytonaFake(t *testing.T) *daytonafake.Server {
	t.Helper()
	fake := daytonafake.New(daytonafake.Options{APIKey: testDaytonaKey, Root: t.TempDir()})
	t.Cleanup(fake.Close)
	return fake
}

func daytonaHCL(env *testEnv, fake *daytonafake.Server) string {
	return fmt.Sprintf(`
provider "sandbox" {
  sqlite_path = %q
  backend     = "daytona"
  daytona {
    api_key = %q
    api_url = %q
  }
}
`, env.dbPath, testDaytonaKey, fake.URL())
}

func TestAccDaytona_sandboxLifecycle(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	cfg := func(state string) string {
		return daytonaHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  purpose       = "ci"
  env           = { WHO = "daytona" }
  desired_state = %q
  daytona {
    labels = { team = "infra" }
  }
}
`, state)
	}
	var ext string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if st := fake.SandboxState(ext); st != "" && st != "destroyed" {
				return fmt.Errorf("sandbox %s is %q on the fake after destroy", ext, st)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: cfg("running") + `
resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "echo hello $WHO; echo warn >&2"]
}
`,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "backend", "daytona"),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running"),
					resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "hello daytona\n"),
					resource.TestCheckResourceAttr("sandbox_command.c", "stderr", "warn\n"),
					func(s *terraform.State) error {
						ext = attrOf(s, "sandbox_sandbox.s", "external_sandbox_id")
						rec, err := env.record(attrOf(s, "sandbox_sandbox.s", "id"))
						if err != nil {
							return err
						}
						if _, ok := rec.JSONMap("params")["daytona"].(map[string]any)["ephemeral"]; !ok {
							return fmt.Errorf("params.daytona.ephemeral missing: %v", rec.JSONMap("params"))
						}
						return env.noSecretsInStore(testDaytonaKey)
					},
				),
			},
			{Config: cfg("stopped"), Check: resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "stopped")},
			{Config: cfg("stopped"), PlanOnly: true},
			{Config: cfg("running"), Check: resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running")},
			{
				ResourceName:            "sandbox_sandbox.s",
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"env"},
			},
			{
				PreConfig: func() {
					if !fake.DeleteSandboxOutOfBand(ext) {
						t.Fatalf("could not delete %s on the fake", ext)
					}
				},
				Config: cfg("running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionCreate),
				}},
				Check: func(s *terraform.State) error {
					ext = attrOf(s, "sandbox_sandbox.s", "external_sandbox_id")
					return nil
				},
			},
		},
	})
}

func TestAccDaytona_volumeSetupWorkspace(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	cfg := func(runtime string) string {
		return daytonaHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_volume" "v" {
  name = "shared-data"
}

resource "sandbox_setup" "a" {
  command = ["sh", "-c", "echo tools > tools.txt"]
}

resource "sandbox_setup" "b" {
  command = ["sh", "-c", "echo tools > tools.txt"]
}

resource "sandbox_sandbox" "s" {
  runtime  = %q
  setup_id = sandbox_setup.a.id
  volume {
    volume_id  = sandbox_volume.v.id
    mount_path = "/home/daytona/data"
  }
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "test -f data/kept || date > data/kept; cat tools.txt; cat data/kept | wc -l"]
}

resource "sandbox_workspace" "w" {
  name     = "w"
  setup_id = sandbox_setup.b.id
}

resource "sandbox_command" "seed" {
  workspace_id = sandbox_workspace.w.id
  command      = ["sh", "-c", "echo seeded > seed.txt"]
}

resource "sandbox_command" "read" {
  workspace_id = sandbox_workspace.w.id
  command      = ["cat", "seed.txt"]
  depends_on   = [sandbox_command.seed]
}
`, runtime)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             daytonaNothingLeft(env, fake),
		Steps: []resource.TestStep{
			{
				Config: cfg("python3.12"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_volume.v", "status", "active"),
					resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "tools\n1\n"),
					resource.TestCheckResourceAttr("sandbox_command.read", "stdout", "seeded\n"),
					resource.TestCheckResourceAttrPair("sandbox_setup.a", "snapshot_id", "sandbox_setup.b", "snapshot_id"),
					func(*terraform.State) error {
						if n := fake.SnapshotBuilds(); n != 1 {
							return fmt.Errorf("%d snapshot builds for two identical setups, want 1", n)
						}
						return nil
					},
				),
			},
			{Config: cfg("python3.12"), PlanOnly: true},
			{
				// A replacement sandbox mounts the same volume and finds the file the first one wrote.
				Config: cfg("python3.13"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "tools\n1\n"),
			},
		},
	})
}

func TestAccDaytona_failingSetupAndMissingKey(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	for _, v := range []string{"DAYTONA_API_KEY", "DAYTONA_JWT_TOKEN"} {
		t.Setenv(v, "")
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: daytonaHCL(env, fake) + `
resource "sandbox_setup" "bad" {
  command = ["sh", "-c", "echo half; echo broken >&2; exit 9"]
}
`,
				ExpectError: regexp.MustCompile(`(?s)exited with code 9.*broken`),
			},
			{
				PreConfig: func() {
					for _, name := range fake.Snapshots() {
						if strings.HasPrefix(name, "ekairos-setup-") {
							t.Fatalf("a failed setup left snapshot %s (all: %v)", name, fake.Snapshots())
						}
					}
				},
				Config:      env.providerHCL() + "resource \"sandbox_sandbox\" \"s\" {\n  backend = \"daytona\"\n}\n",
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)DAYTONA_API_KEY`),
			},
			{Config: daytonaHCL(env, fake)},
		},
	})
}
