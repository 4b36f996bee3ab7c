package provider

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
)

const snapshotRoute = "POST /v2/sandboxes/sessions/{sessionId}/snapshot"

// Setups and workspaces on Vercel with the real terraform: two identical setups make one snapshot (counted on
// the fake); a sandbox and a workspace start from it; the workspace resumes for each command and keeps what
// they wrote; a setup snapshot never expires unless `expiration` says so; a snapshot that expired or was
// deleted is found on refresh and the setup is built again; destroy leaves nothing on the fake.
func TestAccVercel_setupReuseExpiryAndWorkspace(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFake(t)
	cfg := vercelHCL(env, fake) + `
resource "sandbox_setup" "a" {
  backend = "vercel"
  command = ["sh", "-c", "echo tools > tools.txt; od -An -N8 -tx1 /dev/urandom | tr -d ' \\n' > run-id"]
}

resource "sandbox_setup" "b" {
  backend = "vercel"
  command = ["sh", "-c", "echo tools > tools.txt; od -An -N8 -tx1 /dev/urandom | tr -d ' \\n' > run-id"]
}

resource "sandbox_setup" "short" {
  backend = "vercel"
  command = ["sh", "-c", "echo short > short.txt"]
  vercel {
    expiration = "30d"
  }
}

resource "sandbox_sandbox" "s" {
  backend  = "vercel"
  setup_id = sandbox_setup.a.id
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "cat tools.txt run-id"]
}

resource "sandbox_workspace" "w" {
  backend  = "vercel"
  name     = "w"
  setup_id = sandbox_setup.b.id
}

resource "sandbox_command" "seed" {
  workspace_id = sandbox_workspace.w.id
  command      = ["sh", "-c", "cat tools.txt; echo seeded > seed.txt"]
}

resource "sandbox_command" "read" {
  workspace_id = sandbox_workspace.w.id
  command      = ["cat", "seed.txt"]
  depends_on   = [sandbox_command.seed]
}
`
	var snapA, snapShort, runID, ws string
	resumes := 0
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             vercelDestroyed(env, fake),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_setup.a", "status", "active"),
					resource.TestCheckResourceAttrPair("sandbox_setup.a", "fingerprint", "sandbox_setup.b", "fingerprint"),
					resource.TestCheckResourceAttrPair("sandbox_setup.a", "snapshot_id", "sandbox_setup.b", "snapshot_id"),
					resource.TestMatchResourceAttr("sandbox_command.c", "stdout", regexp.MustCompile(`^tools\n[0-9a-f]{16}$`)),
					resource.TestCheckResourceAttr("sandbox_command.seed", "stdout", "tools\n"),
					resource.TestCheckResourceAttr("sandbox_command.read", "stdout", "seeded\n"),
					func(s *terraform.State) error {
						if attrOf(s, "sandbox_setup.a", "reused") == attrOf(s, "sandbox_setup.b", "reused") {
							return errors.New("exactly one of the two identical setups should report reused = true")
						}
						// Two identical setups and one other: two builds, two snapshots taken.
						if n := fake.Requests(snapshotRoute); n != 2 {
							return fmt.Errorf("%d setup snapshots taken, want 2 (a and b share one)", n)
						}
						snapA = attrOf(s, "sandbox_setup.a", "snapshot_id")
						snapShort = attrOf(s, "sandbox_setup.short", "snapshot_id")
						runID = strings.TrimPrefix(attrOf(s, "sandbox_command.c", "stdout"), "tools\n")
						if exp, ok := fake.SnapshotExpiresAt(snapA); !ok || exp != 0 {
							return fmt.Errorf("setup snapshot %s: expiresAt %d (exists %v), want never", snapA, exp, ok)
						}
						exp, ok := fake.SnapshotExpiresAt(snapShort)
						want := time.Now().Add(30 * 24 * time.Hour).UnixMilli()
						if !ok || exp < want-time.Hour.Milliseconds() || exp > want+time.Hour.Milliseconds() {
							return fmt.Errorf("setup snapshot %s with expiration 30d: expiresAt %d (exists %v), want about %d", snapShort, exp, ok, want)
						}
						// The workspace is a persistent named sandbox, stopped between commands (its files
						// snapshotted), resumed for each of them.
						ws = attrOf(s, "sandbox_workspace.w", "external_id")
						if !strings.HasPrefix(ws, "wks-") {
							return fmt.Errorf("workspace external id %q", ws)
						}
						if st := fake.SandboxStatus(ws); st != "stopped" {
							return fmt.Errorf("workspace %s is %q between commands, want stopped", ws, st)
						}
						if n := fake.Resumes(); n < 2 {
							return fmt.Errorf("%d resumes for two workspace commands, want at least 2", n)
						}
						resumes = fake.Resumes()
						if len(fake.Snapshots(ws)) == 0 {
							return fmt.Errorf("workspace %s has no snapshot of its files", ws)
						}
						rec, err := env.store().Get(t.Context(), backend.EntitySetups, attrOf(s, "sandbox_setup.short", "id"))
						if err != nil {
							return err
						}
						if md, _ := rec.JSONMap("params")["vercel"].(map[string]any); md["expiration"] != "30d" {
							return fmt.Errorf("params.vercel of the short setup = %v, want expiration 30d", md)
						}
						return nil
					},
				),
			},
			{Config: cfg, PlanOnly: true},
			{
				// Refreshing the stopped workspace (and everything else) resumes nothing.
				RefreshState: true,
				Check: func(*terraform.State) error {
					if n := fake.Resumes(); n != resumes {
						return fmt.Errorf("a refresh resumed %d sandboxes", n-resumes)
					}
					if st := fake.SandboxStatus(ws); st != "stopped" {
						return fmt.Errorf("workspace %s is %q after a refresh, want stopped", ws, st)
					}
					return nil
				},
			},
			{
				// One setup snapshot expires, the other is deleted in the dashboard: the refresh finds both
				// gone and the apply builds them again (a and b once) in place, under the same record ids, so
				// that nothing started from them is replaced.
				PreConfig: func() {
					if !fake.ExpireSnapshot(snapA) || !fake.DeleteSnapshot(snapShort) {
						t.Fatalf("snapshots %s, %s were not on the fake", snapA, snapShort)
					}
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_setup.a", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("sandbox_setup.b", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("sandbox_setup.short", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPair("sandbox_setup.a", "snapshot_id", "sandbox_setup.b", "snapshot_id"),
					resource.TestCheckResourceAttr("sandbox_command.read", "stdout", "seeded\n"),
					func(s *terraform.State) error {
						if n := fake.Requests(snapshotRoute); n != 4 {
							return fmt.Errorf("%d setup snapshots taken in all, want 4 (2 builds, then 2 rebuilds)", n)
						}
						if got := attrOf(s, "sandbox_setup.a", "snapshot_id"); got == snapA {
							return errors.New("setup a kept its expired snapshot")
						}
						if got := attrOf(s, "sandbox_setup.short", "snapshot_id"); got == snapShort {
							return errors.New("setup short kept its deleted snapshot")
						}
						if got := strings.TrimPrefix(attrOf(s, "sandbox_command.c", "stdout"), "tools\n"); got != runID {
							return errors.New("the sandbox made from the setup was replaced: it sees another run id")
						}
						if n := vercelRecordCount(t, env, backend.EntitySetups); n != 3 {
							return fmt.Errorf("%d setup records, want the same 3 (rebuilt in place)", n)
						}
						return nil
					},
				),
			},
			{Config: cfg, PlanOnly: true},
		},
	})
}

// expiration = "never" spelled out (with the builder's vcpus) gives a snapshot that never expires.
func TestAccVercel_setupExpirationDefaultNever(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFakeWith(t, vercelfake.Config{})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             vercelDestroyed(env, fake),
		Steps: []resource.TestStep{
			{
				Config: vercelHCL(env, fake) + `
resource "sandbox_setup" "never" {
  backend = "vercel"
  command = ["true"]
  vercel {
    expiration = "never"
    vcpus      = 4
  }
}
`,
				Check: func(s *terraform.State) error {
					id := attrOf(s, "sandbox_setup.never", "snapshot_id")
					if exp, ok := fake.SnapshotExpiresAt(id); !ok || exp != 0 {
						return fmt.Errorf("snapshot %s: expiresAt %d (exists %v), want never", id, exp, ok)
					}
					return nil
				},
			},
		},
	})
}
