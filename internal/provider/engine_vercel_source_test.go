package provider

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

// vercelTarball serves a .tar.gz with one file on loopback, as a tarball source's URL.
func vercelTarball(t *testing.T, name, content string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(buf.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/app.tar.gz"
}

// The vercel {} block with the real terraform: a tarball source fetched into the sandbox, persistent = false
// recorded under params.vercel, no perpetual diff from the block, stdout and stderr kept apart, and a new
// source replaces the sandbox.
func TestAccVercel_tarballSourceNotPersistent(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFake(t)
	one := vercelTarball(t, "app/hello.txt", "from tarball one\n")
	two := vercelTarball(t, "app/hello.txt", "from tarball two\n")
	cfg := func(url string) string {
		return vercelHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  backend = "vercel"
  vercel {
    persistent = false
    source = {
      type = "tarball"
      url  = %q
    }
  }
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "cat app/hello.txt; echo warn >&2"]
}
`, url)
	}
	var first string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             vercelDestroyed(env, fake),
		Steps: []resource.TestStep{
			{
				Config: cfg(one),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "from tarball one\n"),
					resource.TestCheckResourceAttr("sandbox_command.c", "stderr", "warn\n"),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "vercel.persistent", "false"),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "vercel.source.type", "tarball"),
					func(s *terraform.State) error {
						first = attrOf(s, "sandbox_sandbox.s", "external_sandbox_id")
						rec, err := env.record(attrOf(s, "sandbox_sandbox.s", "id"))
						if err != nil {
							return err
						}
						md, _ := rec.JSONMap("params")["vercel"].(map[string]any)
						src, _ := md["source"].(map[string]any)
						if md["persistent"] != false || src["url"] != one {
							return fmt.Errorf("params.vercel = %v", md)
						}
						return nil
					},
				),
			},
			{Config: cfg(one), PlanOnly: true},
			{
				Config: cfg(two),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "from tarball two\n"),
					func(s *terraform.State) error {
						if now := attrOf(s, "sandbox_sandbox.s", "external_sandbox_id"); now == first || fake.SandboxStatus(first) != "" {
							return fmt.Errorf("a new source did not replace %s (now %s)", first, now)
						}
						return nil
					},
				),
			},
			{Config: cfg(two), PlanOnly: true},
		},
	})
}
