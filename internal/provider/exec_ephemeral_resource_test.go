package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

// The ephemeral sandbox_exec reads a value generated inside the sandbox; it reaches another command through a
// write-only env and is never written to state.
func TestAccExecEphemeral_reachesWriteOnlyNeverState(t *testing.T) {
	env := newTestEnv(t)
	// The secret is computed inside the sandbox: it appears nowhere in the configuration.
	const secret, recipe = "eph-secret-4242", "eph-secret-$((4200+42))"
	cfg := env.providerHCL() + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  purpose = "ephemeral"
}

resource "sandbox_command" "make_token" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "echo %[1]s > token.txt"]
}

ephemeral "sandbox_exec" "token" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["cat", "token.txt"]
  depends_on = [sandbox_command.make_token]
}

resource "sandbox_command" "use" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "test \"$TOKEN\" = %[1]s && echo matched"]
  env_wo     = { TOKEN = trimspace(ephemeral.sandbox_exec.token.stdout) }
}
`, recipe)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_command.use", "stdout", "matched\n"),
					func(s *terraform.State) error {
						for addr, rs := range s.RootModule().Resources {
							for k, v := range rs.Primary.Attributes {
								if strings.Contains(v, secret) {
									return fmt.Errorf("the ephemeral value reached state: %s.%s", addr, k)
								}
							}
						}
						return env.noSecretsInStore(secret + "\n")
					},
				),
			},
			{Config: cfg, PlanOnly: true},
		},
	})
}

func TestAccExecEphemeral_failureAndValidation(t *testing.T) {
	env := newTestEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: env.providerHCL() + `
ephemeral "sandbox_exec" "x" {
  command = ["true"]
}
`,
				ExpectError: regexp.MustCompile(`(?s)sandbox_id.*workspace_id`),
			},
			{
				Config: env.providerHCL() + `
resource "sandbox_sandbox" "s" {}

ephemeral "sandbox_exec" "fail" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "echo bad >&2; exit 4"]
}

resource "sandbox_command" "use" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["true"]
  env_wo     = { X = ephemeral.sandbox_exec.fail.stdout }
}
`,
				ExpectError: regexp.MustCompile(`(?s)exited with code 4.*bad`),
			},
		},
	})
}
