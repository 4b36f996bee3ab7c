package sprites_test

import (
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/enginetest"
)

// newEngine returns an engine on the fake, with short backoffs so that fault tests stay fast.
func newEngine(t *testing.T, f *spritesfake.Fake, mutate ...func(*sprites.Config)) *sprites.Engine {
	t.Helper()
	cfg := sprites.Config{
		Token:      f.Token(),
		APIURL:     f.URL(),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond,
		KillGrace:  2 * time.Second,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	e, err := sprites.New(cfg)
	if err != nil {
		t.Fatalf("sprites.New: %v", err)
	}
	return e
}

// TestConformance runs the engine suite on the fake. Sprites have no stop: Capabilities().StopStart is false,
// so the suite skips its stop/start part (and the provider refuses desired_state = "stopped" at plan time).
func TestConformance(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	enginetest.Run(t, func(t *testing.T) backend.Engine { return newEngine(t, f) }, enginetest.Options{
		ExecTimeout: time.Second,
	})
}
