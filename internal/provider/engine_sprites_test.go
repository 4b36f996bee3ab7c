package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"

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
	cfg := spritesHCL(env, fake) + `
resource "sandbox_sandbox" "s" {
  backend = "sprites"
  purpose = "agent"
  env     = { GREETING = "hi from a sprite" }
  sprites {
    url_auth = "sprite"
  }
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "echo \"$GREETING\"; echo oops >&2; exit 0"]
}
`
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
				ImportStateVerifyIgnore: []string{"env", "sprites"},
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
					return nil
				},
			},
		},
	})
}

func TestAccSprites_planTimeRefusals(t *testing.T) {
	env := newTestEnv(t)
	fake := spritesfake.Start(t, spritesfake.Options{})
	cases := map[string]string{
		`(?s)cannot stop a sandbox`:             `desired_state = "stopped"`,
		`(?s)cannot mount volumes`:              "volume {\n    volume_id  = \"6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f\"\n    mount_path = \"/data\"\n  }",
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
