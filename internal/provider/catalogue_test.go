package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

func attrOf(s *terraform.State, addr, name string) string {
	rs, ok := s.RootModule().Resources[addr]
	if !ok {
		return ""
	}
	return rs.Primary.Attributes[name]
}

func TestAccVolume_dataSurvivesReplacementAndInUseGuard(t *testing.T) {
	env := newTestEnv(t)
	sandbox := func(runtime, cmd string) string {
		return fmt.Sprintf(`
resource "sandbox_volume" "data" {
  name = "data"
}

resource "sandbox_sandbox" "s" {
  runtime = %q
  volume {
    volume_id  = sandbox_volume.data.id
    mount_path = "/data"
  }
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", %q]
}
`, runtime, cmd)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: env.providerHCL() + sandbox("one", "echo kept > /data/file; cat /data/file"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_volume.data", "status", "active"),
					resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "kept\n"),
					func(s *terraform.State) error {
						return os.WriteFile(filepath.Join(env.dir, "volume-id"), []byte(attrOf(s, "sandbox_volume.data", "id")), 0o600)
					},
				),
			},
			{Config: env.providerHCL() + sandbox("one", "echo kept > /data/file; cat /data/file"), PlanOnly: true},
			{
				// A new sandbox (runtime change replaces it) sees what the old one wrote.
				Config: env.providerHCL() + sandbox("two", "cat /data/file"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionDestroyBeforeCreate),
					plancheck.ExpectResourceAction("sandbox_volume.data", plancheck.ResourceActionNoop),
				}},
				Check: resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "kept\n"),
			},
			{
				ResourceName:      "sandbox_volume.data",
				ImportState:       true,
				ImportStateVerify: true,
			},
			{
				// The sandbox names the volume by its literal id (read from a file), so Terraform does not know the
				// dependency and destroys the volume while the sandbox still mounts it: that must fail, not lose data.
				Config: env.providerHCL() + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  runtime = "two"
  volume {
    volume_id  = trimspace(file(%q))
    mount_path = "/data"
  }
}
`, filepath.Join(env.dir, "volume-id")),
				ExpectError: regexp.MustCompile(`(?s)mounted by sandbox`),
			},
			{
				// Back to the configuration with the dependency, so that the final destroy runs in order.
				Config: env.providerHCL() + sandbox("two", "cat /data/file"),
				Check:  resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "kept\n"),
			},
		},
	})
}

func TestAccSetup_reusedOnceFailingAndRebuilt(t *testing.T) {
	env := newTestEnv(t)
	cfg := env.providerHCL() + `
resource "sandbox_setup" "a" {
  command = ["sh", "-c", "cat /proc/sys/kernel/random/uuid > run-id; echo built"]
}

resource "sandbox_setup" "b" {
  command = ["sh", "-c", "cat /proc/sys/kernel/random/uuid > run-id; echo built"]
}

resource "sandbox_sandbox" "from_a" {
  setup_id = sandbox_setup.a.id
}

resource "sandbox_sandbox" "from_b" {
  setup_id = sandbox_setup.b.id
}

resource "sandbox_command" "a" {
  sandbox_id = sandbox_sandbox.from_a.id
  command    = ["cat", "run-id"]
}

resource "sandbox_command" "b" {
  sandbox_id = sandbox_sandbox.from_b.id
  command    = ["cat", "run-id"]
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPair("sandbox_setup.a", "fingerprint", "sandbox_setup.b", "fingerprint"),
					resource.TestCheckResourceAttrPair("sandbox_setup.a", "snapshot_id", "sandbox_setup.b", "snapshot_id"),
					// One run, not two: both sandboxes see the same run id.
					resource.TestCheckResourceAttrPair("sandbox_command.a", "stdout", "sandbox_command.b", "stdout"),
					resource.TestMatchResourceAttr("sandbox_sandbox.from_a", "setup_copy", regexp.MustCompile(`^(overlayfs|reflink|copy)$`)),
					func(s *terraform.State) error {
						if attrOf(s, "sandbox_setup.a", "reused") == attrOf(s, "sandbox_setup.b", "reused") {
							return errors.New("exactly one of the two setups should report reused = true")
						}
						return nil
					},
				),
			},
			{Config: cfg, PlanOnly: true},
			{
				ResourceName:      "sandbox_setup.a",
				ImportState:       true,
				ImportStateVerify: true,
			},
			{
				// The artifact vanishes behind Terraform's back: the next plan rebuilds both setups.
				PreConfig: func() {
					recs, err := env.store().Query(context.Background(), backend.Query{Entity: backend.EntitySetups})
					if err != nil || len(recs) == 0 {
						t.Fatalf("setup records: %v", err)
					}
					se, ok := env.engine().(backend.SetupEngine)
					if !ok {
						t.Fatal("the local engine has no setups")
					}
					if err := se.DeleteSetup(context.Background(), recs[0].String("snapshotId")); err != nil {
						t.Fatal(err)
					}
				},
				Config: cfg,
				// Rebuilt in place under the same record ids: nothing made from the setups is replaced.
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_setup.a", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("sandbox_setup.b", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("sandbox_sandbox.from_a", plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction("sandbox_sandbox.from_b", plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction("sandbox_command.a", plancheck.ResourceActionNoop),
				}},
				Check: func(s *terraform.State) error {
					for _, addr := range []string{"sandbox_setup.a", "sandbox_setup.b"} {
						rec, err := env.store().Get(context.Background(), backend.EntitySetups, attrOf(s, addr, "id"))
						if err != nil {
							return err
						}
						if rec.String("status") != backend.StatusActive || rec.String("snapshotId") != attrOf(s, addr, "snapshot_id") || rec.String("snapshotId") == "" {
							return fmt.Errorf("%s after the rebuild: record %v, state snapshot_id %q", addr, rec.Attrs, attrOf(s, addr, "snapshot_id"))
						}
						se, ok := env.engine().(backend.SetupEngine)
						if !ok {
							return errors.New("the local engine has no setups")
						}
						if _, err := se.GetSetup(context.Background(), rec.String("snapshotId")); err != nil {
							return fmt.Errorf("%s: the rebuilt artifact %s: %w", addr, rec.String("snapshotId"), err)
						}
					}
					n, err := env.store().Query(context.Background(), backend.Query{Entity: backend.EntitySetups})
					if err != nil {
						return err
					}
					if len(n) != 2 {
						return fmt.Errorf("%d setup records after the rebuild, want the same 2", len(n))
					}
					return nil
				},
			},
			{Config: cfg, PlanOnly: true},
		},
	})
}

func TestAccSetup_failingCommand(t *testing.T) {
	env := newTestEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: env.providerHCL() + `
resource "sandbox_setup" "bad" {
  command = ["sh", "-c", "echo compiling; echo missing dependency >&2; exit 5"]
}
`,
				ExpectError: regexp.MustCompile(`(?s)exited with code 5.*missing dependency`),
			},
			{
				PreConfig: func() {
					recs, err := env.store().Query(context.Background(), backend.Query{Entity: backend.EntitySetups})
					if err != nil || len(recs) != 1 || recs[0].String("status") != backend.StatusError || recs[0].String("snapshotId") != "" {
						t.Fatalf("want one error setup record without artifact, got %d (%v)", len(recs), err)
					}
					se, _ := env.engine().(backend.SetupEngine)
					if _, err := se.FindSetup(context.Background(), recs[0].String("fingerprint")); !errors.Is(err, backend.ErrNotFound) {
						t.Fatalf("a failed setup left an artifact: %v", err)
					}
				},
				Config: env.providerHCL(),
			},
		},
	})
}

func TestAccWorkspace_fromSetupFilesPersist(t *testing.T) {
	env := newTestEnv(t)
	cfg := env.providerHCL() + `
resource "sandbox_setup" "base" {
  command = ["sh", "-c", "echo from-setup > base.txt"]
}

resource "sandbox_workspace" "w" {
  name          = "w"
  setup_id      = sandbox_setup.base.id
  exposed_ports = [3000]
  timeout       = "2m"
}

resource "sandbox_command" "seed" {
  workspace_id = sandbox_workspace.w.id
  command      = ["sh", "-c", "echo seeded > seed.txt"]
}

resource "sandbox_command" "read" {
  workspace_id = sandbox_workspace.w.id
  command      = ["sh", "-c", "cat base.txt seed.txt"]
  depends_on   = [sandbox_command.seed]
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			recs, err := env.store().Query(context.Background(), backend.Query{Entity: backend.EntityWorkspaces})
			if err != nil {
				return err
			}
			for _, r := range recs {
				if r.String("status") != backend.WorkspaceArchived {
					return fmt.Errorf("workspace record %s is %s after destroy", r.ID, r.String("status"))
				}
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_workspace.w", "status", "active"),
					resource.TestCheckResourceAttr("sandbox_command.read", "stdout", "from-setup\nseeded\n"),
					func(s *terraform.State) error {
						rec, err := env.store().Get(context.Background(), backend.EntityProcesses, attrOf(s, "sandbox_command.read", "id"))
						if err != nil {
							return err
						}
						if rec.String("workspaceId") != attrOf(s, "sandbox_workspace.w", "id") {
							return fmt.Errorf("run record workspaceId = %q", rec.String("workspaceId"))
						}
						// The workspace record carries sandkit's keys with sandkit's spellings.
						ws, err := env.store().Get(context.Background(), backend.EntityWorkspaces, attrOf(s, "sandbox_workspace.w", "id"))
						if err != nil {
							return err
						}
						md := ws.JSONMap("metadata")
						if pol, _ := md["sandkit:policy"].(map[string]any); pol["mode"] != "deny-all" {
							return fmt.Errorf("sandkit:policy = %v, want mode deny-all", md["sandkit:policy"])
						}
						if lc, _ := md["sandkit:sandbox"].(map[string]any); lc["kind"] != "session" || lc["sessionId"] != ws.String("sandboxId") {
							return fmt.Errorf("sandkit:sandbox = %v, want a session on %s", md["sandkit:sandbox"], ws.String("sandboxId"))
						}
						return nil
					},
				),
			},
			{Config: cfg, PlanOnly: true},
			{
				Config: strings.Replace(cfg, `timeout       = "2m"`, `timeout       = "3m"`, 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_workspace.w", plancheck.ResourceActionUpdate),
				}},
			},
			{
				ResourceName:      "sandbox_workspace.w",
				ImportState:       true,
				ImportStateVerify: true,
			},
		},
	})
}

func TestAccPolicy_credentialsNeverInState(t *testing.T) {
	env := newTestEnv(t)
	const token = "ghp_secretTokenValue123"
	cfg := env.providerHCL() + fmt.Sprintf(`
resource "sandbox_sandbox" "p" {
  policy {
    mode                   = "allow_list"
    hosts                  = ["example.com"]
    presets                = ["github", "npm"]
    credentials_wo         = { github = %q }
    credentials_wo_version = 1
  }
}
`, token)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.p", "policy.mode", "allow_list"),
					resource.TestCheckNoResourceAttr("sandbox_sandbox.p", "policy.credentials_wo.github"),
					func(s *terraform.State) error {
						for k, v := range s.RootModule().Resources["sandbox_sandbox.p"].Primary.Attributes {
							if strings.Contains(v, token) {
								return fmt.Errorf("the credential reached state in %s", k)
							}
						}
						rec, err := env.record(attrOf(s, "sandbox_sandbox.p", "id"))
						if err != nil {
							return err
						}
						if pol := rec.JSONMap("params")["policy"]; !strings.Contains(fmt.Sprint(pol), "redacted") {
							return fmt.Errorf("the record's policy is not the redacted form: %v", pol)
						}
						return env.noSecretsInStore(token)
					},
				),
			},
			{Config: cfg, PlanOnly: true},
			{
				Config: env.providerHCL() + `
resource "sandbox_sandbox" "p" {
  policy {
    mode = "allow_list"
  }
}
`,
				ExpectError: regexp.MustCompile(`(?s)at least one host or preset`),
			},
			{
				Config: env.providerHCL() + `
resource "sandbox_sandbox" "p" {
  policy {
    mode           = "allow_list"
    presets        = ["npm"]
    credentials_wo = { github = "x" }
  }
}
`,
				ExpectError: regexp.MustCompile(`(?s)not in presets`),
			},
			{Config: env.providerHCL()}, // a valid last step, which the final destroy uses
		},
	})
}

// TestAccPolicy_credentialFromAnUnknownValue: a credential whose value is unknown at plan time (from a resource
// not made yet, or an ephemeral variable during validate) plans and applies; it once failed the plan with
// "Received unknown value".
func TestAccPolicy_credentialFromAnUnknownValue(t *testing.T) {
	env := newTestEnv(t)
	const token = "ghp_tokenKnownOnlyAtApply42"
	cfg := env.providerHCL() + fmt.Sprintf(`
resource "terraform_data" "token" {
  input = %q
}

resource "sandbox_sandbox" "p" {
  policy {
    mode                   = "allow_list"
    presets                = ["github"]
    credentials_wo         = { github = terraform_data.token.output }
    credentials_wo_version = 1
  }
}
`, token)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: func(s *terraform.State) error {
					for k, v := range s.RootModule().Resources["sandbox_sandbox.p"].Primary.Attributes {
						if strings.Contains(v, token) {
							return fmt.Errorf("the credential reached state in %s", k)
						}
					}
					return env.noSecretsInStore(token)
				},
			},
			{Config: cfg, PlanOnly: true},
		},
	})
}
