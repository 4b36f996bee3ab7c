package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
)

func startVercelFake(t *testing.T) *vercelfake.Fake {
	t.Helper()
	fake, err := vercelfake.New(vercelfake.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	return fake
}

func vercelHCL(env *testEnv, fake *vercelfake.Fake) string {
	c := fake.Config()
	return fmt.Sprintf(`
provider "sandbox" {
  sqlite_path = %q
  vercel {
    token      = %q
    team_id    = %q
    project_id = %q
    api_url    = %q
  }
}
`, env.dbPath, c.Token, c.TeamID, c.ProjectID, fake.URL())
}

func TestAccVercel_sandboxStopResumePolicy(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFake(t)
	const ghToken = "ghp_vercelInjectedToken42"
	cfg := func(state string) string {
		return vercelHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  backend       = "vercel"
  runtime       = "node22"
  timeout       = "10m"
  ports         = [3000]
  purpose       = "ci"
  desired_state = %q
  vercel {
    persistent = true
  }
  policy {
    mode                   = "allow_list"
    presets                = ["github"]
    credentials_wo         = { github = %q }
    credentials_wo_version = 1
  }
}
`, state, ghToken)
	}
	var name string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if st := fake.SandboxStatus(name); st != "" && st != "stopped" {
				return fmt.Errorf("sandbox %s is %q on the fake after destroy", name, st)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: cfg("running"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "status", "active"),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running"),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "urls.%", "1"),
					func(s *terraform.State) error {
						id := attrOf(s, "sandbox_sandbox.s", "id")
						name = attrOf(s, "sandbox_sandbox.s", "external_sandbox_id")
						if !strings.Contains(name, id) {
							return fmt.Errorf("the sandbox name %q does not carry the record id", name)
						}
						// The credential reached the engine on the wire as a header transform...
						wire := ""
						for _, p := range fake.NetworkPolicies(name) {
							wire += string(p.Body)
						}
						if !strings.Contains(wire, "Bearer "+ghToken) {
							return fmt.Errorf("the github credential was not injected on the wire: %s", wire)
						}
						// ...and nowhere else.
						for k, v := range s.RootModule().Resources["sandbox_sandbox.s"].Primary.Attributes {
							if strings.Contains(v, ghToken) {
								return fmt.Errorf("credential in state attribute %s", k)
							}
						}
						return env.noSecretsInStore(ghToken, fake.Config().Token)
					},
				),
			},
			{Config: cfg("running"), PlanOnly: true},
			{
				Config: cfg("stopped"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionUpdate),
				}},
				Check: resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "stopped"),
			},
			{Config: cfg("stopped"), PlanOnly: true},
			{
				Config: cfg("running"),
				Check:  resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running"),
			},
			{
				ResourceName:            "sandbox_sandbox.s",
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"env"},
			},
		},
	})
}

func TestAccVercel_commandAndRefusals(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFake(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: vercelHCL(env, fake) + `
resource "sandbox_sandbox" "s" {
  backend = "vercel"
  env     = { WHO = "vercel" }
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "echo hello $WHO; exit 3"]
  allow_failure = true
}
`,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "hello vercel\n"),
					resource.TestCheckResourceAttr("sandbox_command.c", "exit_code", "3"),
					func(s *terraform.State) error {
						rec, err := env.record(attrOf(s, "sandbox_sandbox.s", "id"))
						if err != nil {
							return err
						}
						if _, ok := rec.JSONMap("params")["vercel"].(map[string]any); !ok {
							return fmt.Errorf("no params.vercel in the record: %v", rec.Attrs)
						}
						return nil
					},
				),
			},
			{
				Config: vercelHCL(env, fake) + `
resource "sandbox_sandbox" "s" {
  backend = "vercel"
  volume {
    volume_id  = "6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f"
    mount_path = "/data"
  }
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)volume.*cannot mount volumes`),
			},
			{
				Config: vercelHCL(env, fake) + `
resource "sandbox_volume" "v" {
  name    = "data"
  backend = "vercel"
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)vercel engine has no persistent volumes`),
			},
			{Config: vercelHCL(env, fake)},
		},
	})
}
