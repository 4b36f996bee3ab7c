package sprites_test

import (
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/enginetest"
)

// TestConformance runs the engine suite on the fake, every part the declared capabilities name. Sprites have
// no stop (StopStart is false): the suite checks that a stop is refused and the sprite still runs, and the
// provider refuses desired_state = "stopped" at plan time.
func TestConformance(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	enginetest.Run(t, sprites.Descriptor.Capabilities, func(t *testing.T) backend.Engine { return newEngine(t, f) }, enginetest.Options{
		ExecTimeout: time.Second,
	})
}
