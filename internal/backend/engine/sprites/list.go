package sprites

import (
	"context"
	"fmt"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var _ backend.RefreshLister = (*Engine)(nil)

// ListForRefresh implements backend.RefreshLister: the sprites with the default sandbox names (GET /v1/sprites
// with the prefix "ekairos-", every page of 50; the org's other sprites are not listed), each full entry as
// GetSandbox would give it. A sprite with a name of its own (sprites { name }) is not in the list: the lifecycle
// reads it with its GET. Lists may answer minimal entries (name, org_slug, updated_at): one without its labels,
// status or URL is left out, and read with its GET as well.
func (e *Engine) ListForRefresh(ctx context.Context) (map[string]*backend.Sandbox, error) {
	all, err := e.c.ListSprites(ctx, sandboxNamePrefix)
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
