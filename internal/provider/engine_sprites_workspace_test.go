package provider

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
)

// spritesEngineFor is an engine on the fake, for checks that look inside sprites.
func spritesEngineFor(t *testing.T, fake *spritesfake.Fake) *sprites.Engine {
	t.Helper()
	eng, err := sprites.New(sprites.Config{Token: fake.Token(), APIURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// spritesFile reads a file in a sprite; "" and fs.ErrNotExist when it is missing.
func spritesFile(eng *sprites.Engine, sprite, path string) (string, error) {
	b, err := eng.ReadFile(context.Background(), sprite, path)
	return string(b), err
}

func wantFile(eng *sprites.Engine, sprite, path, want string) error {
	got, err := spritesFile(eng, sprite, path)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", path, sprite, err)
	}
	if got != want {
		return fmt.Errorf("%s in %s = %q, want %q", path, sprite, got, want)
	}
	return nil
}

func wantNoFile(eng *sprites.Engine, sprite, path string) error {
	if got, err := spritesFile(eng, sprite, path); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s in %s = %q, %w; want it gone", path, sprite, got, err)
	}
	return nil
}

// workspaceParams is params.sprites of a workspace record.
func (e *testEnv) workspaceParams(id string) (map[string]any, error) {
	rec, err := e.store().Get(context.Background(), backend.EntityWorkspaces, id)
	if err != nil {
		return nil, err
	}
	sp, _ := rec.JSONMap("params")["sprites"].(map[string]any)
	return sp, nil
}

// TestAccSprites_workspaceCheckpointAndRestore: a workspace made from a setup starts with the setup's
// checkpoint; checkpoint_trigger checkpoints it on request (in place, the id in last_checkpoint_id and
// checkpoints, recorded as lastCheckpointId); restore_checkpoint_id restores its files in place (recorded as
// lastRestoredCheckpointId) while its env stays; an id it does not have is refused at plan time; import
// reads the checkpoints back; a workspace deleted behind Terraform's back is made again; destroy leaves
// nothing on the service.
func TestAccSprites_workspaceCheckpointAndRestore(t *testing.T) {
	env := newTestEnv(t)
	fake := spritesfake.Start(t, spritesfake.Options{})
	eng := spritesEngineFor(t, fake)
	cfg := func(trigger, restore, work string) string {
		attr := func(name, v string) string {
			if v == "" {
				return ""
			}
			return fmt.Sprintf("  %s = %q\n", name, v)
		}
		return spritesHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_setup" "tools" {
  backend = "sprites"
  command = ["sh", "-c", "echo ran >> marker.txt"]
}

resource "sandbox_workspace" "w" {
  backend  = "sprites"
  name     = "repo"
  setup_id = sandbox_setup.tools.id
  env      = { WS_VAR = "ws-secret-value" }
%s%s}

resource "sandbox_command" "work" {
  workspace_id = sandbox_workspace.w.id
  command      = ["sh", "-c", %q]
}
`, attr("checkpoint_trigger", trigger), attr("restore_checkpoint_id", restore), work)
	}
	const (
		work1 = `printf v1 > work.txt`
		work2 = `printf v2 > work.txt; rm marker.txt`
	)
	var wsID, sprite string
	update := func(addr string) resource.ConfigPlanChecks {
		return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate)}}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if names := fake.Names(); len(names) != 0 {
				return fmt.Errorf("sprites left after destroy: %v", names)
			}
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
				Config: cfg("", "", work1),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_workspace.w", "status", "active"),
					// The setup's checkpoint, taken right after the setup ran in the workspace's sprite.
					resource.TestCheckResourceAttr("sandbox_workspace.w", "checkpoints.#", "1"),
					resource.TestCheckResourceAttr("sandbox_workspace.w", "checkpoints.0", "v0"),
					resource.TestCheckNoResourceAttr("sandbox_workspace.w", "last_checkpoint_id"),
					func(s *terraform.State) error {
						wsID = attrOf(s, "sandbox_workspace.w", "id")
						sprite = attrOf(s, "sandbox_workspace.w", "external_id")
						if sprite != "ekairos-ws-"+wsID {
							return fmt.Errorf("workspace sprite %q, want ekairos-ws-<record id>", sprite)
						}
						info, _ := fake.Sprite(sprite)
						if len(info.Checkpoints) != 1 || info.Checkpoints[0].Comment != "terraform-provider-sandbox setup "+attrOf(s, "sandbox_setup.tools", "snapshot_id") {
							return fmt.Errorf("checkpoints on the fake: %+v", info.Checkpoints)
						}
						if err := wantFile(eng, sprite, "work.txt", "v1"); err != nil {
							return err
						}
						return wantFile(eng, sprite, "marker.txt", "ran\n")
					},
				),
			},
			{Config: cfg("", "", work1), PlanOnly: true},
			{
				Config:           cfg("after-v1", "", work1),
				ConfigPlanChecks: update("sandbox_workspace.w"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_workspace.w", "checkpoints.#", "2"),
					resource.TestCheckResourceAttr("sandbox_workspace.w", "checkpoints.1", "v1"),
					resource.TestCheckResourceAttr("sandbox_workspace.w", "last_checkpoint_id", "v1"),
					func(s *terraform.State) error {
						if got := attrOf(s, "sandbox_workspace.w", "id"); got != wsID {
							return fmt.Errorf("the checkpoint replaced the workspace: id %s, was %s", got, wsID)
						}
						info, _ := fake.Sprite(sprite)
						if len(info.Checkpoints) != 2 || info.Checkpoints[1].Comment != "terraform-provider-sandbox checkpoint_trigger after-v1" {
							return fmt.Errorf("checkpoints on the fake: %+v", info.Checkpoints)
						}
						sp, err := env.workspaceParams(wsID)
						if err != nil || sp["lastCheckpointId"] != "v1" {
							return fmt.Errorf("params.sprites = %v, %w; want lastCheckpointId v1", sp, err)
						}
						return env.noSecretsInStore(fake.Token(), "ws-secret-value")
					},
				),
			},
			{Config: cfg("after-v1", "", work1), PlanOnly: true},
			{
				// New work, no new checkpoint.
				Config: cfg("after-v1", "", work2),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_workspace.w", "checkpoints.#", "2"),
					func(*terraform.State) error {
						if err := wantFile(eng, sprite, "work.txt", "v2"); err != nil {
							return err
						}
						return wantNoFile(eng, sprite, "marker.txt")
					},
				),
			},
			{
				// Back to the checkpoint taken on request: the files as they were, the env as configured.
				Config:           cfg("after-v1", "v1", work2),
				ConfigPlanChecks: update("sandbox_workspace.w"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_workspace.w", "checkpoints.#", "2"),
					resource.TestCheckResourceAttr("sandbox_workspace.w", "last_checkpoint_id", "v1"),
					resource.TestCheckResourceAttr("sandbox_workspace.w", "restore_checkpoint_id", "v1"),
					func(*terraform.State) error {
						if err := wantFile(eng, sprite, "work.txt", "v1"); err != nil {
							return err
						}
						if err := wantFile(eng, sprite, "marker.txt", "ran\n"); err != nil {
							return err
						}
						res, err := eng.ExecWorkspace(context.Background(), sprite, backend.ExecRequest{Argv: []string{"sh", "-c", `printf "%s" "$WS_VAR"`}})
						if err != nil || string(res.Stdout) != "ws-secret-value" {
							return fmt.Errorf("the workspace's env after a restore = %+v, %w", res, err)
						}
						sp, err := env.workspaceParams(wsID)
						if err != nil || sp["lastRestoredCheckpointId"] != "v1" {
							return fmt.Errorf("params.sprites = %v, %w; want lastRestoredCheckpointId v1", sp, err)
						}
						return nil
					},
				),
			},
			// An unchanged restore_checkpoint_id restores nothing more.
			{Config: cfg("after-v1", "v1", work2), PlanOnly: true},
			{
				// Back to the set-up state: the setup's checkpoint.
				Config:           cfg("after-v1", "v0", work2),
				ConfigPlanChecks: update("sandbox_workspace.w"),
				Check: func(*terraform.State) error {
					if err := wantNoFile(eng, sprite, "work.txt"); err != nil {
						return err
					}
					return wantFile(eng, sprite, "marker.txt", "ran\n")
				},
			},
			{
				Config:      cfg("after-v1", "v9", work2),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)No such checkpoint.*restore_checkpoint_id.*no checkpoint "v9".*v0, v1`),
			},
			{
				ResourceName:            "sandbox_workspace.w",
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"env", "checkpoint_trigger", "restore_checkpoint_id"},
			},
			{
				// The workspace's sprite is deleted behind Terraform's back: a new workspace (new record) is made
				// from the setup, checkpointed at creation since checkpoint_trigger is set; restore_checkpoint_id
				// restores nothing in a new workspace.
				PreConfig: func() {
					if err := eng.DeleteWorkspace(context.Background(), sprite); err != nil {
						t.Fatal(err)
					}
				},
				Config: cfg("after-v1", "v0", work2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_workspace.w", plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_workspace.w", "checkpoints.#", "2"),
					resource.TestCheckResourceAttr("sandbox_workspace.w", "last_checkpoint_id", "v1"),
					func(s *terraform.State) error {
						old, err := env.store().Get(context.Background(), backend.EntityWorkspaces, wsID)
						if err != nil || old.String("status") != backend.WorkspaceArchived {
							return fmt.Errorf("the vanished workspace's record: %v, %w", old, err)
						}
						if attrOf(s, "sandbox_workspace.w", "id") == wsID {
							return errors.New("the re-made workspace kept the old record id")
						}
						wsID, sprite = attrOf(s, "sandbox_workspace.w", "id"), attrOf(s, "sandbox_workspace.w", "external_id")
						info, _ := fake.Sprite(sprite)
						comments := []string{}
						for _, cp := range info.Checkpoints {
							comments = append(comments, cp.Comment)
						}
						if len(comments) != 2 || !slices.Contains(comments, "terraform-provider-sandbox checkpoint_trigger after-v1") {
							return fmt.Errorf("checkpoints of the new workspace: %v", comments)
						}
						// The new workspace is in its set-up state plus the work command's run.
						return wantFile(eng, sprite, "work.txt", "v2")
					},
				),
			},
		},
	})
}

// TestAccSprites_workspaceCheckpointsRefusedElsewhere: an engine without workspace checkpoints refuses
// checkpoint_trigger and restore_checkpoint_id at plan time, naming the attribute.
func TestAccSprites_workspaceCheckpointsRefusedElsewhere(t *testing.T) {
	env := newTestEnv(t)
	for attr, want := range map[string]string{
		"checkpoint_trigger":    `(?s)Engine cannot checkpoint workspaces.*checkpoint_trigger.*The local engine cannot checkpoint or restore a workspace; remove\s+checkpoint_trigger`,
		"restore_checkpoint_id": `(?s)Engine cannot checkpoint workspaces.*restore_checkpoint_id.*The local engine cannot checkpoint or restore a workspace; remove\s+restore_checkpoint_id`,
	} {
		resource.UnitTest(t, resource.TestCase{
			ProtoV6ProviderFactories: testProviderFactories,
			Steps: []resource.TestStep{{
				Config:      env.providerHCL() + fmt.Sprintf("resource \"sandbox_workspace\" \"w\" {\n  backend = \"local\"\n  name = \"w\"\n  %s = \"v1\"\n}\n", attr),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(want),
			}},
		})
	}
}
