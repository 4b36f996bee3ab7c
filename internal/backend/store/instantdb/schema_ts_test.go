package instantdb

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var update = flag.Bool("update", false, "rewrite testdata/instant.schema.ts from SchemaTS")

// TestSchemaTS checks that SchemaTS is stable (the golden file the docs show) and declares every field.
func TestSchemaTS(t *testing.T) {
	got := SchemaTS()
	if again := SchemaTS(); again != got {
		t.Fatal("SchemaTS is not deterministic")
	}
	golden := filepath.Join("testdata", "instant.schema.ts")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestSchemaTS -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("SchemaTS differs from %s; if the schema changed on purpose, run go test -run TestSchemaTS -update\n%s", golden, got)
	}
	for _, e := range backend.Entities() {
		if !strings.Contains(got, "    "+e.Name+": i.entity({\n") {
			t.Errorf("entity %s missing", e.Name)
		}
		for _, f := range e.Fields {
			if !strings.Contains(got, "      "+f.Name+": "+attrBuilder(f)+",\n") {
				t.Errorf("%s.%s missing or mistyped", e.Name, f.Name)
			}
		}
	}
	for _, line := range []string{
		"      createdAt: i.number().optional().indexed(),",
		"      ports: i.json().optional(),",
		"      status: i.string().optional().indexed(),",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("SchemaTS lacks %q", line)
		}
	}
}
