package vercel

import (
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/enginetest"
)

// startFake starts a fake for one test and closes it at the end.
func startFake(t *testing.T, cfg vercelfake.Config) *vercelfake.Fake {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	f, err := vercelfake.New(cfg)
	if err != nil {
		t.Fatalf("starting the fake: %v", err)
	}
	t.Cleanup(f.Close)
	return f
}

// testConfig is a configuration pointing at a fake, with short polls and backoffs.
func testConfig(f *vercelfake.Fake) Config {
	fc := f.Config()
	return Config{
		Token:          fc.Token,
		TeamID:         fc.TeamID,
		ProjectID:      fc.ProjectID,
		APIURL:         f.URL(),
		PollInterval:   10 * time.Millisecond,
		RetryBaseDelay: 5 * time.Millisecond,
		RetryMaxDelay:  50 * time.Millisecond,
	}
}

func newTestEngine(t *testing.T, f *vercelfake.Fake, mods ...func(*Config)) *Engine {
	t.Helper()
	cfg := testConfig(f)
	for _, m := range mods {
		m(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// TestConformance runs the engine suite on the fake, every part the declared capabilities name.
func TestConformance(t *testing.T) {
	enginetest.Run(t, Descriptor.Capabilities, func(t *testing.T) backend.Engine {
		return newTestEngine(t, startFake(t, vercelfake.Config{}))
	}, enginetest.Options{Runtime: "node22"})
}

// TestConformanceDefaultImage runs the suite without a runtime: creates go to /v3 with the default image.
func TestConformanceDefaultImage(t *testing.T) {
	enginetest.Run(t, Descriptor.Capabilities, func(t *testing.T) backend.Engine {
		return newTestEngine(t, startFake(t, vercelfake.Config{}))
	}, enginetest.Options{})
}
