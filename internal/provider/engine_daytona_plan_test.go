package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// What Daytona cannot do fails at plan time, reported on the attribute that asks for it (terraform prints that
// attribute's line under the error), and nothing reaches the fake.
func TestAccDaytona_planTimeRefusalsNameTheAttribute(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	policy := `  policy {
    mode                   = "allow_list"
    presets                = ["github"]
    credentials_wo         = { github = "ghp_planTimeToken1" }
    credentials_wo_version = 1
  }`
	cases := []struct {
		name, config string
		want         *regexp.Regexp
	}{
		{"vcpus without an image", `
resource "sandbox_sandbox" "s" {
  vcpus = 2
}`, regexp.MustCompile(`Invalid engine options[\s\S]*\d+:\s+vcpus\s+= 2[\s\S]*needs the daytona option image`)},
		{"resources with a snapshot", `
resource "sandbox_sandbox" "s" {
  daytona {
    snapshot = "my-snapshot"
    memory   = 4
  }
}`, regexp.MustCompile(`Invalid engine options[\s\S]*\d+:\s+memory\s+= 4[\s\S]*Daytona rejects resources`)},
		{"a setup and an image", `
resource "sandbox_sandbox" "s" {
  setup_id = "6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f"
  daytona {
    image = "python:3.12-slim"
  }
}`, regexp.MustCompile(`Invalid engine options[\s\S]*\d+:\s+setup_id\s+=[\s\S]*starts from the setup's snapshot`)},
		{"an unsupported runtime", `
resource "sandbox_sandbox" "s" {
  runtime = "cobol"
}`, regexp.MustCompile(`Invalid engine options[\s\S]*\d+:\s+runtime\s+= "cobol"[\s\S]*not supported by the daytona engine`)},
		{"sandbox policy credentials", "\nresource \"sandbox_sandbox\" \"s\" {\n" + policy + "\n}",
			regexp.MustCompile(`Policy not supported by the engine[\s\S]*\d+:\s+credentials_wo\s+=[\s\S]*cannot inject credentials`)},
		{"setup policy credentials", "\nresource \"sandbox_setup\" \"s\" {\n  command = [\"true\"]\n" + policy + "\n}",
			regexp.MustCompile(`Policy not supported by the engine[\s\S]*\d+:\s+credentials_wo\s+=[\s\S]*cannot inject credentials`)},
		{"workspace policy credentials", "\nresource \"sandbox_workspace\" \"s\" {\n  name = \"w\"\n" + policy + "\n}",
			regexp.MustCompile(`Policy not supported by the engine[\s\S]*\d+:\s+credentials_wo\s+=[\s\S]*cannot inject credentials`)},
	}
	steps := make([]resource.TestStep, 0, len(cases)+1)
	for _, c := range cases {
		steps = append(steps, resource.TestStep{Config: daytonaHCL(env, fake) + c.config, PlanOnly: true, ExpectError: c.want})
	}
	steps = append(steps, resource.TestStep{
		PreConfig: func() {
			for _, route := range []string{"POST /sandbox", "POST /volumes", "POST /snapshots"} {
				if n := fake.Count(route); n != 0 {
					t.Errorf("%s was called %d times by plans that must fail before any call", route, n)
				}
			}
		},
		Config: daytonaHCL(env, fake),
	})
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
}
