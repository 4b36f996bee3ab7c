package provider

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

const (
	createRoute = "POST /v3/sandboxes"
	getRoute    = "GET /v2/sandboxes/{name}"
	listRoute   = "GET /v2/sandboxes"
)

func vercelSandboxHCL(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "\nresource \"sandbox_sandbox\" %q {\n  backend = \"vercel\"\n  purpose = %q\n}\n", n, n)
	}
	return b.String()
}

func checkRecordStatus(env *testEnv, id *string, want string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		rec, err := env.record(*id)
		if err != nil {
			return err
		}
		if got := rec.String("status"); got != want {
			return fmt.Errorf("record %s is %q, want %q", *id, got, want)
		}
		return nil
	}
}

// Faults on the wire, with the real terraform: a 429 with Retry-After is waited out and the create succeeds; a
// refresh that meets 500 until the retries run out fails in bounded time with a clear error and leaves the
// record and the state alone; a create that meets 500s fails, the resource is tainted, and the next apply
// replaces it cleanly; a create that the API applied before answering 500 is adopted by the retry (409 on the
// same name, tagged with the same record), not duplicated.
func TestAccVercel_faults429And500(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFake(t)
	base := vercelHCL(env, fake)
	var id, failedID string
	var started time.Time
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             vercelDestroyed(env, fake),
		Steps: []resource.TestStep{
			{
				PreConfig: func() {
					fake.Faults().Add(harness.Fault{Route: createRoute, Status: http.StatusTooManyRequests, RetryAfter: "1"})
				},
				Config: base + vercelSandboxHCL("s"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running"),
					func(s *terraform.State) error {
						id = attrOf(s, "sandbox_sandbox.s", "id")
						if n := fake.Requests(createRoute); n != 2 {
							return fmt.Errorf("%d creates, want 2 (a 429, then the retry)", n)
						}
						if left := fake.SandboxNames(); len(left) != 1 {
							return fmt.Errorf("sandboxes on the fake: %v, want one", left)
						}
						return nil
					},
				),
			},
			{
				// 500 on every read: the engine's retries (5 attempts) and the lifecycle's (3 reads) run out.
				PreConfig: func() {
					fake.Faults().Add(harness.Fault{Route: getRoute, Status: http.StatusInternalServerError, Times: -1})
					// The list a refresh reads sandboxes from fails too, so each sandbox is read with its GET.
					fake.Faults().Add(harness.Fault{Route: listRoute, Status: http.StatusInternalServerError, Times: -1})
					started = time.Now()
				},
				Config:      base + vercelSandboxHCL("s"),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Cannot read sandbox.*500\s+Internal\s+Server\s+Error.*gave\s+up\s+after\s+5\s+attempts`),
			},
			{
				// The failed refresh took bounded time and changed nothing: same record, active, empty plan.
				PreConfig: func() {
					if d := time.Since(started); d > 45*time.Second {
						t.Errorf("the refresh that met 500s took %s", d)
					}
					if n := fake.Requests(getRoute); n > 20 {
						t.Errorf("%d reads for one refresh: the retries are not bounded", n)
					}
					fake.Faults().Clear()
				},
				RefreshState: true,
				Check: resource.ComposeAggregateTestCheckFunc(
					checkRecordStatus(env, &id, backend.StatusActive),
					resource.TestCheckResourceAttrPtr("sandbox_sandbox.s", "id", &id),
				),
			},
			{Config: base + vercelSandboxHCL("s"), PlanOnly: true},
			{
				PreConfig: func() {
					fake.Faults().Add(harness.Fault{Route: createRoute, Status: 500, Times: 5})
				},
				Config:      base + vercelSandboxHCL("s", "t"),
				ExpectError: regexp.MustCompile(`(?s)Sandbox not created.*gave\s+up\s+after\s+5\s+attempts.*tainted`),
			},
			{
				// The failed create left its record (error) and a tainted resource: the apply replaces it.
				PreConfig: func() {
					recs, err := env.store().Query(t.Context(), backend.Query{Entity: backend.EntitySandboxes})
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range recs {
						if r.String("status") == backend.StatusError {
							failedID = r.ID
						}
					}
					if failedID == "" {
						t.Fatal("no error record after the failed create")
					}
				},
				Config: base + vercelSandboxHCL("s", "t"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.t", plancheck.ResourceActionDestroyBeforeCreate),
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.t", "state", "running"),
					checkRecordStatus(env, &failedID, backend.StatusShutdown),
					func(*terraform.State) error {
						if left := fake.SandboxNames(); len(left) != 2 {
							return fmt.Errorf("sandboxes on the fake: %v, want two", left)
						}
						return nil
					},
				),
			},
			{
				// Applied, then answered 500: the retry meets 409 on the name and adopts the sandbox.
				PreConfig: func() {
					fake.Faults().Add(harness.Fault{Route: createRoute, Status: 500, AfterApply: true})
				},
				Config: base + vercelSandboxHCL("s", "t", "u"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.u", "state", "running"),
					func(s *terraform.State) error {
						if left := fake.SandboxNames(); len(left) != 3 {
							return fmt.Errorf("sandboxes on the fake: %v, want three", left)
						}
						return nil
					},
				),
			},
			{Config: base + vercelSandboxHCL("s", "t", "u"), PlanOnly: true},
		},
	})
}

// A token the API refuses (403) fails the apply with an error that names VERCEL_TOKEN and not the token; the
// resource is tainted and converges once the token is right.
func TestAccVercel_badToken(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFake(t)
	const badToken = "vercel-bad-token-7d1e"
	c := fake.Config()
	withToken := func(token string) string {
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
`, env.dbPath, token, c.TeamID, c.ProjectID, fake.URL()) + vercelSandboxHCL("s")
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             vercelDestroyed(env, fake),
		Steps: []resource.TestStep{
			{
				Config:      withToken(badToken),
				ExpectError: regexp.MustCompile(`(?s)403\s+Forbidden\s+\(forbidden\):\s+Not\s+authorized.*VERCEL_TOKEN`),
			},
			{
				PreConfig: func() {
					if err := env.noSecretsInStore(badToken); err != nil {
						t.Error(err)
					}
					if left := fake.SandboxNames(); len(left) != 0 {
						t.Errorf("a refused create left %v on the fake", left)
					}
				},
				Config: withToken(c.Token),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running"),
			},
		},
	})
}

// No token anywhere: nothing fails until a resource uses backend = "vercel"; then the plan fails naming the
// environment variables, before any request.
func TestAccVercel_missingTokenAtPlanTime(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFake(t)
	for _, v := range []string{"VERCEL_TOKEN", "VERCEL_OIDC_TOKEN", "VERCEL_TEAM_ID", "VERCEL_PROJECT_ID"} {
		t.Setenv(v, "")
	}
	noToken := fmt.Sprintf("provider \"sandbox\" {\n  sqlite_path = %q\n  vercel {\n    api_url = %q\n  }\n}\n", env.dbPath, fake.URL())
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: noToken},
			{
				Config:      noToken + vercelSandboxHCL("s"),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)backend.*VERCEL_TOKEN.*VERCEL_OIDC_TOKEN`),
			},
			{
				Config: noToken,
				Check: func(*terraform.State) error {
					if n := fake.Requests(""); n != 0 {
						return fmt.Errorf("%d requests reached the API without a token", n)
					}
					return nil
				},
			},
		},
	})
}

// A sandbox that never leaves pending fails its create at the create timeout: the resource is tainted (its
// record id is in the state), not orphaned. The next apply deletes it and creates a new one; a pending sandbox
// whose resource was removed from the configuration is destroyed; destroy leaves nothing on the fake.
func TestAccVercel_pendingPastTimeoutIsTainted(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFakeWith(t, vercelfake.Config{BootDelay: -1})
	base := vercelHCL(env, fake)
	pending := func(names ...string) string {
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "\nresource \"sandbox_sandbox\" %q {\n  backend = \"vercel\"\n  timeouts {\n    create = \"3s\"\n  }\n}\n", n)
		}
		return base + b.String()
	}
	var stuck []string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             vercelDestroyed(env, fake),
		Steps: []resource.TestStep{
			{
				Config:      pending("p", "q"),
				ExpectError: regexp.MustCompile(`(?s)Sandbox not created.*still pending.*tainted`),
			},
			{
				PreConfig: func() {
					stuck = fake.SandboxNames()
					if len(stuck) != 2 {
						t.Fatalf("sandboxes on the fake after two timed-out creates: %v, want two pending", stuck)
					}
					for _, n := range stuck {
						if st := fake.SandboxStatus(n); st != "pending" {
							t.Fatalf("%s is %q, want pending", n, st)
						}
					}
					fake.SetBootDelay(20 * time.Millisecond)
				},
				Config: pending("p"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.p", plancheck.ResourceActionDestroyBeforeCreate),
					plancheck.ExpectResourceAction("sandbox_sandbox.q", plancheck.ResourceActionDestroy),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.p", "state", "running"),
					func(s *terraform.State) error {
						now := attrOf(s, "sandbox_sandbox.p", "external_sandbox_id")
						if left := fake.SandboxNames(); len(left) != 1 || left[0] != now {
							return fmt.Errorf("sandboxes on the fake: %v, want only %s (the stuck ones were %v)", left, now, stuck)
						}
						for _, n := range stuck {
							rec, err := env.record(strings.TrimPrefix(n, "sbx-"))
							if err != nil {
								return err
							}
							if rec.String("status") != backend.StatusShutdown {
								return fmt.Errorf("the stuck sandbox's record %s is %q, want shutdown", rec.ID, rec.String("status"))
							}
						}
						return nil
					},
				),
			},
		},
	})
}

// testOIDCToken is an unsigned JWT with the claims a Vercel OIDC token carries (the fake, like the engine,
// does not verify signatures; the real API does).
func testOIDCToken(owner, project string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." +
		enc(map[string]any{"owner_id": owner, "project_id": project, "exp": time.Now().Add(time.Hour).Unix()}) + ".c2lnbmF0dXJl"
}

// VERCEL_OIDC_TOKEN alone: the team and project come from its claims (owner_id, project_id).
func TestAccVercel_oidcTokenGivesTeamAndProject(t *testing.T) {
	env := newTestEnv(t)
	token := testOIDCToken("team_oidc42", "prj_oidc42")
	fake := startVercelFakeWith(t, vercelfake.Config{Token: token, TeamID: "team_oidc42", ProjectID: "prj_oidc42"})
	t.Setenv("VERCEL_TOKEN", "")
	t.Setenv("VERCEL_TEAM_ID", "")
	t.Setenv("VERCEL_PROJECT_ID", "")
	t.Setenv("VERCEL_OIDC_TOKEN", token)
	cfg := fmt.Sprintf("provider \"sandbox\" {\n  sqlite_path = %q\n  vercel {\n    api_url = %q\n  }\n}\n", env.dbPath, fake.URL()) + vercelSandboxHCL("s")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             vercelDestroyed(env, fake),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running"),
					func(*terraform.State) error { return env.noSecretsInStore(token) },
				),
			},
			{Config: cfg, PlanOnly: true},
		},
	})
}
