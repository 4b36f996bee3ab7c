package daytona

import (
	"context"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona/daytonafake"
)

// BenchmarkSandboxLifecycle creates a sandbox, runs one command and deletes it, against the fake with 50ms
// transitions, and reports the requests each cycle costs (reads while waiting included) next to the time.
func BenchmarkSandboxLifecycle(b *testing.B) {
	f := daytonafake.New(daytonafake.Options{APIKey: testKey, StepDelay: 50 * time.Millisecond, Root: b.TempDir()})
	b.Cleanup(f.Close)
	e, err := New(Config{APIKey: testKey, APIURL: f.URL()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	before := f.Count("")
	polls := f.Count("GET /sandbox/{id}")
	for b.Loop() {
		sb, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}}); err != nil {
			b.Fatal(err)
		}
		if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.Count("")-before)/float64(b.N), "requests/op")
	b.ReportMetric(float64(f.Count("GET /sandbox/{id}")-polls)/float64(b.N), "reads/op")
}
