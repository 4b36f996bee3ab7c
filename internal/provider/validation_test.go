package provider

import (
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

func defaultSandboxTimeoutDuration() time.Duration {
	d, _ := time.ParseDuration(defaultSandboxTimeout)
	return d
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// Bad input fails at plan time with the attribute path in the diagnostic.
func TestAccSandbox_planTimeValidation(t *testing.T) {
	env := newTestEnv(t)
	cases := []struct {
		name, body, want string
	}{
		{"unknown backend", `backend = "nope"`, `(?s)backend.*value must be one of`},
		{"negative vcpus", `vcpus = -1`, `(?s)vcpus.*at least 1`},
		{"port out of range", `ports = [0]`, `(?s)ports\[0\].*between 1 and 65535`},
		{"port too high", `ports = [70000]`, `(?s)ports\[0\].*between 1 and 65535`},
		{"duplicate ports", `ports = [80, 80]`, `(?s)ports.*duplicate`},
		{"timeout does not parse", `timeout = "five minutes"`, `(?s)timeout.*not a duration`},
		{"timeout out of range", `timeout = "10ms"`, `(?s)timeout.*out of range`},
		{"params not JSON", `params = "{not json"`, `(?s)Invalid JSON.*params`},
		{"params not an object", `params = jsonencode([1, 2])`, `(?s)params.*JSON object`},
		{"params reserved key", `params = jsonencode({ local = 1 })`, `(?s)params.*reserved`},
		{"bad env name", `env = { "1BAD" = "x" }`, `(?s)env.*environment variable name`},
		{"bad desired_state", `desired_state = "paused"`, `(?s)desired_state.*value must be one of`},
		{"local option out of range", "backend = \"local\"\n local {\n memory_mb = 1\n }", `(?s)memory_mb.*between 16`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:      sandboxConfig(env, tc.body),
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(tc.want),
				}},
			})
		})
	}
}

func TestAccSandbox_importErrors(t *testing.T) {
	env := newTestEnv(t)
	cfg := sandboxConfig(env, `  purpose = "import"`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				ResourceName:  sandboxAddr,
				ImportState:   true,
				ImportStateId: "not-a-uuid",
				ExpectError:   regexp.MustCompile(`(?s)not a record id`),
			},
			{
				ResourceName:  sandboxAddr,
				ImportState:   true,
				ImportStateId: "6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f",
				ExpectError:   regexp.MustCompile(`(?s)No record 6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f`),
			},
		},
	})
}
