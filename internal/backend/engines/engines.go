// Package engines is the registry of the engines this build knows: the provider (its provider blocks, the
// backend attribute, plan-time capability checks), cmd/sweep and the docs loop over it. Adding an engine is
// one package under internal/backend/engine and one line here (CONTRIBUTING.md).
package engines

import (
	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel"
)

// All lists every engine's descriptor, in documentation order (the default engine, local, first).
var All = []backend.EngineDescriptor{
	local.Descriptor,
	daytona.Descriptor,
	vercel.Descriptor,
	sprites.Descriptor,
}

// Default is the engine of a resource when neither it, the provider block nor SANDBOX_PROVIDER names one: the
// first of All (local, which needs no account).
func Default() string { return All[0].Name }

// Names lists the engines' names, in the order of All.
func Names() []string {
	out := make([]string, len(All))
	for i, d := range All {
		out[i] = d.Name
	}
	return out
}

// Lookup returns the descriptor of the engine named name.
func Lookup(name string) (backend.EngineDescriptor, bool) {
	for _, d := range All {
		if d.Name == name {
			return d, true
		}
	}
	return backend.EngineDescriptor{}, false
}
