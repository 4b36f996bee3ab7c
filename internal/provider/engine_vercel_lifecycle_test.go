package provider

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

const extendTimeoutRoute = "POST /v2/sandboxes/sessions/{sessionId}/extend-timeout"

// The whole life of a sandbox on Vercel with the real terraform: basic with an empty second plan, urls per
// port from the API's routes, timeout extended in place on the running session, a stopped sandbox refreshed
// without being resumed, import verify, replace (the old sandbox is gone from the service), disappears (deleted
// behind Terraform's back: planned for creation) and destroy (nothing on the fake, every record closed).
func TestAccVercel_sandboxLifecycle(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFake(t)
	cfg := func(runtime, timeout, state string) string {
		return vercelHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  backend       = "vercel"
  runtime       = %q
  timeout       = %q
  ports         = [3000, 8080]
  purpose       = "lifecycle"
  env           = { WHO = "vercel-env-5c1d9e" }
  desired_state = %q
}
`, runtime, timeout, state)
	}
	var name, firstName string
	resumes := 0
	sameName := func(s *terraform.State) error {
		if got := attrOf(s, "sandbox_sandbox.s", "external_sandbox_id"); got != name {
			return fmt.Errorf("the sandbox is now %s, was %s: an in-place change replaced it", got, name)
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             vercelDestroyed(env, fake),
		Steps: []resource.TestStep{
			{
				Config: cfg("node22", "5m", "running"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "backend", "vercel"),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "status", "active"),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running"),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "urls.%", "2"),
					func(s *terraform.State) error {
						name = attrOf(s, "sandbox_sandbox.s", "external_sandbox_id")
						firstName = name
						id := attrOf(s, "sandbox_sandbox.s", "id")
						if name != "sbx-"+id {
							return fmt.Errorf("sandbox name %q, want sbx-%s", name, id)
						}
						routes := fake.Routes(name)
						for _, port := range []int{3000, 8080} {
							got := attrOf(s, "sandbox_sandbox.s", fmt.Sprintf("urls.%d", port))
							if got == "" || got != routes[port] {
								return fmt.Errorf("urls[%d] = %q, the API's route is %q", port, got, routes[port])
							}
						}
						if got := fake.SandboxEnv(name)["WHO"]; got != "vercel-env-5c1d9e" {
							return fmt.Errorf("the sandbox env on the fake has WHO=%q", got)
						}
						rec, err := env.record(id)
						if err != nil {
							return err
						}
						md, _ := rec.JSONMap("params")["vercel"].(map[string]any)
						if md["name"] != name || md["runtime"] != "node22" || md["persistent"] != true {
							return fmt.Errorf("params.vercel = %v", md)
						}
						if ms := fake.SessionTimeout(name); ms != 300000 {
							return fmt.Errorf("session timeout on the fake = %d ms, want 300000", ms)
						}
						return env.noSecretsInStore(fake.Config().Token, "vercel-env-5c1d9e") // env values are never recorded
					},
				),
			},
			{Config: cfg("node22", "5m", "running"), PlanOnly: true},
			{
				// A longer timeout is in place: the running session is extended.
				Config: cfg("node22", "10m", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "timeout", "10m"),
					sameName,
					func(*terraform.State) error {
						if ms := fake.SessionTimeout(name); ms != 600000 {
							return fmt.Errorf("session timeout on the fake = %d ms after the update, want 600000", ms)
						}
						if n := fake.Requests(extendTimeoutRoute); n != 1 {
							return fmt.Errorf("%d extend-timeout calls, want 1", n)
						}
						return nil
					},
				),
			},
			{Config: cfg("node22", "10m", "running"), PlanOnly: true},
			{
				Config: cfg("node22", "10m", "stopped"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "stopped"),
					sameName,
					func(*terraform.State) error {
						if st := fake.SandboxStatus(name); st != "stopped" {
							return fmt.Errorf("the sandbox is %q on the fake, want stopped", st)
						}
						resumes = fake.Resumes()
						return nil
					},
				),
			},
			{
				// Refreshing a stopped sandbox reads it without resume=true (which would boot a billed VM).
				RefreshState: true,
				Check: func(*terraform.State) error {
					if n := fake.Resumes(); n != resumes {
						return fmt.Errorf("a refresh resumed the stopped sandbox (%d resumes, was %d)", n, resumes)
					}
					if st := fake.SandboxStatus(name); st != "stopped" {
						return fmt.Errorf("the sandbox is %q on the fake after a refresh, want stopped", st)
					}
					return nil
				},
			},
			{Config: cfg("node22", "10m", "stopped"), PlanOnly: true},
			{
				ResourceName:            "sandbox_sandbox.s",
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"env"},
			},
			{
				Config: cfg("node22", "10m", "running"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running"),
					sameName,
					func(*terraform.State) error {
						if n := fake.Resumes(); n != resumes+1 {
							return fmt.Errorf("%d resumes to start the sandbox again, want 1", n-resumes)
						}
						return nil
					},
				),
			},
			{
				// The runtime cannot change in place: a new sandbox replaces the old one, which is gone.
				Config: cfg("node24", "10m", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "runtime", "node24"),
					func(s *terraform.State) error {
						name = attrOf(s, "sandbox_sandbox.s", "external_sandbox_id")
						if name == firstName {
							return errors.New("the replacement kept the old sandbox's name")
						}
						if left := fake.SandboxNames(); len(left) != 1 || left[0] != name {
							return fmt.Errorf("sandboxes on the fake after the replacement: %v, want only %s", left, name)
						}
						rec, err := env.record(strings.TrimPrefix(firstName, "sbx-"))
						if err != nil {
							return err
						}
						if rec.String("status") != backend.StatusShutdown {
							return fmt.Errorf("the replaced sandbox's record is %q", rec.String("status"))
						}
						return nil
					},
				),
			},
			{
				// Deleted behind Terraform's back: the refresh drops it and the plan creates it again.
				PreConfig: func() {
					if !fake.DeleteSandbox(name) {
						t.Fatalf("sandbox %s was not on the fake", name)
					}
				},
				Config: cfg("node24", "10m", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionCreate),
				}},
				Check: func(s *terraform.State) error {
					gone := name
					name = attrOf(s, "sandbox_sandbox.s", "external_sandbox_id")
					if name == gone || fake.SandboxStatus(name) != "running" {
						return fmt.Errorf("no new running sandbox after the old one disappeared (now %s, %q)", name, fake.SandboxStatus(name))
					}
					rec, err := env.record(strings.TrimPrefix(gone, "sbx-"))
					if err != nil {
						return err
					}
					if rec.String("status") != backend.StatusShutdown {
						return fmt.Errorf("the vanished sandbox's record is %q, want shutdown", rec.String("status"))
					}
					return nil
				},
			},
			{Config: cfg("node24", "10m", "running"), PlanOnly: true},
		},
	})
}

// Plan-time refusals point at the attribute: vCPUs that are odd, privileged ports, too many ports, a timeout
// beyond the API's bounds, a snapshot expiration under a day. No request reaches the fake.
func TestAccVercel_planTimeValidation(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFake(t)
	sb := func(body string) string {
		return vercelHCL(env, fake) + "resource \"sandbox_sandbox\" \"s\" {\n  backend = \"vercel\"\n" + body + "}\n"
	}
	many := make([]string, 16)
	for i := range many {
		many[i] = fmt.Sprint(3000 + i)
	}
	steps := []resource.TestStep{}
	for _, tc := range []struct{ body, want string }{
		{"  vcpus = 3\n", `(?s)vcpus = 3.*1 or an even number`},
		{"  vcpus = 16\n", `(?s)vcpus = 16.*at most 8`},
		{"  ports = [80]\n", `(?s)ports = \[80\].*outside 1024\.\.65535`},
		{"  ports = [" + strings.Join(many, ", ") + "]\n", `(?s)ports = \[3000.*at most 15 ports`},
		{"  timeout = \"25h\"\n", `(?s)timeout = "25h".*between 1s\s+and 24h`},
		{"  runtime = \"node18\"\n", `(?s)runtime = "node18".*node22, node24, node26, python3\.13`},
		{"  vercel {\n    snapshot_expiration = \"1h\"\n  }\n", `(?s)vercel.*at least one day`},
	} {
		steps = append(steps, resource.TestStep{Config: sb(tc.body), PlanOnly: true, ExpectError: regexp.MustCompile(tc.want)})
	}
	steps = append(steps,
		resource.TestStep{
			Config: vercelHCL(env, fake) + `
resource "sandbox_setup" "s" {
  backend = "vercel"
  command = ["true"]
  vercel {
    expiration = "2h"
  }
}
`,
			PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)expiration = "2h".*at least one day`),
		},
		resource.TestStep{
			Config: vercelHCL(env, fake) + `
resource "sandbox_setup" "s" {
  backend = "vercel"
  command = ["true"]
  vercel {
    vcpus = 3
  }
}
`,
			PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)vcpus = 3.*1 or an even number`),
		},
		resource.TestStep{
			Config: vercelHCL(env, fake) + `
resource "sandbox_setup" "s" {
  command = ["true"]
  vercel {
    expiration = "never"
  }
}
`,
			PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)vercel block only applies to backend = "vercel"`),
		},
		resource.TestStep{
			Config: vercelHCL(env, fake),
			Check: func(*terraform.State) error {
				if n := fake.Requests(""); n != 0 {
					return fmt.Errorf("plan-time refusals sent %d requests to the API", n)
				}
				return nil
			},
		},
	)
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
}
