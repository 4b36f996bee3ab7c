package engines_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
)

// Every engine package under internal/backend/engine is registered, once, with a complete descriptor: adding
// an engine is one package and one line in engines.All, and forgetting the line fails here.
func TestEveryEngineIsRegistered(t *testing.T) {
	dirs, err := os.ReadDir(filepath.Join("..", "engine"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range engines.All {
		if d.Name == "" || seen[d.Name] {
			t.Errorf("descriptor %q: empty or registered twice", d.Name)
		}
		seen[d.Name] = true
		if d.New == nil {
			t.Errorf("%s: no constructor", d.Name)
		}
		settings := map[string]bool{}
		for _, s := range d.Settings {
			if s.Name == "" || settings[s.Name] || s.Doc == "" || len(s.Envs) == 0 {
				t.Errorf("%s.%s: a setting needs a unique name, a description and an environment fallback", d.Name, s.Name)
			}
			settings[s.Name] = true
			if s.Sensitive && s.Label != "" {
				t.Errorf("%s.%s: a sensitive setting is never shown (no Label)", d.Name, s.Name)
			}
		}
		if len(d.Capabilities.NetworkPolicies) == 0 {
			t.Errorf("%s: no declared capabilities (network policies)", d.Name)
		}
		for kind, b := range d.Options {
			if !slices.Contains(backend.ResourceKinds, kind) {
				t.Errorf("%s: options for an unknown kind of resource %q", d.Name, kind)
			}
			if err := b.Validate(); err != nil {
				t.Errorf("%s: the %s block: %v", d.Name, kind, err)
			}
		}
		if d.CheckOptions != nil && len(d.Options) == 0 {
			t.Errorf("%s: CheckOptions without option blocks", d.Name)
		}
		for kind, doc := range d.ResourceDocs {
			if !slices.Contains(backend.ResourceKinds, kind) || !strings.HasPrefix(doc, " ") {
				t.Errorf("%s: the %s doc must be for a known kind and start with a space (it follows a sentence)", d.Name, kind)
			}
		}
		for kind, docs := range d.AttributeDocs {
			for name, doc := range docs {
				if !slices.Contains(backend.ResourceKinds, kind) || !strings.HasPrefix(doc, " ") {
					t.Errorf("%s: the doc of %s.%s must be for a known kind and start with a space", d.Name, kind, name)
				}
			}
		}
	}
	for _, dir := range dirs {
		if dir.IsDir() && !seen[dir.Name()] {
			t.Errorf("engine package %s is not in engines.All", dir.Name())
		}
	}
	if len(engines.Names()) != len(engines.All) {
		t.Error("Names does not list every engine")
	}
	if _, ok := engines.Lookup("nonexistent"); ok {
		t.Error("Lookup found an unknown engine")
	}
}
