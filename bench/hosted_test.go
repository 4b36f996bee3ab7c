package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona/daytonafake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
)

// readyStep is how long each transitional state lasts on the fakes (make bench's fakes rows use the same).
const readyStep = 300 * time.Millisecond

// hostedFake is one engine on its fake: an engine with the client's own poll cadence, one that polls every
// 5 ms (the baseline: how soon the fake's state transitions let a create finish), and the fake's request count.
type hostedFake struct {
	name     string
	client   backend.Engine
	fastPoll backend.Engine
	requests func() int
}

func hostedFakes(b *testing.B) []hostedFake {
	b.Helper()
	const key = "dtn_0123456789abcdef0123456789abcdef"
	dt := daytonafake.New(daytonafake.Options{APIKey: key, Root: b.TempDir(), StepDelay: readyStep})
	b.Cleanup(dt.Close)
	vc, err := vercelfake.New(vercelfake.Config{Dir: b.TempDir(), BootDelay: readyStep, StopDelay: readyStep, SnapshotDelay: readyStep})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(vc.Close)
	sp, err := spritesfake.New(spritesfake.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sp.Close)
	must := func(e backend.Engine, err error) backend.Engine {
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	vcfg := func(poll time.Duration) vercel.Config {
		c := vc.Config()
		return vercel.Config{Token: c.Token, TeamID: c.TeamID, ProjectID: c.ProjectID, APIURL: vc.URL(), PollInterval: poll}
	}
	fast := 5 * time.Millisecond
	spritesCount := func() int {
		n := 0
		for _, v := range sp.Counts() {
			n += v
		}
		return n
	}
	return []hostedFake{
		{"daytona",
			must(daytona.New(daytona.Config{APIKey: key, APIURL: dt.URL()})),
			must(daytona.New(daytona.Config{APIKey: key, APIURL: dt.URL(), PollInitial: fast, PollMax: fast})),
			func() int { return dt.Count("") }},
		{"vercel", must(vercel.New(vcfg(0))), must(vercel.New(vcfg(fast))), func() int { return vc.Requests("") }},
		{"sprites",
			must(sprites.New(sprites.Config{Token: sp.Token(), APIURL: sp.URL()})),
			must(sprites.New(sprites.Config{Token: sp.Token(), APIURL: sp.URL()})),
			spritesCount},
	}
}

// BenchmarkHostedCreateReady times a create until the sandbox is ready (CreateSandbox returns once it can run
// commands) on each hosted fake whose state transitions take 300 ms, with the engine's own poll cadence
// (/client) and with a 5 ms poll (/fast_poll, the baseline: what the fake's transitions alone cost), one
// create after the other. It reports the median (ready-ms) and the requests per create (req/op).
func BenchmarkHostedCreateReady(b *testing.B) {
	for _, h := range hostedFakes(b) {
		for _, v := range []struct {
			name string
			eng  backend.Engine
		}{{"client", h.client}, {"fast_poll", h.fastPoll}} {
			b.Run(h.name+"/"+v.name, func(b *testing.B) {
				ctx := context.Background()
				var lat []float64
				r0 := h.requests()
				for b.Loop() {
					t0 := time.Now()
					sb, err := v.eng.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Purpose: "bench"})
					if err != nil {
						b.Fatal(err)
					}
					lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
					if sb.State != backend.StateRunning {
						b.Fatalf("created %s is %s", sb.ExternalID, sb.State)
					}
				}
				slices.Sort(lat)
				b.ReportMetric(lat[len(lat)/2], "ready-ms")
				b.ReportMetric(float64(h.requests()-r0)/float64(len(lat)), "req/op")
				fmt.Printf("READY engine=%s variant=%s creates=%d median_ms=%.0f max_ms=%.0f\n", h.name, v.name, len(lat), lat[len(lat)/2], lat[len(lat)-1])
			})
		}
	}
}
