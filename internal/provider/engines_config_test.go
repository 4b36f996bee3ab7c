package provider

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
)

// The provider has one block per registered engine, made from its descriptor: every setting, its
// environment fallbacks in order and its sensitivity; and the environment table of the docs (templates/
// index.md.tmpl, prose that tfplugindocs cannot generate) lists each setting with exactly those fallbacks.
func TestEngineBlocksFromRegistry(t *testing.T) {
	var resp provider.SchemaResponse
	New("test")().Schema(context.Background(), provider.SchemaRequest{}, &resp)
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "templates", "index.md.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range engines.All {
		block, ok := resp.Schema.Blocks[d.Name].(schema.SingleNestedBlock)
		if !ok {
			t.Errorf("no provider block %s", d.Name)
			continue
		}
		if len(block.Attributes) != len(d.Settings) {
			t.Errorf("block %s has %d attributes; the descriptor has %d settings", d.Name, len(block.Attributes), len(d.Settings))
		}
		for _, s := range d.Settings {
			a, ok := block.Attributes[s.Name].(schema.StringAttribute)
			if !ok {
				t.Errorf("%s.%s is not a string attribute of the block", d.Name, s.Name)
				continue
			}
			if a.Sensitive != s.Sensitive {
				t.Errorf("%s.%s: Sensitive %v; the descriptor says %v", d.Name, s.Name, a.Sensitive, s.Sensitive)
			}
			quoted := make([]string, len(s.Envs))
			for i, e := range s.Envs {
				quoted[i] = "`" + e + "`"
			}
			if want := "Falls back to " + strings.Join(quoted, ", then "); !strings.Contains(a.MarkdownDescription, want) {
				t.Errorf("%s.%s: description %q does not say %q", d.Name, s.Name, a.MarkdownDescription, want)
			}
			row := ""
			for _, line := range strings.Split(string(tmpl), "\n") {
				if strings.Contains(line, "| `"+d.Name+"."+s.Name+"` |") {
					row = line
				}
			}
			if want := "| " + strings.Join(quoted, ", ") + " | `" + d.Name + "." + s.Name + "` |"; !strings.HasPrefix(row, want) {
				t.Errorf("templates/index.md.tmpl: the row of %s.%s is %q; want it to start with %q", d.Name, s.Name, row, want)
			}
		}
	}
}
