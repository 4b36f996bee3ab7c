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

// TestAccExecEphemeral_mintPatternOnExistingSandbox is the documented mint -> sandbox_exec -> env_wo pattern
// added to a sandbox that already exists: the exec waits for the mint through `after` (depends_on alone opens
// it at plan time, before the mint ran, and fails every plan). Apply, a second plan, a change of the mint that
// makes a new token, and destroy (by the test framework) all succeed.
func TestAccExecEphemeral_mintPatternOnExistingSandbox(t *testing.T) {
	env := newTestEnv(t)
	sandboxOnly := env.providerHCL() + `
resource "sandbox_sandbox" "issuer" {
  purpose = "tokens"
}
`
	pattern := func(rev, wait string) string {
		return sandboxOnly + fmt.Sprintf(`
resource "sandbox_command" "mint" {
  sandbox_id = sandbox_sandbox.issuer.id
  command    = ["sh", "-c", "echo token-%[1]s > token"]
  triggers   = { rev = %[1]q }
}

ephemeral "sandbox_exec" "token" {
  sandbox_id = sandbox_sandbox.issuer.id
  command    = ["cat", "token"]
  %[2]s
}

resource "sandbox_command" "use_token" {
  sandbox_id     = sandbox_sandbox.issuer.id
  command        = ["sh", "-c", "echo got $TOKEN"]
  env_wo         = { TOKEN = trimspace(ephemeral.sandbox_exec.token.stdout) }
  env_wo_version = %[1]s
}
`, rev, wait)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: sandboxOnly},
			{
				// What the docs used to show: depends_on alone fails the plan on an existing sandbox.
				Config:      pattern("1", "depends_on = [sandbox_command.mint]"),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Command failed.*token`),
			},
			{
				Config: pattern("1", "after      = [sandbox_command.mint.id]"),
				Check:  resource.TestCheckResourceAttr("sandbox_command.use_token", "stdout", "got token-1\n"),
			},
			{Config: pattern("1", "after      = [sandbox_command.mint.id]"), PlanOnly: true},
			{
				// A new mint (and env_wo_version): the exec waits for the new token again.
				Config: pattern("2", "after      = [sandbox_command.mint.id]"),
				Check:  resource.TestCheckResourceAttr("sandbox_command.use_token", "stdout", "got token-2\n"),
			},
			{Config: pattern("2", "after      = [sandbox_command.mint.id]"), PlanOnly: true},
		},
	})
}
