package provider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

// A run Terraform makes (sandbox_command) on InstantDB records is linked to its sandbox through the library's
// link sandboxProcessSandbox: an app's query sandbox_sandboxes { processes {} } returns it.
func TestAccInstantDB_runsLinkedToTheirSandbox(t *testing.T) {
	env := newTestEnvFor(t, RecordsInstantDB)
	cfg := env.providerHCL() + `
resource "sandbox_sandbox" "s" {}

resource "sandbox_command" "hello" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "echo hello"]
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: func(s *terraform.State) error {
				sandboxID, runID := attrOf(s, "sandbox_sandbox.s", "id"), attrOf(s, "sandbox_command.hello", "id")
				body, _ := json.Marshal(map[string]any{"query": map[string]any{
					"sandbox_sandboxes": map[string]any{"$": map[string]any{"where": map[string]any{"id": sandboxID}}, "processes": map[string]any{}},
				}})
				req, _ := http.NewRequest(http.MethodPost, env.instant.URL()+"/admin/query?app_id="+testInstantAppID, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("App-Id", testInstantAppID)
				req.Header.Set("Authorization", "Bearer "+testInstantToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				var out struct {
					Sandboxes []struct {
						ID        string `json:"id"`
						Processes []struct {
							ID     string `json:"id"`
							Status string `json:"status"`
						} `json:"processes"`
					} `json:"sandbox_sandboxes"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
					return fmt.Errorf("query: HTTP %d, %w", resp.StatusCode, err)
				}
				if len(out.Sandboxes) != 1 || len(out.Sandboxes[0].Processes) != 1 || out.Sandboxes[0].Processes[0].ID != runID || out.Sandboxes[0].Processes[0].Status != "exited" {
					return fmt.Errorf("sandbox_sandboxes { processes {} } = %+v; want the sandbox with run %s", out, runID)
				}
				return nil
			},
		}},
	})
}
