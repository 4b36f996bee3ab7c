//go:build linux

package local

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

func newFingerprint() string {
	sum := sha256.Sum256([]byte(backend.NewID()))
	return hex.EncodeToString(sum[:])
}

// projectScript makes a small project in the builder's home: files, an executable, a symlink, a hard link, a
// private file, and the value of SETUP_ONLY from the setup's env. It prints RAN, so that runs can be counted.
const projectScript = `echo RAN
mkdir -p proj/bin proj/deep/er
printf v1 > proj/version
printf '#!/bin/sh\necho tool\n' > proj/bin/tool && chmod 755 proj/bin/tool
ln -s version proj/link
ln proj/version proj/hardlink
printf secret > proj/private && chmod 600 proj/private
printf %s "$SETUP_ONLY" > proj/env.txt
echo deep > proj/deep/er/file`

func buildProject(t *testing.T, e *Engine) *backend.SetupArtifact {
	t.Helper()
	art, res, err := e.BuildSetup(context.Background(), backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: newFingerprint(),
		Argv: []string{"sh", "-c", projectScript}, Env: map[string]string{"SETUP_ONLY": "from-setup-env"}, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("BuildSetup: %v (result %+v)", err, res)
	}
	return art
}

// expectedCopy is the copy method that should run here.
func expectedCopy(e *Engine) string {
	switch {
	case e.copyOrder[0] == CopyOverlay && os.Geteuid() == 0:
		return CopyOverlay
	case e.copyOrder[0] != CopyPlain && e.reflinkWorks() == nil:
		return CopyReflink
	}
	return CopyPlain
}

func countRuns(res *backend.ExecResult) int {
	if res == nil {
		return 0
	}
	return strings.Count(string(res.Stdout), "RAN")
}

// TestSetupBuiltOnce: a setup runs once; the same fingerprint finds the artifact and builds nothing more, in
// this engine, in another engine on the same root, and when two builds race.
func TestSetupBuiltOnce(t *testing.T) {
	t.Parallel()
	e := newBwrap(t)
	ctx := context.Background()
	fp := newFingerprint()
	spec := backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: fp, Argv: []string{"sh", "-c", projectScript},
		Env: map[string]string{"SETUP_ONLY": "from-setup-env"}}
	art, res, err := e.BuildSetup(ctx, spec)
	if err != nil {
		t.Fatalf("BuildSetup: %v", err)
	}
	if countRuns(res) != 1 || res.ExitCode != 0 {
		t.Errorf("first BuildSetup ran %d times: %+v", countRuns(res), res)
	}
	if art.ExternalID != "setup-"+fp[:16] || art.Fingerprint != fp || art.State != "ready" {
		t.Errorf("artifact %+v", art)
	}
	home, _ := art.Metadata["home"].(string)
	if b, err := os.ReadFile(filepath.Join(home, "proj", "env.txt")); err != nil || string(b) != "from-setup-env" {
		t.Errorf("the setup's env: %q, %v", b, err)
	}
	dir, _ := art.Metadata["dir"].(string)
	for _, name := range []string{envFile, policyFile, metaFile, runDir} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the artifact keeps the builder's %s: %v", name, err)
		}
	}

	spec.RecordID = backend.NewID()
	again, res, err := e.BuildSetup(ctx, spec)
	if err != nil || res != nil || again.ExternalID != art.ExternalID {
		t.Errorf("second BuildSetup = %+v, %+v, %v; want the same artifact and nothing run", again, res, err)
	}
	other, err := New(Config{Root: e.Root()})
	if err != nil {
		t.Fatal(err)
	}
	if found, err := other.FindSetup(ctx, fp); err != nil || found.ExternalID != art.ExternalID {
		t.Errorf("FindSetup from another engine = %+v, %v", found, err)
	}
	if _, err := e.FindSetup(ctx, newFingerprint()); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup of an unknown fingerprint = %v", err)
	}

	// Two builds of one new definition at once: one runs, the other waits and reuses.
	race := backend.SetupSpec{Fingerprint: newFingerprint(), Argv: []string{"sh", "-c", "echo RAN; sleep 0.3; echo x > f"}}
	var wg sync.WaitGroup
	runs := make([]int, 2)
	ids := make([]string, 2)
	for i, eng := range []*Engine{e, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := race
			s.RecordID = backend.NewID()
			a, r, err := eng.BuildSetup(ctx, s)
			if err != nil {
				t.Errorf("racing BuildSetup: %v", err)
				return
			}
			runs[i], ids[i] = countRuns(r), a.ExternalID
		}()
	}
	wg.Wait()
	if runs[0]+runs[1] != 1 || ids[0] != ids[1] {
		t.Errorf("racing builds ran %v times, artifacts %v; want one run and one artifact", runs, ids)
	}
	assertNoLeftovers(t, e)
}

// assertNoLeftovers checks that no builder or staging directory is left under setups/.
func assertNoLeftovers(t *testing.T, e *Engine) {
	t.Helper()
	for _, d := range []string{e.setupsDir(), e.buildsDir()} {
		ents, _ := os.ReadDir(d)
		for _, ent := range ents {
			if strings.HasPrefix(ent.Name(), ".build-") || strings.HasPrefix(ent.Name(), ".new-") {
				t.Errorf("left in %s: %s", d, ent.Name())
			}
		}
	}
}

// TestSetupFailure: a failing or timed-out setup keeps nothing and says why.
func TestSetupFailure(t *testing.T) {
	t.Parallel()
	e := newBwrap(t)
	ctx := context.Background()
	fp := newFingerprint()
	art, res, err := e.BuildSetup(ctx, backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: fp,
		Argv: []string{"sh", "-c", "echo out; echo err >&2; touch partial; exit 3"}})
	if !errors.Is(err, backend.ErrSetupFailed) || art != nil {
		t.Fatalf("BuildSetup of a failing command = %+v, %v; want ErrSetupFailed", art, err)
	}
	if res == nil || res.ExitCode != 3 || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Errorf("result of the failed setup: %+v", res)
	}
	if _, err := e.FindSetup(ctx, fp); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup after a failure = %v, want ErrNotFound", err)
	}
	_, res, err = e.BuildSetup(ctx, backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: fp,
		Argv: []string{"sleep", "30"}, Timeout: time.Second})
	if !errors.Is(err, backend.ErrSetupFailed) || res == nil || !res.TimedOut {
		t.Errorf("BuildSetup that times out = %+v, %v; want ErrSetupFailed and TimedOut", res, err)
	}
	if ents, _ := os.ReadDir(e.buildsDir()); len(ents) != 0 {
		t.Errorf("builds left after failures: %v", ents)
	}
	assertNoLeftovers(t, e)
	for name, spec := range map[string]backend.SetupSpec{
		"no fingerprint": {Argv: []string{"true"}},
		"no command":     {Fingerprint: fp},
		"bad policy":     {Fingerprint: fp, Argv: []string{"true"}, Policy: &backend.NetworkPolicy{Mode: "x"}},
	} {
		if _, _, err := e.BuildSetup(ctx, spec); err == nil || errors.Is(err, backend.ErrSetupFailed) {
			t.Errorf("BuildSetup with %s = %v, want a validation error", name, err)
		}
	}
}

// TestSetupVanished: an artifact deleted by hand is not found (so Read can notice) and is built again.
func TestSetupVanished(t *testing.T) {
	t.Parallel()
	e := newBwrap(t)
	ctx := context.Background()
	fp := newFingerprint()
	spec := backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: fp, Argv: []string{"sh", "-c", "echo RAN; echo x > f"}}
	art, _, err := e.BuildSetup(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := art.Metadata["dir"].(string)
	if err := removeAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GetSetup(ctx, art.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSetup of an artifact deleted by hand = %v, want ErrNotFound", err)
	}
	if _, err := e.FindSetup(ctx, fp); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup of an artifact deleted by hand = %v, want ErrNotFound", err)
	}
	again, res, err := e.BuildSetup(ctx, spec)
	if err != nil || countRuns(res) != 1 || again.ExternalID != art.ExternalID {
		t.Fatalf("BuildSetup after the artifact vanished = %+v, %+v, %v; want it built again", again, res, err)
	}
	if _, err := e.GetSetup(ctx, art.ExternalID); err != nil {
		t.Errorf("GetSetup of the rebuilt artifact: %v", err)
	}
	if err := e.DeleteSetup(ctx, art.ExternalID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GetSetup(ctx, art.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSetup after DeleteSetup = %v", err)
	}
	if ents, _ := os.ReadDir(e.buildsDir()); len(ents) != 0 {
		t.Errorf("builds left after DeleteSetup: %v", ents)
	}
	if err := e.DeleteSetup(ctx, art.ExternalID); err != nil {
		t.Errorf("DeleteSetup of a missing artifact = %v", err)
	}
	if _, err := e.GetSetup(ctx, "setup-../../x"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSetup of a bad id = %v", err)
	}
}

// TestSandboxFromSetup: a sandbox starts from the artifact without running the setup, by the best copy
// method here (recorded in Metadata), sees its files, and its changes stay its own.
func TestSandboxFromSetup(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"", CopyPlain} {
		name := method
		if name == "" {
			name = "auto"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newBwrapCfg(t, Config{SetupCopy: method})
			want := expectedCopy(e)
			ctx := context.Background()
			art := buildProject(t, e)
			artHome, _ := art.Metadata["home"].(string)

			sb := create(t, e, backend.SandboxSpec{Setup: art.ExternalID})
			if sb.Metadata["setup_copy"] != want || sb.Metadata["setup"] != art.ExternalID {
				t.Errorf("Metadata = %v, want setup_copy %s", sb.Metadata, want)
			}
			dir := metaString(t, sb, "dir")
			if want == CopyOverlay {
				if !homeMounted(dir) {
					t.Errorf("the overlay home is not mounted")
				}
				if ents, _ := os.ReadDir(filepath.Join(dir, upperDir)); len(ents) != 0 {
					t.Errorf("a new overlay sandbox's upper directory holds %d entries: something was copied", len(ents))
				}
			}
			res := sh(t, e, sb.ExternalID, `cat proj/version proj/link proj/private proj/env.txt proj/deep/er/file; proj/bin/tool; stat -c %a proj/private; [ "$(stat -c %i proj/version)" = "$(stat -c %i proj/hardlink)" ] && echo linked; grep -c RAN -r . || true`)
			if want := "v1v1secretfrom-setup-envdeep\ntool\n600\nlinked\n"; !strings.HasPrefix(string(res.Stdout), want) {
				t.Errorf("the sandbox sees %q (stderr %q), want %q", res.Stdout, res.Stderr, want)
			}
			// Its writes stay its own.
			if res := sh(t, e, sb.ExternalID, `printf v2 > proj/version && rm proj/bin/tool && rm -r proj/deep && echo new > new.txt && chmod 644 proj/private`); res.ExitCode != 0 {
				t.Fatalf("writing: %+v %q", res, res.Stderr)
			}
			if err := e.WriteFile(ctx, sb.ExternalID, "api.txt", []byte("api")); err != nil {
				t.Fatal(err)
			}
			if b, err := e.ReadFile(ctx, sb.ExternalID, "proj/version"); err != nil || string(b) != "v2" {
				t.Errorf("ReadFile = %q, %v", b, err)
			}
			checkArtifactIntact(t, artHome)
			second := create(t, e, backend.SandboxSpec{Setup: art.ExternalID})
			if res := sh(t, e, second.ExternalID, `cat proj/version; ls`); string(res.Stdout) != "v1proj\n" {
				t.Errorf("a second sandbox from the setup sees %q", res.Stdout)
			}

			// Stop unmounts an overlay home, start (or any access) mounts it again: files stay.
			if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
				t.Fatal(err)
			}
			if want == CopyOverlay && homeMounted(dir) {
				t.Errorf("the overlay home is still mounted after stop")
			}
			if b, err := e.ReadFile(ctx, sb.ExternalID, "new.txt"); err != nil || string(b) != "new\n" {
				t.Errorf("ReadFile of a stopped sandbox = %q, %v", b, err)
			}
			if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
				t.Fatal(err)
			}
			if res := sh(t, e, sb.ExternalID, `cat proj/version api.txt new.txt; ls proj`); string(res.Stdout) != "v2apinew\nbin\nenv.txt\nhardlink\nlink\nprivate\nversion\n" {
				t.Errorf("after stop and start: %q (stderr %q)", res.Stdout, res.Stderr)
			}
			if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
				t.Fatal(err)
			}
			if err := e.DeleteSandbox(ctx, second.ExternalID); err != nil {
				t.Fatal(err)
			}
			if m := mountsUnder(t, e.Root()); len(m) != 0 {
				t.Errorf("mounts left under the root: %v", m)
			}
			checkArtifactIntact(t, artHome)
		})
	}
}

// checkArtifactIntact checks buildProject's files in an artifact.
func checkArtifactIntact(t *testing.T, home string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(home, "proj", "version")); err != nil || string(b) != "v1" {
		t.Errorf("the artifact's version file is %q, %v", b, err)
	}
	for _, p := range []string{"proj/bin/tool", "proj/deep/er/file"} {
		if _, err := os.Stat(filepath.Join(home, p)); err != nil {
			t.Errorf("the artifact lost %s: %v", p, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(home, "proj", "private")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the artifact's private file: %v, %v", fi, err)
	}
	for _, p := range []string{"new.txt", "api.txt"} {
		if _, err := os.Stat(filepath.Join(home, p)); err == nil {
			t.Errorf("a sandbox's %s reached the artifact", p)
		}
	}
}

// mountsUnder lists the mount points below dir, from /proc/self/mountinfo.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && within(fields[4], dir) {
			out = append(out, fields[4])
		}
	}
	return out
}

// TestDeleteSetupWhileUsed: DeleteSetup removes the artifact's name at once, but an overlay home keeps its
// lower layer until its last sandbox goes; copies do not need it at all.
func TestDeleteSetupWhileUsed(t *testing.T) {
	t.Parallel()
	e := newBwrap(t)
	ctx := context.Background()
	art := buildProject(t, e)
	artDir, _ := art.Metadata["dir"].(string)
	sb, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Setup: art.ExternalID})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteSetup(ctx, art.ExternalID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GetSetup(ctx, art.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSetup after DeleteSetup = %v", err)
	}
	if _, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Setup: art.ExternalID}); err == nil {
		t.Errorf("CreateSandbox from a deleted setup = nil error")
	}
	_, statErr := os.Stat(artDir)
	if sb.Metadata["setup_copy"] == CopyOverlay && statErr != nil {
		t.Errorf("the overlay's lower layer was removed while used: %v", statErr)
	}
	if sb.Metadata["setup_copy"] != CopyOverlay && statErr == nil {
		t.Errorf("an unused artifact was kept after DeleteSetup")
	}
	// The sandbox keeps working, across a remount too.
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if res := sh(t, e, sb.ExternalID, `cat proj/version`); string(res.Stdout) != "v1" {
		t.Errorf("the sandbox after DeleteSetup sees %q (stderr %q)", res.Stdout, res.Stderr)
	}
	if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(artDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the artifact outlived its last sandbox: %v", err)
	}
}

// TestHalfMadeFromSetup: a sandbox interrupted before its home was made from its setup is completed by
// StartSandbox.
func TestHalfMadeFromSetup(t *testing.T) {
	t.Parallel()
	e := newBwrap(t)
	ctx := context.Background()
	art := buildProject(t, e)
	id := backend.NewID()
	ext := externalID(id)
	dir := e.dir(ext)
	if err := os.MkdirAll(filepath.Join(dir, homeDir, "partial"), 0o700); err != nil {
		t.Fatal(err)
	}
	m := &meta{Version: 1, RecordID: id, ExternalID: ext, State: backend.StateStarting, Setup: art.ExternalID, CreatedAt: time.Now()}
	if err := writeMeta(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := e.StartSandbox(ctx, ext); err != nil {
		t.Fatalf("StartSandbox: %v", err)
	}
	t.Cleanup(func() { _ = e.DeleteSandbox(context.Background(), ext) })
	if res := execIn(t, e, ext, backend.ExecRequest{Argv: []string{"ls"}}); string(res.Stdout) != "proj\n" {
		t.Errorf("the completed sandbox's home: %q", res.Stdout)
	}
	sb, err := e.GetSandbox(ctx, ext)
	if err != nil || sb.Metadata["setup_copy"] != expectedCopy(e) {
		t.Errorf("GetSandbox = %+v, %v", sb, err)
	}
}
