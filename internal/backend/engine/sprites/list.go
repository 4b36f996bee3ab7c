package sprites

import (
	"context"
	"fmt"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var _ backend.RefreshLister = (*Engine)(nil)

// ListForRefresh implements backend.RefreshLister: the org's sprites (GET /v1/sprites, every page of 50), each
// full entry as GetSandbox would give it. Lists may answer minimal entries (name, org, updated_at): one without
// its labels, status or URL is left out, and the lifecycle GETs that sprite as before.
func (e *Engine) ListForRefresh(ctx context.Context) (map[string]*backend.Sandbox, error) {
	all, err := e.c.ListSprites(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("listing sprites: %w", err)
	}
	out := make(map[string]*backend.Sandbox, len(all))
	for _, s := range all {
		if !s.labelsKnown || s.Status == "" || s.URL == "" {
			continue
		}
		out[s.Name] = e.toSandbox(s)
	}
	return out, nil
}
