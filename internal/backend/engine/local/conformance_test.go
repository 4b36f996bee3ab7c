package local

import (
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/enginetest"
)

// TestConformanceBwrap runs the engine suite, every part the declared capabilities name, under bubblewrap.
// The files API writes and reads a mounted volume where the sandbox sees it (its data directory).
func TestConformanceBwrap(t *testing.T) {
	enginetest.Run(t, Descriptor.Capabilities, func(t *testing.T) backend.Engine { return newBwrap(t) },
		enginetest.Options{})
}

// TestConformanceNone runs it without isolation, which declares less: no volumes (nothing to mount them
// with), and only allow_all (nothing enforces a policy).
func TestConformanceNone(t *testing.T) {
	declared := Capabilities
	declared.Volumes = false
	declared.NetworkPolicies = []string{backend.PolicyAllowAll}
	declared.PolicyCredentials = false
	enginetest.Run(t, declared, func(t *testing.T) backend.Engine { return newNone(t) }, enginetest.Options{})
}
