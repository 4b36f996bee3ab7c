package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	tfresource "github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona"
)

// urls holds one preview URL per port; url_tokens the matching preview tokens, as a sensitive attribute that
// follows the token Daytona rotates when the sandbox restarts, and never reaches a record.
func TestAccDaytona_previewURLsAndTokens(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	eng, err := daytona.New(daytona.Config{APIKey: testDaytonaKey, APIURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(state string) string {
		return daytonaHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  ports         = [3000, 8080]
  desired_state = %q
}
`, state)
	}
	var tokens []string
	// checkTokens compares url_tokens with what the preview-url endpoint says now, and keeps them.
	checkTokens := func(s *terraform.State) error {
		ext := attrOf(s, "sandbox_sandbox.s", "external_sandbox_id")
		for _, port := range []int{3000, 8080} {
			want, err := eng.PreviewToken(context.Background(), ext, port)
			if err != nil {
				return err
			}
			if got := attrOf(s, "sandbox_sandbox.s", fmt.Sprintf("url_tokens.%d", port)); got != want || got == "" {
				return fmt.Errorf("url_tokens.%d = %q, the service says %q", port, got, want)
			}
			if u := attrOf(s, "sandbox_sandbox.s", fmt.Sprintf("urls.%d", port)); u != fmt.Sprintf("https://%d-%s.proxy.daytona.fake", port, ext) {
				return fmt.Errorf("urls.%d = %q", port, u)
			}
			tokens = append(tokens, want)
		}
		return env.noSecretsInStore(tokens...)
	}
	tfresource.Test(t, tfresource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             daytonaNothingLeft(env, fake),
		Steps: []tfresource.TestStep{
			{
				Config: cfg("running"),
				Check: tfresource.ComposeAggregateTestCheckFunc(
					tfresource.TestCheckResourceAttr("sandbox_sandbox.s", "urls.%", "2"),
					tfresource.TestCheckResourceAttr("sandbox_sandbox.s", "url_tokens.%", "2"),
					tfresource.TestMatchResourceAttr("sandbox_sandbox.s", "sandbox_url", regexp.MustCompile(`^https://3000-`)),
					checkTokens,
				),
			},
			{Config: cfg("running"), PlanOnly: true},
			{Config: cfg("stopped"), Check: checkTokens},
			{
				// Started again: Daytona gives a new token, and the state follows it.
				Config: cfg("running"),
				Check: tfresource.ComposeAggregateTestCheckFunc(checkTokens, func(*terraform.State) error {
					if len(tokens) < 6 || tokens[len(tokens)-1] == tokens[1] {
						return fmt.Errorf("the token did not change across a restart: %v", tokens)
					}
					return nil
				}),
			},
			{Config: cfg("running"), PlanOnly: true},
		},
	})
}

func TestDaytonaURLTokensAreSensitive(t *testing.T) {
	var resp resource.SchemaResponse
	NewSandboxResource().Schema(context.Background(), resource.SchemaRequest{}, &resp)
	a, ok := resp.Schema.Attributes["url_tokens"]
	if !ok || !a.IsSensitive() || !a.IsComputed() || a.IsOptional() {
		t.Fatalf("url_tokens = %+v; want a computed, sensitive attribute", a)
	}
}
