package storetest_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/storetest"
)

// TestReferenceStore runs the suite against the in-memory reference store, which must pass it.
func TestReferenceStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) backend.Store { return newMemStore() })
}

// TestSuiteCatchesBugs runs the suite against the reference store with one deliberate bug at a time, each in
// a child process (a failing suite fails its test), and checks that the suite fails, in the expected subtest.
func TestSuiteCatchesBugs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	bugs := map[string]string{ // bug -> a subtest of Run that must fail
		"update_replaces":       "UpdatePatch",
		"float_numbers":         "CanonicalTypes",
		"nil_fields":            "CreateGet",
		"no_conflict":           "CreateConflict",
		"plain_not_found":       "NotFound",
		"cross_entity":          "EntityIsolation",
		"ignore_unknown_fields": "InvalidInput",
		"no_validate":           "QueryInvalid",
		"nil_empty_query":       "Query",
		"ignore_limit":          "Query",
		"ignore_desc":           "LargeQuery",
		"no_default_order":      "LargeQuery",
		"lost_update":           "Concurrency",
		"cas_not_atomic":        "CompareAndUpdate",
	}
	for bug, subtest := range bugs {
		t.Run(bug, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBuggyStore$", "-test.count=1")
			cmd.Env = append(os.Environ(), "STORETEST_BUG="+bug)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite passed a store with bug %q (err %v):\n%s", bug, err, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBuggyStore/"+subtest+" ") {
				t.Errorf("with bug %q the suite did not fail in %s:\n%s", bug, subtest, out)
			}
		})
	}
}

// TestBuggyStore is the child process of TestSuiteCatchesBugs.
func TestBuggyStore(t *testing.T) {
	bug := os.Getenv("STORETEST_BUG")
	if bug == "" {
		t.Skip("run by TestSuiteCatchesBugs")
	}
	storetest.Run(t, func(*testing.T) backend.Store { return newMemStore(bug) })
}
