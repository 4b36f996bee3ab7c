package local

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// BenchmarkExecTruePaired is what `make bench` reports for exec: `sh -c true` and the engine's exec of `true`
// run in pairs, each timed on its own, their order alternating from pair to pair, after one warm-up command
// (which starts the sandbox's init). It reports the median of each (sh-ns, exec-ns) and the median of the
// pairs' ratios (x_sh). A pair runs within a few milliseconds, so a change of the machine's load moves both
// sides of it; medians ignore the commands that met a descheduled CPU. BenchmarkExecTrue, which times 300
// bare runs and then 300 engine runs and divides the means, moved from 1.47x to 2.28x between two machines of
// the same kind: the blocks ran seconds apart, under whatever load came and went, and a mean takes in every
// stall of a command that hands over between three processes (client, spawner, command).
func BenchmarkExecTruePaired(b *testing.B) {
	for _, c := range []struct {
		name string
		eng  func(testing.TB) *Engine
	}{{"local_bwrap", newBwrap}, {"local_none", newNone}} {
		b.Run(c.name, func(b *testing.B) {
			e := c.eng(b)
			sb := create(b, e, backend.SandboxSpec{})
			ctx := context.Background()
			run := func() time.Duration {
				t0 := time.Now()
				res, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}})
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("true: %+v, %v", res, err)
				}
				return time.Since(t0)
			}
			bare := func() time.Duration {
				t0 := time.Now()
				if err := exec.Command("sh", "-c", "true").Run(); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			run() // warm-up: starts the init
			var sh, ex, ratio []float64
			i := 0
			for b.Loop() {
				var s, x time.Duration
				if i%2 == 0 {
					s, x = bare(), run()
				} else {
					x, s = run(), bare()
				}
				i++
				sh, ex = append(sh, float64(s)), append(ex, float64(x))
				ratio = append(ratio, float64(x)/float64(s))
			}
			b.ReportMetric(median(sh), "sh-ns")
			b.ReportMetric(median(ex), "exec-ns")
			b.ReportMetric(median(ratio), "x_sh")
			b.ReportMetric(quantile(ex, 0.9)/median(ex), "exec-p90/p50")
			b.ReportMetric(quantile(sh, 0.9)/median(sh), "sh-p90/p50")
		})
	}
}

func median(v []float64) float64 { return quantile(v, 0.5) }

func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}
