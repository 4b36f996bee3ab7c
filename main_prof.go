//go:build prof

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"time"
)

// With -tags prof and SANDBOX_CPUPROFILE=prefix, the provider writes a CPU profile every second to
// prefix.<pid>.<n> (merge them with go tool pprof): a provider process ends without a hook to flush one.
func init() {
	p := os.Getenv("SANDBOX_CPUPROFILE")
	if p == "" {
		return
	}
	go func() {
		for i := 0; ; i++ {
			f, err := os.Create(fmt.Sprintf("%s.%d.%d", p, os.Getpid(), i))
			if err != nil {
				return
			}
			_ = pprof.StartCPUProfile(f)
			time.Sleep(time.Second)
			pprof.StopCPUProfile()
			_ = f.Close()
		}
	}()
}
