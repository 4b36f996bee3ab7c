package sweep

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// ForTests sweeps for real with every creating record counted as abandoned (call it once the tests' applies
// have ended) and returns an error naming everything it had to remove: after tests that destroy what they
// make, anything found is a leak. What it found is removed either way, so that one leaky test does not fail
// the next. Informational findings (creating records of other engines, objects without a label) are not
// errors.
func ForTests(ctx context.Context, store backend.Store, engines backend.EngineMap) error {
	rep, err := Sweep(ctx, store, engines, Options{Apply: true, CreateTimeout: -1, DeleteUnattributed: true})
	if err != nil {
		return err
	}
	var leaks []string
	for _, f := range rep.Actionable() {
		id := f.RecordID
		if id == "" {
			id = f.ExternalID
		}
		leaks = append(leaks, fmt.Sprintf("%s %s on %s: %s (%s)", f.Kind, id, f.Engine, f.Problem, f.Action))
	}
	var errs []error
	if len(leaks) > 0 {
		errs = append(errs, fmt.Errorf("sweep found %d leftover(s):\n  %s", len(leaks), strings.Join(leaks, "\n  ")))
	}
	if err := rep.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Sweeper adapts ForTests to terraform-plugin-testing's sweepers, whose F has this signature (the region
// argument is ignored): in a provider test package,
//
//	func TestMain(m *testing.M) {
//		resource.AddTestSweepers("sandbox_sandbox", &resource.Sweeper{Name: "sandbox_sandbox", F: sweep.Sweeper(open)})
//		resource.TestMain(m) // `go test ./internal/provider -sweep=all` runs it
//	}
//
// where open opens the store and engines that the acceptance tests share (their SANDBOX_SQLITE_PATH and
// SANDBOX_LOCAL_ROOT). Sweeper closes the store when done.
func Sweeper(open func(ctx context.Context) (backend.Store, backend.EngineMap, error)) func(region string) error {
	return func(string) error {
		ctx := context.Background()
		store, engines, err := open(ctx)
		if err != nil {
			return err
		}
		return errors.Join(ForTests(ctx, store, engines), store.Close())
	}
}
