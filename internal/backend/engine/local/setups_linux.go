//go:build linux

package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

const (
	setupFile    = "setup.json"
	buildsSubdir = "builds"
	buildingFile = "building" // flock held by BuildSetup in its builder directory
)

// setupMeta is setups/builds/<build>/setup.json.
type setupMeta struct {
	Version     int       `json:"version"`
	ExternalID  string    `json:"external_id"`
	Fingerprint string    `json:"fingerprint"`
	RecordID    string    `json:"record_id"` // the setup record that built it
	Build       string    `json:"build"`
	Policy      string    `json:"policy"` // the network policy mode it was built with
	CreatedAt   time.Time `json:"created_at"`
}

func (e *Engine) setupsDir() string { return filepath.Join(e.root, "setups") }

func (e *Engine) buildsDir() string { return filepath.Join(e.setupsDir(), buildsSubdir) }

// buildHome is the artifact tree of a build: the lower layer of overlay homes, the source of copies.
func (e *Engine) buildHome(build string) string { return filepath.Join(e.buildsDir(), build, homeDir) }

// readSetup follows the name of a setup artifact to its build; a missing name, build or tree (deleted by hand)
// is backend.ErrNotFound.
func (e *Engine) readSetup(externalID string) (string, *setupMeta, error) {
	notFound := fmt.Errorf("no local setup artifact %q: %w", externalID, backend.ErrNotFound)
	if !isSetupID(externalID) {
		return "", nil, notFound
	}
	target, err := os.Readlink(filepath.Join(e.setupsDir(), externalID))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, notFound
	}
	if err != nil {
		return "", nil, fmt.Errorf("reading setup artifact %s: %w", externalID, err)
	}
	build := filepath.Base(target)
	if target != filepath.Join(buildsSubdir, build) || !validName(build) || !strings.HasPrefix(build, externalID+"-") {
		return "", nil, fmt.Errorf("setup artifact %s names %q, not one of its builds", externalID, target)
	}
	b, err := os.ReadFile(filepath.Join(e.buildsDir(), build, setupFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, notFound
	}
	if err != nil {
		return "", nil, fmt.Errorf("reading setup artifact %s: %w", externalID, err)
	}
	var m setupMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return "", nil, fmt.Errorf("reading setup artifact %s: %s: %w", externalID, setupFile, err)
	}
	if fi, err := os.Stat(e.buildHome(build)); err != nil || !fi.IsDir() {
		return "", nil, notFound
	}
	return build, &m, nil
}

func (e *Engine) setupView(build string, m *setupMeta) *backend.SetupArtifact {
	dir := filepath.Join(e.buildsDir(), build)
	return &backend.SetupArtifact{
		ExternalID:  m.ExternalID,
		Fingerprint: m.Fingerprint,
		State:       "ready",
		Metadata:    map[string]any{"dir": dir, "home": filepath.Join(dir, homeDir), "policy": m.Policy},
	}
}

// FindSetup implements backend.SetupEngine.
func (e *Engine) FindSetup(ctx context.Context, fingerprint string) (*backend.SetupArtifact, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if fingerprint == "" {
		return nil, fmt.Errorf("no local setup artifact for an empty fingerprint: %w", backend.ErrNotFound)
	}
	build, m, err := e.readSetup(setupID(fingerprint))
	if err != nil {
		return nil, err
	}
	if m.Fingerprint != fingerprint {
		return nil, fmt.Errorf("no local setup artifact for fingerprint %s: %w", fingerprint, backend.ErrNotFound)
	}
	return e.setupView(build, m), nil
}

// GetSetup implements backend.SetupEngine. An artifact deleted by hand is backend.ErrNotFound.
func (e *Engine) GetSetup(ctx context.Context, externalID string) (*backend.SetupArtifact, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	build, m, err := e.readSetup(externalID)
	if err != nil {
		return nil, err
	}
	return e.setupView(build, m), nil
}

// BuildSetup implements backend.SetupEngine. The setup command runs once, in a builder sandbox like any other
// (the spec's env, network policy, options and timeout, else DefaultSetupTimeout), and its home becomes the
// artifact setups/builds/<id>-<nonce>/home, renamed into place and then named setups/<id> (id "setup-" + the
// first 16 hex digits of the fingerprint). Nothing ever writes to it again. Builds of one fingerprint are
// serialized: when the artifact exists already (built meanwhile by another call or process) it is returned
// with a nil result, without running anything. On a non-zero exit or a timeout nothing is kept and the result
// comes with an error wrapping backend.ErrSetupFailed.
func (e *Engine) BuildSetup(ctx context.Context, spec backend.SetupSpec) (*backend.SetupArtifact, *backend.ExecResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := validateSetupSpec(spec, e.isolation); err != nil {
		return nil, nil, err
	}
	if e.isolation == IsolationBwrap {
		if err := e.probe(ctx); err != nil {
			return nil, nil, err
		}
	}
	ext := setupID(spec.Fingerprint)
	if err := os.MkdirAll(e.buildsDir(), 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", e.buildsDir(), err)
	}
	lk, err := lockFileAt(filepath.Join(e.setupsDir(), ".lock-"+ext), "setup", true)
	if err != nil {
		return nil, nil, err
	}
	defer lk.unlock()
	switch build, m, err := e.readSetup(ext); {
	case err == nil && m.Fingerprint == spec.Fingerprint:
		return e.setupView(build, m), nil, nil
	case err == nil:
		return nil, nil, fmt.Errorf("setup artifact %s belongs to fingerprint %s, not %s", ext, m.Fingerprint, spec.Fingerprint)
	case !errors.Is(err, backend.ErrNotFound):
		return nil, nil, err
	}

	builder, err := os.MkdirTemp(e.setupsDir(), ".build-"+ext+"-")
	if err != nil {
		return nil, nil, fmt.Errorf("creating the setup builder: %w", err)
	}
	defer func() { _ = removeBox(builder) }()
	if e.isolation == IsolationBwrap {
		defer func() { _ = removeCgroup(builder) }()
	}
	building, err := lockFileAt(filepath.Join(builder, buildingFile), "setup builder", true)
	if err != nil {
		return nil, nil, err
	}
	defer building.unlock()
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = DefaultSetupTimeout
	}
	now := time.Now().UTC()
	m := &meta{Version: 1, Kind: kindBuilder, RecordID: spec.RecordID, ExternalID: ext, State: backend.StateRunning,
		Runtime: spec.Runtime, TimeoutMS: timeout.Milliseconds(), Options: spec.Options, Policy: policyMode(spec.Policy, e.isolation),
		CreatedAt: now, UpdatedAt: now}
	for _, d := range []string{homeDir, runDir} {
		if err := os.Mkdir(filepath.Join(builder, d), 0o700); err != nil {
			return nil, nil, fmt.Errorf("creating the setup builder: %w", err)
		}
	}
	if err := writeEnv(builder, spec.Env); err != nil {
		return nil, nil, err
	}
	if err := writePolicy(builder, spec.Policy); err != nil {
		return nil, nil, err
	}
	if err := writeMeta(builder, m); err != nil {
		return nil, nil, err
	}
	res, err := e.execIn(ctx, builder, metaFile, "setup builder", backend.ExecRequest{Argv: spec.Argv, Timeout: timeout})
	if err != nil {
		return nil, nil, fmt.Errorf("running setup %s: %w", ext, err)
	}
	if res.TimedOut {
		return nil, res, fmt.Errorf("setup command %s timed out after %s: %w", spec.Argv[0], timeout, backend.ErrSetupFailed)
	}
	if res.ExitCode != 0 {
		return nil, res, fmt.Errorf("setup command %s exited with code %d: %w", spec.Argv[0], res.ExitCode, backend.ErrSetupFailed)
	}
	art, err := e.keepBuild(builder, ext, spec, m.Policy)
	if err != nil {
		return nil, res, err
	}
	return art, res, nil
}

// keepBuild turns the builder's home into the artifact build and names it.
func (e *Engine) keepBuild(builder, ext string, spec backend.SetupSpec, policy string) (*backend.SetupArtifact, error) {
	if err := stripSetID(filepath.Join(builder, homeDir)); err != nil {
		return nil, fmt.Errorf("keeping setup artifact %s: clearing set-id bits: %w", ext, err)
	}
	build := ext + "-" + nonce()
	sm := &setupMeta{Version: 1, ExternalID: ext, Fingerprint: spec.Fingerprint, RecordID: spec.RecordID, Build: build,
		Policy: policy, CreatedAt: time.Now().UTC()}
	stage, err := os.MkdirTemp(e.buildsDir(), newDirPrefix(""))
	if err != nil {
		return nil, fmt.Errorf("keeping setup artifact %s: %w", ext, err)
	}
	b, err := json.MarshalIndent(sm, "", "  ")
	if err == nil {
		err = writeFileAtomic(stage, setupFile, b, true)
	}
	if err == nil {
		err = os.Rename(filepath.Join(builder, homeDir), filepath.Join(stage, homeDir))
	}
	if err != nil {
		_ = removeAll(stage)
		return nil, fmt.Errorf("keeping setup artifact %s: %w", ext, err)
	}
	// Under the refs lock, so that no collection removes the build between its rename and its name.
	refs, err := e.lockRefs(false)
	if err != nil {
		_ = removeAll(stage)
		return nil, err
	}
	defer refs.unlock()
	if err := os.Rename(stage, filepath.Join(e.buildsDir(), build)); err != nil {
		_ = removeAll(stage)
		return nil, fmt.Errorf("keeping setup artifact %s: %w", ext, err)
	}
	name := filepath.Join(e.setupsDir(), ext)
	err = os.Symlink(filepath.Join(buildsSubdir, build), name)
	if errors.Is(err, fs.ErrExist) {
		// A name whose build is gone (deleted by hand): readSetup said not found, so it is stale.
		if rerr := os.Remove(name); rerr == nil {
			err = os.Symlink(filepath.Join(buildsSubdir, build), name)
		}
	}
	if err != nil {
		_ = removeAll(filepath.Join(e.buildsDir(), build))
		return nil, fmt.Errorf("naming setup artifact %s: %w", ext, err)
	}
	return e.setupView(build, sm), nil
}

// DeleteSetup implements backend.SetupEngine: the artifact's name goes at once (GetSetup and FindSetup no
// longer find it, and the same setup would be built again); its files go too unless a sandbox or workspace
// still uses them as the lower layer of its overlay home, in which case they go with the last of those. A
// missing artifact is not an error.
func (e *Engine) DeleteSetup(ctx context.Context, externalID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !isSetupID(externalID) {
		return nil
	}
	refs, err := e.lockRefs(true)
	if err != nil {
		return err
	}
	defer refs.unlock()
	if err := os.Remove(filepath.Join(e.setupsDir(), externalID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting setup artifact %s: %w", externalID, err)
	}
	return e.collectBuildsLocked()
}

// collectBuilds removes the artifact builds that nothing uses any more.
func (e *Engine) collectBuilds() error {
	refs, err := e.lockRefs(true)
	if err != nil {
		return err
	}
	defer refs.unlock()
	return e.collectBuildsLocked()
}

// collectBuildsLocked removes, under the exclusive refs lock, the builds that no name and no sandbox or
// workspace refers to, the builders of interrupted BuildSetup calls, and staging directories over an hour old.
func (e *Engine) collectBuildsLocked() error {
	keep := map[string]bool{}
	entries, err := os.ReadDir(e.setupsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing setup artifacts: %w", err)
	}
	for _, ent := range entries {
		p := filepath.Join(e.setupsDir(), ent.Name())
		switch {
		case ent.Type()&fs.ModeSymlink != 0:
			if t, err := os.Readlink(p); err == nil {
				keep[filepath.Base(t)] = true
			}
		case ent.IsDir() && strings.HasPrefix(ent.Name(), ".build-"):
			if lk, ok := tryLock(filepath.Join(p, buildingFile), olderThan(ent, time.Hour)); ok {
				lk.unlock()
				_ = removeBox(p) // its BuildSetup is gone
			}
		}
	}
	for _, parent := range [][2]string{{e.sandboxesDir(), metaFile}, {e.workspacesDir(), workspaceFile}} {
		for _, b := range e.boxes(parent[0], parent[1]) {
			if b.meta.SetupBuild != "" {
				keep[b.meta.SetupBuild] = true
			}
		}
	}
	builds, err := os.ReadDir(e.buildsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("listing setup artifact builds: %w", err)
	}
	var errs []error
	for _, ent := range builds {
		name := ent.Name()
		if keep[name] || strings.HasPrefix(name, ".new-") && !abandonedNew(ent) {
			continue
		}
		if err := removeAll(filepath.Join(e.buildsDir(), name)); err != nil {
			errs = append(errs, fmt.Errorf("removing setup artifact build %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// tryLock takes an exclusive flock on p without waiting; ok is false when another holds it, and when p is
// missing unless missingOK.
func tryLock(p string, missingOK bool) (*sandboxLock, bool) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, missingOK && errors.Is(err, fs.ErrNotExist)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, false
	}
	return &sandboxLock{f: f}, true
}
