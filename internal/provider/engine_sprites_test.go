package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
)

func spritesHCL(env *testEnv, fake *spritesfake.Fake) string {
	return fmt.Sprintf(`
provider "sandbox" {
  sqlite_path = %q
  sprites {
    token   = %q
    api_url = %q
  }
}
`, env.dbPath, fake.Token(), fake.URL())
}

func TestAccSprites_sandboxLifecycle(t *testing.T) {
	env := newTestEnv(t)
	fake := spritesfake.Start(t, spritesfake.Options{})
	cfgWith := func(greeting, spritesBlock string) string {
		return spritesHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  backend = "sprites"
  purpose = "agent"
  env     = { GREETING = %q }
  sprites {
%s
  }
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "echo \"$GREETING\"; echo oops >&2; exit 0"]
}
`, greeting, spritesBlock)
	}
	cfg := cfgWith("hi from a sprite", `    url_auth = "sprite"`)
	var id, name string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if names := fake.Names(); len(names) != 0 {
				return fmt.Errorf("sprites left after destroy: %v", names)
			}
			rec, err := env.record(id)
			if err != nil || rec.String("status") != backend.StatusShutdown {
				return fmt.Errorf("record after destroy: %v %w", rec, err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "backend", "sprites"),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "status", "active"),
					resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "hi from a sprite\n"),
					resource.TestCheckResourceAttr("sandbox_command.c", "stderr", "oops\n"),
					resource.TestMatchResourceAttr("sandbox_sandbox.s", "sandbox_url", regexp.MustCompile(`^https?://`)),
					func(s *terraform.State) error {
						id = attrOf(s, "sandbox_sandbox.s", "id")
						name = attrOf(s, "sandbox_sandbox.s", "external_sandbox_id")
						if name != "ekairos-"+id {
							return fmt.Errorf("sprite name %q, want ekairos-<record id> as the seed library names it", name)
						}
						if info, _ := fake.Sprite(name); attrOf(s, "sandbox_sandbox.s", "sandbox_url") != info.URL || info.URLAuth != "sprite" {
							return fmt.Errorf("sandbox_url %q, want the sprite's URL %q; url auth %q", attrOf(s, "sandbox_sandbox.s", "sandbox_url"), info.URL, info.URLAuth)
						}
						rec, err := env.record(id)
						if err != nil {
							return err
						}
						sp, _ := rec.JSONMap("params")["sprites"].(map[string]any)
						if sp["name"] != name {
							return fmt.Errorf("params.sprites.name = %v", sp["name"])
						}
						return env.noSecretsInStore(fake.Token(), "hi from a sprite")
					},
				),
			},
			{Config: cfg, PlanOnly: true},
			{
				ResourceName:            "sandbox_sandbox.s",
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"env"},
			},
			{
				// The sprite is deleted behind Terraform's back: the next plan re-creates the sandbox.
				PreConfig: func() {
					eng, err := sprites.New(sprites.Config{Token: fake.Token(), APIURL: fake.URL()})
					if err != nil {
						t.Fatal(err)
					}
					if err := eng.DeleteSandbox(context.Background(), name); err != nil {
						t.Fatal(err)
					}
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionCreate),
				}},
				Check: func(s *terraform.State) error {
					old, err := env.record(id)
					if err != nil {
						return err
					}
					if old.String("status") != backend.StatusShutdown {
						return errors.New("the vanished sprite's record is not shutdown")
					}
					id = attrOf(s, "sandbox_sandbox.s", "id")
					name = attrOf(s, "sandbox_sandbox.s", "external_sandbox_id")
					return nil
				},
			},
			{
				// A sprite asleep (cold) is not gone: the refresh reads it as sleeping, the plan is empty.
				PreConfig: func() { fake.SetIdle(name, time.Hour) },
				Config:    cfg,
				PlanOnly:  true,
			},
			{
				// An in-place change (env) of a sleeping sprite wakes it and keeps the sprite and the record.
				PreConfig: func() { fake.SetIdle(name, time.Hour) },
				Config:    cfgWith("hello again", `    url_auth = "sprite"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("sandbox_command.c", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running"),
					func(s *terraform.State) error {
						if got := attrOf(s, "sandbox_sandbox.s", "id"); got != id {
							return fmt.Errorf("an env change replaced the sandbox: %s, was %s", got, id)
						}
						res, err := spritesEngineFor(t, fake).Exec(context.Background(), name, backend.ExecRequest{Argv: []string{"sh", "-c", `printf %s "$GREETING"`}})
						if err != nil || string(res.Stdout) != "hello again" {
							return fmt.Errorf("env after the update = %+v, %w", res, err)
						}
						return nil
					},
				),
			},
			{
				// Options of the sprites block replace: a sprite cannot be renamed or re-authed in place here.
				Config: cfgWith("hello again", "    name     = \"my-agent-sprite\"\n    url_auth = \"public\""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "external_sandbox_id", "my-agent-sprite"),
					resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "hello again\n"),
					func(s *terraform.State) error {
						if _, ok := fake.Sprite(name); ok {
							return fmt.Errorf("the replaced sprite %s is still on the service", name)
						}
						if old, err := env.record(id); err != nil || old.String("status") != backend.StatusShutdown {
							return fmt.Errorf("the replaced sandbox's record: %v, %w", old, err)
						}
						info, ok := fake.Sprite("my-agent-sprite")
						if !ok || info.URLAuth != "public" {
							return fmt.Errorf("the new sprite: %+v", info)
						}
						id = attrOf(s, "sandbox_sandbox.s", "id")
						return nil
					},
				),
			},
		},
	})
}

func TestAccSprites_planTimeRefusals(t *testing.T) {
	env := newTestEnv(t)
	fake := spritesfake.Start(t, spritesfake.Options{})
	cases := map[string]string{
		// What Sprites does instead of stopping is said at plan time, on the attribute.
		`(?s)Engine cannot stop sandboxes.*desired_state = "stopped".*cannot stop a sandbox.*no stop call: a sprite\s+sleeps by itself.*wakes on the next command.*state = "sleeping"`: `desired_state = "stopped"`,
		// Volumes are refused with the attribute path: Terraform points into the first volume block.
		`(?s)Engine has no volumes.*with sandbox_sandbox.s.*volume_id\s+= "6f1c2d3e.*cannot mount volumes`: "volume {\n    volume_id  = \"6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f\"\n    mount_path = \"/data\"\n  }",
		`(?s)only applies to backend = "local"`: "local {\n    memory_mb = 64\n  }",
	}
	for want, body := range cases {
		resource.UnitTest(t, resource.TestCase{
			ProtoV6ProviderFactories: testProviderFactories,
			Steps: []resource.TestStep{{
				Config:      spritesHCL(env, fake) + "resource \"sandbox_sandbox\" \"s\" {\n  backend = \"sprites\"\n  " + body + "\n}\n",
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(want),
			}},
		})
	}
}

func TestAccSprites_missingTokenNamesTheEnvVar(t *testing.T) {
	env := newTestEnv(t)
	for _, v := range []string{"SPRITES_API_TOKEN", "SPRITE_TOKEN", "SPRITES_TOKEN"} {
		t.Setenv(v, "")
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config:      env.providerHCL() + "resource \"sandbox_sandbox\" \"s\" {\n  backend = \"sprites\"\n}\n",
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)SPRITES_API_TOKEN`),
		}},
	})
}

// TestAccSprites_envFallbacks: without a sprites {} block the token and API URL come from the seed
// library's variables (SPRITE_TOKEN, SPRITES_API_BASE_URL here); SPRITES_API_TOKEN wins over the others.
func TestAccSprites_envFallbacks(t *testing.T) {
	env := newTestEnv(t)
	fake := spritesfake.Start(t, spritesfake.Options{})
	t.Setenv("SPRITES_API_TOKEN", "")
	t.Setenv("SPRITES_TOKEN", "wrong-token-never-used")
	t.Setenv("SPRITE_TOKEN", fake.Token())
	t.Setenv("SPRITES_API_URL", "")
	t.Setenv("SPRITES_API_BASE_URL", fake.URL())
	cfg := fmt.Sprintf("provider \"sandbox\" {\n  sqlite_path = %q\n}\n", env.dbPath) + `
resource "sandbox_sandbox" "s" {
  backend = "sprites"
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if names := fake.Names(); len(names) != 0 {
				return fmt.Errorf("sprites left after destroy: %v", names)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check:  resource.TestCheckResourceAttr("sandbox_sandbox.s", "status", "active"),
			},
			{
				PreConfig: func() {
					t.Setenv("SPRITE_TOKEN", "wrong-token-never-used")
					t.Setenv("SPRITES_API_TOKEN", fake.Token())
				},
				Config:   cfg,
				PlanOnly: true,
			},
		},
	})
}
