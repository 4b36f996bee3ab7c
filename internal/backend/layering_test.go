package backend_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const enginePrefix = "github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/"

// TestEnginesImportNoSiblingEngine keeps engines independent: a file under engine/<name>/ may import its own
// package and its own fakes, never another engine's. (The other layering rules are depguard rules in
// .golangci.yml; this one needs "any engine but its own", which depguard cannot say without naming every engine.)
func TestEnginesImportNoSiblingEngine(t *testing.T) {
	root := filepath.Join("engine")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		own := e.Name()
		err := filepath.WalkDir(filepath.Join(root, own), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			checked++
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				rest, ok := strings.CutPrefix(p, enginePrefix)
				if !ok {
					continue
				}
				if other, _, _ := strings.Cut(rest, "/"); other != own {
					t.Errorf("%s imports engine %q: engines never import each other (share code through internal/backend)", path, other)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked == 0 {
		t.Fatal("no engine source files found under engine/: the test would check nothing")
	}
}
