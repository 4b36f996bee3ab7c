package daytona

import (
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/enginetest"
)

// TestConformance runs the engine suite on the fake, every part the declared capabilities name.
func TestConformance(t *testing.T) {
	enginetest.Run(t, Descriptor.Capabilities, func(t *testing.T) backend.Engine {
		return newEngine(t, newFake(t))
	}, enginetest.Options{ExecTimeout: time.Second})
}
