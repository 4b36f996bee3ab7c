package provider

import (
	"fmt"
	"net/http"
	"path"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

// TestAccRefreshByList_daytona: a plan over hosted sandboxes reads them from the engine's list (one paged list per
// provider process), not with one GET each, and plans exactly what GETs would: a sandbox stopped outside
// Terraform is planned back to running, one deleted outside Terraform (absent from the list, then confirmed
// gone by its GET) is planned for creation, and the others show no change.
func TestAccRefreshByList_daytona(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	const n = 8
	cfg := daytonaHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  count   = %d
  purpose = "fleet"
}
`, n)
	var exts []string
	var gets0, lists0, mark int
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: func(s *terraform.State) error {
					exts = nil
					for i := 0; i < n; i++ {
						exts = append(exts, attrOf(s, fmt.Sprintf("sandbox_sandbox.s.%d", i), "external_sandbox_id"))
						if exts[i] == "" {
							return fmt.Errorf("sandbox_sandbox.s[%d] has no external_sandbox_id", i)
						}
					}
					return nil
				},
			},
			{
				// Nothing changed: a refresh-only plan is empty and costs the list, no GET.
				PreConfig: func() {
					gets0, lists0 = fake.Count("GET /sandbox/{id}"), fake.Count("GET /sandbox")
				},
				Config:       cfg,
				RefreshState: false,
				PlanOnly:     true,
			},
			{
				PreConfig: func() {
					gets, lists := fake.Count("GET /sandbox/{id}")-gets0, fake.Count("GET /sandbox")-lists0
					if lists < 1 || gets != 0 {
						t.Errorf("empty plans over %d sandboxes made %d GETs and %d list requests; want lists only", n, gets, lists)
					}
					r, err := http.NewRequest(http.MethodPost, fake.URL()+"/sandbox/"+exts[1]+"/stop", nil)
					if err != nil {
						t.Fatal(err)
					}
					r.Header.Set("Authorization", "Bearer "+testDaytonaKey)
					resp, err := http.DefaultClient.Do(r)
					if err != nil || resp.StatusCode != http.StatusOK {
						t.Fatalf("stopping %s outside Terraform: %v %v", exts[1], resp, err)
					}
					_ = resp.Body.Close()
					if !fake.DeleteSandboxOutOfBand(exts[2]) {
						t.Fatalf("deleting %s outside Terraform failed", exts[2])
					}
					mark = len(fake.Requests())
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s[0]", plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction("sandbox_sandbox.s[1]", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("sandbox_sandbox.s[2]", plancheck.ResourceActionCreate),
					plancheck.ExpectResourceAction("sandbox_sandbox.s[3]", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_sandbox.s.1", "state", "running"),
					func(*terraform.State) error {
						// The plan read the unchanged sandboxes from the list; only the deleted one, which the list
						// no longer shows, was confirmed gone by its own GET (the apply then made a new one).
						got := map[string]int{}
						for _, r := range fake.Requests()[mark:] {
							if r.Route == "GET /sandbox/{id}" {
								got[path.Base(r.Path)]++
							}
						}
						for i, ext := range exts {
							if i != 1 && i != 2 && got[ext] > 0 {
								return fmt.Errorf("the unchanged sandbox %s was read with %d GETs; the list shows it", ext, got[ext])
							}
						}
						if got[exts[2]] == 0 {
							return fmt.Errorf("the deleted sandbox %s was not confirmed gone with a GET", exts[2])
						}
						return nil
					},
				),
			},
		},
	})
}
