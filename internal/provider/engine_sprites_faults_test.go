package provider

import (
	"fmt"
	"net/http"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

// TestAccSprites_faults runs the API's faults through terraform: a 429 on create is waited out and
// retried; a 500 on every read fails the refresh once the retries run out, with the status and the API's
// message, and leaves the record active (a transient error is not a vanished sprite); a WebSocket that drops
// before the exit frame fails the command with a clear error and a failed run record, never exit code 0.
func TestAccSprites_faults(t *testing.T) {
	env := newTestEnv(t)
	fake := spritesfake.Start(t, spritesfake.Options{})
	cfg := func(run string) string {
		return spritesHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  backend = "sprites"
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "echo partial; exit 0"]
  triggers   = { run = %q }
}
`, run)
	}
	var id string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if names := fake.Names(); len(names) != 0 {
				return fmt.Errorf("sprites left after destroy: %v", names)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				PreConfig: func() { fake.Faults().Add(spritesfake.RateLimited("POST /v1/sprites", 1)) },
				Config:    cfg("1"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "status", "active"),
					resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "partial\n"),
					func(s *terraform.State) error {
						id = attrOf(s, "sandbox_sandbox.s", "id")
						if n := fake.Count("POST /v1/sprites"); n != 2 {
							return fmt.Errorf("POST /v1/sprites sent %d times; want 2 (429, then the retry)", n)
						}
						return nil
					},
				),
			},
			{
				PreConfig: func() {
					// Every read fails: the list a refresh reads sprites from, then each sprite's own GET.
					fake.Faults().Add(harness.Fault{Status: http.StatusInternalServerError, Body: `{"errors":["database is unavailable"]}`, Times: -1,
						Match: func(r *http.Request) bool {
							return r.Method == http.MethodGet && (r.URL.Path == "/v1/sprites" || path.Dir(r.URL.Path) == "/v1/sprites")
						}})
				},
				Config:      cfg("1"),
				PlanOnly:    true,
				ExpectError: wrapped(`HTTP 500: database is unavailable (gave up after 6 attempts)`),
			},
			{
				PreConfig: func() {
					fake.Faults().Clear()
					rec, err := env.record(id)
					if err != nil || rec.String("status") != backend.StatusActive {
						t.Fatalf("after failed refreshes the record is %v, %v; a 500 must not close it", rec, err)
					}
					fake.Faults().Add(harness.Fault{Route: "WS /v1/sprites/{name}/exec", Extra: spritesfake.DropExec{}})
				},
				Config:      cfg("2"),
				ExpectError: wrapped(`the connection ended before the command's exit code arrived, so its outcome is unknown`),
			},
			{
				PreConfig: func() {
					for _, r := range env.processRecords(t) {
						if r.String("status") == backend.ProcessExited {
							continue // the first, good run
						}
						if r.String("status") != backend.ProcessFailed {
							t.Fatalf("the dropped run's record is %q, want failed", r.String("status"))
						}
						if code, ok := r.Int("exitCode"); ok && code == 0 {
							t.Fatalf("the dropped run's record says exit code 0: %v", r.Attrs)
						}
						if md := r.JSONMap("metadata"); !strings.Contains(fmt.Sprint(md["error"]), "outcome is unknown") {
							t.Fatalf("the dropped run's record does not say why: %v", md)
						}
					}
				},
				// Without the fault the command runs.
				Config: cfg("2"),
				Check:  resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "partial\n"),
			},
		},
	})
}

// wrapped matches text as terraform prints it, wrapped at any space.
func wrapped(text string) *regexp.Regexp {
	return regexp.MustCompile(strings.Join(strings.Fields(regexp.QuoteMeta(text)), `\s+`))
}

// TestAccSprites_unauthorizedNamesTheEnvVar: a token the service rejects fails the apply with HTTP 401 and
// the env vars the token is read from; the record keeps the error; with the right token the next apply
// replaces the failed sandbox.
func TestAccSprites_unauthorizedNamesTheEnvVar(t *testing.T) {
	env := newTestEnv(t)
	fake := spritesfake.Start(t, spritesfake.Options{})
	cfg := func(token string) string {
		return fmt.Sprintf(`
provider "sandbox" {
  sqlite_path = %q
  sprites {
    token   = %q
    api_url = %q
  }
}

resource "sandbox_sandbox" "s" {
  backend = "sprites"
}
`, env.dbPath, token, fake.URL())
	}
	const wrong = "fake-org/1/2/wrong-secret-value"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if names := fake.Names(); len(names) != 0 {
				return fmt.Errorf("sprites left after destroy: %v", names)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:      cfg(wrong),
				ExpectError: regexp.MustCompile(`(?s)HTTP 401.*SPRITES_API_TOKEN`),
			},
			{
				PreConfig: func() {
					if err := env.noSecretsInStore(wrong); err != nil {
						t.Fatal(err)
					}
				},
				Config: cfg(fake.Token()),
				Check:  resource.TestCheckResourceAttr("sandbox_sandbox.s", "status", "active"),
			},
		},
	})
}
