package daytona

import (
	"context"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var _ backend.RefreshLister = (*Engine)(nil)

// ListForRefresh implements backend.RefreshLister: the plain sandboxes this provider made (GET /sandbox with
// its label filter, every page), each as GetSandbox would give it. A list item has every field the engine's
// view reads (labels, state, desiredState, name, createdAt, autoDeleteInterval); a sandbox with ports is left
// out, since its preview URLs and tokens take a request per port that GetSandbox makes and a list does not.
func (e *Engine) ListForRefresh(ctx context.Context) (map[string]*backend.Sandbox, error) {
	list, err := e.listSandboxes(ctx, map[string]string{LabelManagedBy: ManagedBy, LabelKind: KindSandbox})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*backend.Sandbox, len(list))
	for i := range list {
		if len(portsOf(list[i].Labels)) > 0 {
			continue
		}
		sb, err := e.view(ctx, &list[i], false)
		if err != nil {
			return nil, err
		}
		out[sb.ExternalID] = sb
	}
	return out, nil
}
