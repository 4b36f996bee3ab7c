package provider

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
)

var spritesSetupArgv = []string{"sh", "-c", "echo ran >> marker.txt"}

// setupRuns counts the runs of the setup's argv in one sprite.
func setupRuns(fake *spritesfake.Fake, sprite string) int {
	n := 0
	for _, r := range fake.ExecLog(sprite) {
		if reflect.DeepEqual(r.Argv, spritesSetupArgv) {
			n++
		}
	}
	return n
}

// TestAccSprites_setupSemantics checks exactly what a setup means on Sprites (a checkpoint belongs to one
// sprite): the setup is proven once in a builder sprite (the artifact, never checkpointed); each new sprite
// made from it runs the setup once itself and is checkpointed right after (params.sprites.setupCheckpointId),
// so that a restore to that checkpoint returns it to the set-up state; an in-place update neither runs it
// again nor loses it; a second sandbox_setup with the same definition reuses the builder; destroy leaves
// nothing on the service.
func TestAccSprites_setupSemantics(t *testing.T) {
	env := newTestEnv(t)
	fake := spritesfake.Start(t, spritesfake.Options{})
	eng := spritesEngineFor(t, fake)
	cfg := func(who string, second bool) string {
		c := spritesHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_setup" "tools" {
  backend = "sprites"
  command = ["sh", "-c", "echo ran >> marker.txt"]
}

resource "sandbox_sandbox" "a" {
  backend  = "sprites"
  setup_id = sandbox_setup.tools.id
  env      = { WHO = %q }
}

resource "sandbox_sandbox" "b" {
  backend  = "sprites"
  setup_id = sandbox_setup.tools.id
}

resource "sandbox_command" "a" {
  sandbox_id = sandbox_sandbox.a.id
  command    = ["sh", "-c", "cat marker.txt; echo junk > junk.txt"]
}
`, who)
		if second {
			c += `
resource "sandbox_setup" "same" {
  backend = "sprites"
  command = ["sh", "-c", "echo ran >> marker.txt"]
}
`
		}
		return c
	}
	var builder, idA, spriteA string
	sandboxCheckpoint := func(s *terraform.State, addr string) (string, error) {
		sprite := attrOf(s, addr, "external_sandbox_id")
		if n := setupRuns(fake, sprite); n != 1 {
			return "", fmt.Errorf("%s: the setup ran %d times in the sandbox's own sprite; want once", addr, n)
		}
		info, _ := fake.Sprite(sprite)
		if len(info.Checkpoints) != 1 || info.Checkpoints[0].Comment != "terraform-provider-sandbox setup "+builder {
			return "", fmt.Errorf("%s: checkpoints %+v; want one, taken right after the setup", addr, info.Checkpoints)
		}
		rec, err := env.record(attrOf(s, addr, "id"))
		if err != nil {
			return "", err
		}
		sp, _ := rec.JSONMap("params")["sprites"].(map[string]any)
		if sp["setupCheckpointId"] != info.Checkpoints[0].ID {
			return "", fmt.Errorf("%s: params.sprites = %v; want setupCheckpointId %s", addr, sp, info.Checkpoints[0].ID)
		}
		return info.Checkpoints[0].ID, nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if names := fake.Names(); len(names) != 0 {
				return fmt.Errorf("sprites left after destroy: %v", names)
			}
			for _, entity := range []string{backend.EntitySandboxes, backend.EntitySetups} {
				recs, err := env.store().Query(context.Background(), backend.Query{Entity: entity})
				if err != nil {
					return err
				}
				for _, r := range recs {
					if r.String("status") != backend.StatusShutdown {
						return fmt.Errorf("%s record %s is %s after destroy", entity, r.ID, r.String("status"))
					}
				}
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: cfg("a", false),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_setup.tools", "status", "active"),
					// Ran in a's own sprite (one line), not copied from the builder.
					resource.TestCheckResourceAttr("sandbox_command.a", "stdout", "ran\n"),
					func(s *terraform.State) error {
						builder = attrOf(s, "sandbox_setup.tools", "snapshot_id")
						if want := sprites.SetupName(attrOf(s, "sandbox_setup.tools", "fingerprint")); builder != want {
							return fmt.Errorf("snapshot_id = %q, want the builder sprite %q", builder, want)
						}
						info, ok := fake.Sprite(builder)
						if !ok || len(info.Checkpoints) != 0 || setupRuns(fake, builder) != 1 {
							return fmt.Errorf("builder %s: %+v, setup runs %d; want it kept, not checkpointed, run once", builder, info, setupRuns(fake, builder))
						}
						cpA, err := sandboxCheckpoint(s, "sandbox_sandbox.a")
						if err != nil {
							return err
						}
						if _, err := sandboxCheckpoint(s, "sandbox_sandbox.b"); err != nil {
							return err
						}
						idA, spriteA = attrOf(s, "sandbox_sandbox.a", "id"), attrOf(s, "sandbox_sandbox.a", "external_sandbox_id")
						// Each sprite is its own: b has none of a's files.
						if err := wantNoFile(eng, attrOf(s, "sandbox_sandbox.b", "external_sandbox_id"), "junk.txt"); err != nil {
							return err
						}
						// Restoring a to its setup checkpoint returns it to the set-up state.
						if err := wantFile(eng, spriteA, "junk.txt", "junk\n"); err != nil {
							return err
						}
						if err := eng.Restore(context.Background(), spriteA, cpA); err != nil {
							return fmt.Errorf("restore to the setup checkpoint: %w", err)
						}
						if err := wantNoFile(eng, spriteA, "junk.txt"); err != nil {
							return err
						}
						if err := wantFile(eng, spriteA, "marker.txt", "ran\n"); err != nil {
							return err
						}
						// ... with its configuration (env) intact.
						res, err := eng.Exec(context.Background(), spriteA, backend.ExecRequest{Argv: []string{"sh", "-c", `printf %s "$WHO"`}})
						if err != nil || string(res.Stdout) != "a" {
							return fmt.Errorf("env after the restore = %+v, %w", res, err)
						}
						return nil
					},
				),
			},
			{Config: cfg("a", false), PlanOnly: true},
			{
				// In place: the setup neither runs again nor is lost.
				Config: cfg("a2", false),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.a", plancheck.ResourceActionUpdate),
				}},
				Check: func(s *terraform.State) error {
					if got := attrOf(s, "sandbox_sandbox.a", "id"); got != idA {
						return fmt.Errorf("an env change replaced the sandbox")
					}
					if _, err := sandboxCheckpoint(s, "sandbox_sandbox.a"); err != nil {
						return err
					}
					res, err := eng.Exec(context.Background(), spriteA, backend.ExecRequest{Argv: []string{"sh", "-c", `printf %s "$WHO"`}})
					if err != nil || string(res.Stdout) != "a2" {
						return fmt.Errorf("env after the update = %+v, %w", res, err)
					}
					return nil
				},
			},
			{
				// The same definition again: the builder is reused, nothing runs.
				Config: cfg("a2", true),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPair("sandbox_setup.tools", "snapshot_id", "sandbox_setup.same", "snapshot_id"),
					func(*terraform.State) error {
						if n := setupRuns(fake, builder); n != 1 {
							return fmt.Errorf("the builder ran the setup %d times; want 1 (reused)", n)
						}
						return nil
					},
				),
			},
		},
	})
}
