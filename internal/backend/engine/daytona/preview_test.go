package daytona

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Every read returns the preview token of each port as the API gives it now (it changes on restart), in
// URLTokens only: never in the URL, Metadata or the view's JSON.
func TestPreviewTokensFollowRestarts(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	ctx := ctxFor(t, 30*time.Second)
	sb := mustCreate(t, e, backend.SandboxSpec{Ports: []int{3000}})
	tok, err := e.PreviewToken(ctx, sb.ExternalID, 3000)
	if err != nil || tok == "" || sb.URLTokens[3000] != tok {
		t.Fatalf("CreateSandbox URLTokens = %v; PreviewToken = %q, %v", sb.URLTokens, tok, err)
	}
	b, _ := json.Marshal(sb)
	if strings.Contains(string(b), tok) || strings.Contains(sb.URLs[3000], tok) {
		t.Errorf("the token shows outside URLTokens: %s", b)
	}
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	got, err := e.GetSandbox(ctx, sb.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	now, err := e.PreviewToken(ctx, sb.ExternalID, 3000)
	if err != nil || now == tok || got.URLTokens[3000] != now {
		t.Errorf("after a restart: URLTokens %v, the API says %q (before: %q), %v", got.URLTokens, now, tok, err)
	}
	list, err := e.ListSandboxes(ctx)
	if err != nil || len(list) != 1 || list[0].URLTokens != nil || list[0].URLs[3000] != sb.URLs[3000] {
		t.Errorf("ListSandboxes = %+v, %v; want the cached URL and no token", list, err)
	}
}
