package provider

import (
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona"
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

func TestSpecErrorPath(t *testing.T) {
	for _, c := range []struct {
		err  error
		want path.Path
	}{
		{&daytona.AttrError{Path: []string{"daytona", "cpu"}, Err: errors.New("x")}, path.Root("daytona").AtName("cpu")},
		{fmt.Errorf("wrapped: %w", &daytona.AttrError{Path: []string{"vcpus"}, Err: errors.New("x")}), path.Root("vcpus")},
		{errors.New("plain"), path.Root("daytona")},
	} {
		if got := specErrorPath("daytona", c.err); !got.Equal(c.want) {
			t.Errorf("specErrorPath(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}
