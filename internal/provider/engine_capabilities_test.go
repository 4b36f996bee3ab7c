package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
)

// Plan-time refusals that come from the one capability table, each on the attribute that asks, before any
// request reaches the engine (the fakes count none).
func TestAccCapabilities_refusedAtPlan(t *testing.T) {
	env := newTestEnv(t)
	vfake := startVercelFake(t)
	sfake := spritesfake.Start(t, spritesfake.Options{})
	dfake := startDaytonaFake(t)
	const setup = `
resource "sandbox_setup" "deps" {
  backend = "vercel"
  command = ["sh", "-c", "true"]
}
`
	cases := []struct {
		name, config, want string
	}{
		{"vercel setup and git source", vercelHCL(env, vfake) + setup + `
resource "sandbox_sandbox" "s" {
  backend  = "vercel"
  setup_id = sandbox_setup.deps.id
  vercel {
    source = {
      type = "git"
      url  = "https://github.com/vercel/sandbox-example-next.git"
    }
  }
}
`, `(?s)Invalid engine options.*with sandbox_sandbox.s.*source = \{.*a source and a setup both give the\s+sandbox's first files`},
		{"sprites policy credentials", spritesHCL(env, sfake) + `
resource "sandbox_sandbox" "s" {
  backend = "sprites"
  policy {
    mode           = "allow_list"
    presets        = ["github"]
    credentials_wo = { github = "ghp_planTimeCredential" }
  }
}
`, `(?s)Policy not supported by the engine.*with sandbox_sandbox.s.*credentials_wo.*sprites engine cannot\s+inject\s+credentials.*injects them \(.local., .vercel.\)`},
		{"sprites workspace policy credentials", spritesHCL(env, sfake) + `
resource "sandbox_workspace" "w" {
  backend = "sprites"
  name    = "w"
  policy {
    mode           = "allow_list"
    presets        = ["github"]
    credentials_wo = { github = "ghp_planTimeCredential" }
  }
}
`, `(?s)Policy not supported by the engine.*credentials_wo.*sprites engine cannot\s+inject\s+credentials`},
		// The hosted engines' allow lists take host names only (Daytona domainAllowList, Vercel allow domains,
		// Sprites domain rules): a port would be sent unchanged and refused, or mean something else, at apply.
		{"sprites host with a port", spritesHCL(env, sfake) + `
resource "sandbox_sandbox" "s" {
  backend = "sprites"
  policy {
    mode  = "allow_list"
    hosts = ["api.example.com", "db.example.com:5432"]
  }
}
`, `(?s)Host entry with a port.*with sandbox_sandbox.s.*hosts = \["api.example.com", "db.example.com:5432"\].*sprites engine's allow list takes host\s+names\s+only,\s+without\s+a\s+port:\s+write\s+"db.example.com"\s+instead\s+of\s+"db.example.com:5432".*\(.local.\)`},
		{"vercel workspace host with a port", vercelHCL(env, vfake) + `
resource "sandbox_workspace" "w" {
  backend = "vercel"
  name    = "w"
  policy {
    mode  = "allow_list"
    hosts = ["*.example.com:8443"]
  }
}
`, `(?s)Host entry with a port.*with sandbox_workspace.w.*hosts = \["\*.example.com:8443"\].*vercel engine's allow list takes host\s+names\s+only.*"\*.example.com"\s+instead`},
		{"daytona host with a port", daytonaHCL(env, dfake) + `
resource "sandbox_sandbox" "s" {
  backend = "daytona"
  policy {
    mode  = "allow_list"
    hosts = ["registry.npmjs.org:443"]
  }
}
`, `(?s)Host entry with a port.*hosts = \["registry.npmjs.org:443"\].*daytona engine's allow list takes host\s+names\s+only`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps:                    []resource.TestStep{{Config: tc.config, PlanOnly: true, ExpectError: regexp.MustCompile(tc.want)}},
			})
		})
	}
	if n := vfake.Requests(""); n != 0 {
		t.Errorf("%d requests reached the vercel fake at plan time", n)
	}
	if n := len(sfake.Counts()); n != 0 {
		t.Errorf("requests reached the sprites fake at plan time: %v", sfake.Counts())
	}
}

// Without a token, a vercel volume still says that vercel has no volumes (the capability table needs no
// credentials), not only that the token is missing.
func TestAccCapabilities_vercelVolumeWithoutToken(t *testing.T) {
	env := newTestEnv(t)
	for _, v := range []string{"VERCEL_TOKEN", "VERCEL_OIDC_TOKEN", "VERCEL_TEAM_ID", "VERCEL_PROJECT_ID"} {
		t.Setenv(v, "")
	}
	cfg := fmt.Sprintf("provider \"sandbox\" {\n  sqlite_path = %q\n}\n", env.dbPath)
	for name, body := range map[string]string{
		"volume resource": "resource \"sandbox_volume\" \"v\" {\n  backend = \"vercel\"\n  name    = \"data\"\n}\n",
		"volume block":    "resource \"sandbox_sandbox\" \"s\" {\n  backend = \"vercel\"\n  volume {\n    volume_id  = \"6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f\"\n    mount_path = \"/data\"\n  }\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps:                    []resource.TestStep{{Config: cfg + body, PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)Engine has no volumes.*No volumes on vercel`)}},
			})
		})
	}
}
