package daytona

import (
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona/daytonafake"
)

// testKey is the API key the fakes accept; tests check that it never shows in errors.
const testKey = "dtn_0123456789abcdef0123456789abcdef"

func newFake(t *testing.T) *daytonafake.Server {
	t.Helper()
	f := daytonafake.New(daytonafake.Options{APIKey: testKey, StepDelay: 20 * time.Millisecond, Root: t.TempDir()})
	t.Cleanup(f.Close)
	return f
}

// testConfig polls and retries fast, so that the package's tests stay short.
func testConfig(f *daytonafake.Server) Config {
	return Config{APIKey: testKey, APIURL: f.URL(), PollInitial: 10 * time.Millisecond, PollMax: 80 * time.Millisecond,
		RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond}
}

func newEngine(t *testing.T, f *daytonafake.Server, mods ...func(*Config)) *Engine {
	t.Helper()
	cfg := testConfig(f)
	for _, m := range mods {
		m(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
