package vercel

import (
	"context"
	"strings"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var _ backend.RefreshLister = (*Engine)(nil)

// ListForRefresh implements backend.RefreshLister: every sandbox named "sbx-<record id>" (GET /v2/sandboxes
// sorted by name with the prefix, every page), each as GetSandbox gives a sandbox without ports. A list item is
// the named sandbox without its session or routes: its status is the current session's (State maps both enums
// alike), and a sandbox without ports has no routes to miss. The lifecycle reads a sandbox whose record has
// ports with a GET, for its routes.
func (e *Engine) ListForRefresh(ctx context.Context) (map[string]*backend.Sandbox, error) {
	list, err := e.c.ListSandboxes(ctx, ListOptions{NamePrefix: SandboxPrefix})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*backend.Sandbox, len(list))
	for i := range list {
		sb := &list[i]
		if !strings.HasPrefix(sb.Name, SandboxPrefix) || checkRecordID(strings.TrimPrefix(sb.Name, SandboxPrefix)) != nil || sb.Status == "" {
			continue
		}
		v := e.view(&SandboxResponse{Sandbox: *sb})
		v.Metadata["ports"] = []int{} // what a GET of a sandbox without ports says
		out[v.ExternalID] = v
	}
	return out, nil
}
