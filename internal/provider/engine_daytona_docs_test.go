package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
)

// The generated docs say, for Daytona, what survives what in a workspace, what the network is without a policy,
// and how volumes and setups behave.
func TestDaytonaDocs(t *testing.T) {
	desc := func(r resource.Resource) string {
		var resp resource.SchemaResponse
		r.Schema(context.Background(), resource.SchemaRequest{}, &resp)
		return resp.Schema.MarkdownDescription
	}
	var sb resource.SchemaResponse
	NewSandboxResource().Schema(context.Background(), resource.SchemaRequest{}, &sb)
	checks := map[string][]string{
		"sandbox_workspace":       {"What survives what", "/home/daytona/workspace", "running processes survive nothing", "Daytona's own default"},
		"sandbox_sandbox.daytona": {"networkBlockAll = true", "open egress", "credentials", "archived sandbox"},
		"sandbox_volume":          {"`deleted` reads as gone", "409"},
		"sandbox_setup":           {"ekairos-setup-<fingerprint>", "noticed on refresh and built again"},
	}
	texts := map[string]string{
		"sandbox_workspace":       desc(NewWorkspaceResource()),
		"sandbox_sandbox.daytona": sb.Schema.Blocks["daytona"].GetMarkdownDescription(),
		"sandbox_volume":          desc(NewVolumeResource()),
		"sandbox_setup":           desc(NewSetupResource()),
	}
	for name, wants := range checks {
		for _, w := range wants {
			if !strings.Contains(texts[name], w) {
				t.Errorf("%s's description does not say %q:\n%s", name, w, texts[name])
			}
		}
	}
}
