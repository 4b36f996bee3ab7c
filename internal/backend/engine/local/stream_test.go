package local

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// TestExecStreamsOutput: ExecRequest.Output receives the output while the command runs. The command waits for a
// file that the Output callback writes once it saw the first line: without streaming, the command would never
// see the file and would be killed at its timeout.
func TestExecStreamsOutput(t *testing.T) {
	for name, newEngine := range map[string]func(testing.TB) *Engine{"bwrap": newBwrap, "none": newNone} {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t)
			sb := create(t, e, backend.SandboxSpec{})
			var (
				mu     sync.Mutex
				got    strings.Builder
				wrote  bool
				werr   error
				stderr strings.Builder
			)
			res, err := e.Exec(context.Background(), sb.ExternalID, backend.ExecRequest{
				Argv:    []string{"sh", "-c", "echo first; echo warn >&2; while [ ! -f go ]; do sleep 0.05; done; echo second"},
				Timeout: 60 * time.Second,
				Output: func(stream string, p []byte) {
					mu.Lock()
					defer mu.Unlock()
					if stream == "stderr" {
						stderr.Write(p)
						return
					}
					got.Write(p)
					if !wrote && strings.Contains(got.String(), "first\n") {
						wrote = true
						werr = e.WriteFile(context.Background(), sb.ExternalID, "go", []byte("1"))
					}
				},
			})
			if err != nil || werr != nil {
				t.Fatalf("Exec: %v; WriteFile: %v", err, werr)
			}
			if res.TimedOut || res.ExitCode != 0 {
				t.Fatalf("the command did not see the file written on its first line of output: %+v", res)
			}
			mu.Lock()
			defer mu.Unlock()
			if got.String() != "first\nsecond\n" || string(res.Stdout) != "first\nsecond\n" || stderr.String() != "warn\n" {
				t.Fatalf("streamed %q (stderr %q), result %q", got.String(), stderr.String(), res.Stdout)
			}
		})
	}
}
