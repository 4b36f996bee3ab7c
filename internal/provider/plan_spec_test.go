package provider

import (
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// An engine's refusal about one attribute is a *backend.AttrError, whichever the engine, and lands on it.
func TestSpecErrorPath(t *testing.T) {
	for _, c := range []struct {
		err  error
		want path.Path
	}{
		{&backend.AttrError{Path: []string{"daytona", "cpu"}, Err: errors.New("x")}, path.Root("daytona").AtName("cpu")},
		{fmt.Errorf("wrapped: %w", &backend.AttrError{Path: []string{"vcpus"}, Err: errors.New("x")}), path.Root("vcpus")},
		{backend.NewAttrError(errors.New("x"), "policy", "credentials_wo"), path.Root("policy").AtName("credentials_wo")},
		{errors.New("plain"), path.Root("daytona")},
	} {
		if got := specErrorPath("daytona", c.err); !got.Equal(c.want) {
			t.Errorf("specErrorPath(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}

// policyRefusingEngine is an engine whose ValidatePolicy (backend.PolicyValidator) refuses allow_list policies
// on policy.hosts, as a hosted engine may refuse what it cannot enforce.
type policyRefusingEngine struct{ backend.Engine }

func (policyRefusingEngine) ValidatePolicy(p *backend.NetworkPolicy) error {
	if p != nil && p.Mode == backend.PolicyAllowList {
		return backend.NewAttrError(errors.New("this engine refuses allow lists (test)"), "policy", "hosts")
	}
	return nil
}

// The provider asks any engine that implements backend.PolicyValidator about a setup's and a workspace's
// policy at plan time, and reports the refusal on the attribute it names; nothing is created.
func TestAccPolicyValidator_setupAndWorkspaceAtPlan(t *testing.T) {
	env := newTestEnv(t)
	testEngineHook = func(e backend.Engine) backend.Engine { return policyRefusingEngine{e} }
	t.Cleanup(func() { testEngineHook = nil })
	policy := `
  policy {
    mode  = "allow_list"
    hosts = ["example.com"]
  }`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      env.providerHCL() + "resource \"sandbox_setup\" \"s\" {\n  command = [\"true\"]" + policy + "\n}\n",
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)hosts = \["example.com"\].*refuses allow lists`),
			},
			{
				Config:      env.providerHCL() + "resource \"sandbox_workspace\" \"w\" {\n  name = \"w\"" + policy + "\n}\n",
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)hosts = \["example.com"\].*refuses allow lists`),
			},
			{
				PreConfig: func() {
					for _, entity := range []string{backend.EntitySetups, backend.EntityWorkspaces} {
						if recs, err := env.store().Query(t.Context(), backend.Query{Entity: entity}); err == nil && len(recs) > 0 {
							t.Errorf("a refused plan made %d %s records", len(recs), entity)
						}
					}
				},
				Config: env.providerHCL(), // the wrapper hides the engine's setups: nothing to apply
			},
		},
	})
}
