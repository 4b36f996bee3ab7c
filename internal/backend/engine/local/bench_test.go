//go:build linux

package local

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Shape of the 1 GiB artifact: many small files (a node_modules) and a few large ones (toolchains, models).
const (
	benchSmallFiles = 16384
	benchSmallSize  = 32 << 10 // 16384 x 32 KiB = 512 MiB in 256 directories
	benchLargeFiles = 4
	benchLargeSize  = 128 << 20 // 4 x 128 MiB = 512 MiB
	benchTotal      = benchSmallFiles*benchSmallSize + benchLargeFiles*benchLargeSize
)

// BenchmarkSandboxFromSetup1GiB compares making a sandbox from a 1 GiB setup artifact (copy-on-write: overlayfs
// where the engine can mount, else reflink, else a copy) with `cp -a` of the same tree, and with the engine
// forced to its plain-copy fallback. It writes 1 GiB, so it runs only with SANDBOX_BENCH_1GIB=1 and not under
// -short:
//
//	SANDBOX_BENCH_1GIB=1 go test -run '^$' -bench SandboxFromSetup1GiB -benchtime 5x ./internal/backend/engine/local/
func BenchmarkSandboxFromSetup1GiB(b *testing.B) {
	if testing.Short() || os.Getenv("SANDBOX_BENCH_1GIB") != "1" {
		b.Skip("writes 1 GiB: set SANDBOX_BENCH_1GIB=1 (and do not use -short) to run it")
	}
	e := newBwrap(b)
	ctx := context.Background()
	art, _, err := e.BuildSetup(ctx, backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: newFingerprint(), Argv: []string{"true"}})
	if err != nil {
		b.Fatal(err)
	}
	home, _ := art.Metadata["home"].(string)
	start := time.Now()
	if err := writeBenchTree(home); err != nil {
		b.Fatal(err)
	}
	syscall.Sync() // the copies below must not pay for writing the source back
	written := time.Since(start).Round(time.Millisecond)

	perOp := map[string]time.Duration{}
	fromSetup := func(eng *Engine, name string) func(b *testing.B) {
		return func(b *testing.B) {
			b.SetBytes(benchTotal)
			var method string
			for i := 0; i < b.N; i++ {
				sb, err := eng.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Setup: art.ExternalID})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				method, _ = sb.Metadata["setup_copy"].(string)
				if err := eng.DeleteSandbox(ctx, sb.ExternalID); err != nil {
					b.Fatal(err)
				}
				syscall.Sync()
				b.StartTimer()
			}
			perOp[name] = b.Elapsed() / time.Duration(b.N)
			b.Logf("setup_copy = %s; artifact: %d small files of %d KiB and %d of %d MiB, %d MiB in all, written in %s",
				method, benchSmallFiles, benchSmallSize>>10, benchLargeFiles, benchLargeSize>>20, benchTotal>>20, written)
		}
	}
	b.Run("sandbox_from_setup", fromSetup(e, "sandbox_from_setup"))

	plain, err := New(Config{Root: e.Root(), SetupCopy: CopyPlain})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sandbox_from_setup_plain_copy", fromSetup(plain, "sandbox_from_setup_plain_copy"))

	b.Run("cp_a", func(b *testing.B) {
		b.SetBytes(benchTotal)
		for i := 0; i < b.N; i++ {
			dst := filepath.Join(e.Root(), fmt.Sprintf("cp-%d", i))
			if out, err := exec.Command("cp", "-a", home, dst).CombinedOutput(); err != nil {
				b.Fatalf("cp -a: %v: %s", err, out)
			}
			b.StopTimer()
			if err := os.RemoveAll(dst); err != nil {
				b.Fatal(err)
			}
			syscall.Sync()
			b.StartTimer()
		}
		perOp["cp_a"] = b.Elapsed() / time.Duration(b.N)
		// Logged here: the log of a benchmark with sub-benchmarks is not printed.
		if s, c := perOp["sandbox_from_setup"], perOp["cp_a"]; s > 0 && c > 0 {
			b.Logf("sandbox_from_setup %s/op, sandbox_from_setup_plain_copy %s/op, cp -a %s/op: cp -a takes %.0fx as long as a sandbox from the setup",
				s, perOp["sandbox_from_setup_plain_copy"], c, float64(c)/float64(s))
		}
	})
}

// writeBenchTree writes the benchmark's artifact tree under dir: incompressible content, one buffer reused.
func writeBenchTree(dir string) error {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 8<<20)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for i := 0; i < benchSmallFiles; i++ {
		d := filepath.Join(dir, "node_modules", fmt.Sprintf("pkg%03d", i%256), "lib")
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		off := (i * 4099) % (len(buf) - benchSmallSize)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d.js", i)), buf[off:off+benchSmallSize], 0o644); err != nil {
			return err
		}
	}
	for i := 0; i < benchLargeFiles; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("large-%d.bin", i)))
		if err != nil {
			return err
		}
		for n := 0; n < benchLargeSize; n += len(buf) {
			buf[0], buf[1] = byte(i), byte(n>>20) // not the same blocks everywhere
			if _, err := f.Write(buf[:min(len(buf), benchLargeSize-n)]); err != nil {
				_ = f.Close()
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
