package sprites

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// SetupName is the name of the builder sprite of a setup fingerprint: "ekairos-setup-" and 32 hex digits of
// the fingerprint's SHA-256, so that FindSetup is one GET.
func SetupName(fingerprint string) string {
	sum := sha256.Sum256([]byte(fingerprint))
	return setupNamePrefix + hex.EncodeToString(sum[:])[:32]
}

// SetupSemantics is recorded in a setup artifact's metadata: the setup re-runs in every new sprite.
const SetupSemantics = "rerun-per-sprite"

// setupComment is the comment of the checkpoint taken right after a setup ran in a sprite.
func setupComment(setup string) string { return "terraform-provider-sandbox setup " + setup }

// FindSetup implements backend.SetupEngine: the builder sprite of the fingerprint, if it holds a complete
// recipe for it; else an error wrapping backend.ErrNotFound (a builder whose build never finished is no
// artifact: BuildSetup replaces it).
func (e *Engine) FindSetup(ctx context.Context, fingerprint string) (*backend.SetupArtifact, error) {
	return e.getSetup(ctx, SetupName(fingerprint), fingerprint)
}

// GetSetup implements backend.SetupEngine.
func (e *Engine) GetSetup(ctx context.Context, externalID string) (*backend.SetupArtifact, error) {
	return e.getSetup(ctx, externalID, "")
}

func (e *Engine) getSetup(ctx context.Context, name, fingerprint string) (*backend.SetupArtifact, error) {
	s, err := e.c.GetSprite(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading setup builder %s: %w", name, err)
	}
	own := readLabels(s.Labels)
	if !own.managed || own.kind != kindSetup {
		return nil, fmt.Errorf("sprite %s is not a setup builder of this provider: %w", name, backend.ErrNotFound)
	}
	st, err := e.readState(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading setup builder %s: %w", name, err)
	}
	if st.Recipe == nil {
		return nil, fmt.Errorf("setup builder %s has no recipe (its build never finished): %w", name, backend.ErrNotFound)
	}
	if fingerprint != "" && st.Recipe.Fingerprint != fingerprint {
		return nil, fmt.Errorf("setup builder %s holds another fingerprint: %w", name, backend.ErrNotFound)
	}
	return setupArtifact(s, st.Recipe), nil
}

func setupArtifact(s *Sprite, r *setupRecipe) *backend.SetupArtifact {
	return &backend.SetupArtifact{
		ExternalID:  s.Name,
		Fingerprint: r.Fingerprint,
		State:       "ready",
		Metadata: map[string]any{
			"id":        s.ID,
			"name":      s.Name,
			"semantics": SetupSemantics,
			"builtAt":   r.BuiltAt,
		},
	}
}

// BuildSetup implements backend.SetupEngine. Checkpoints belong to one sprite and cannot seed another, so a
// setup's artifact is not a snapshot but its recipe, proven once: BuildSetup makes the builder sprite
// SetupName(fingerprint), applies the setup's policy, runs the setup in it, and only when it exits 0 keeps
// the builder with the recipe (argv, env, timeout, policy) in its state file. Every sandbox or workspace made
// from the setup then runs the recipe in its own new sprite and checkpoints it right after, so that a restore
// to that checkpoint returns it to the set-up state. On a non-zero exit (or a timeout) the builder is deleted
// and the command's result returned with an error wrapping backend.ErrSetupFailed. A builder left half-made by
// an interrupted build is deleted and built again.
func (e *Engine) BuildSetup(ctx context.Context, spec backend.SetupSpec) (*backend.SetupArtifact, *backend.ExecResult, error) {
	if spec.Fingerprint == "" {
		return nil, nil, errors.New("sprites: BuildSetup needs the fingerprint")
	}
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return nil, nil, errors.New("sprites: the setup command is empty")
	}
	if err := backend.CheckEnv(spec.Env); err != nil {
		return nil, nil, err
	}
	if err := checkRuntime(spec.Runtime); err != nil {
		return nil, nil, err
	}
	if _, err := CompilePolicy(spec.Policy); err != nil {
		return nil, nil, err
	}
	if err := backend.CheckTimeout("setup timeout", spec.Timeout); err != nil {
		return nil, nil, err
	}
	if _, ok := spec.Options[OptionURLAuth]; ok {
		return nil, nil, fmt.Errorf("sprites option %s is not accepted for a setup: its builder serves nothing and is always private", OptionURLAuth)
	}
	o, err := parseOptions(spec.Options, false)
	if err != nil {
		return nil, nil, err
	}
	recordID := spec.RecordID
	if recordID == "" {
		recordID = "none"
	}
	if err := checkRecordID(recordID); err != nil {
		return nil, nil, err
	}
	name := SetupName(spec.Fingerprint)
	if a, err := e.getSetup(ctx, name, spec.Fingerprint); err == nil {
		return a, nil, nil
	} else if !errors.Is(err, backend.ErrNotFound) {
		return nil, nil, err
	}
	// A half-made builder (or a stranger with this name that is not ours): remove ours, refuse a stranger.
	if s, err := e.c.GetSprite(ctx, name); err == nil {
		if own := readLabels(s.Labels); !own.managed || own.kind != kindSetup {
			return nil, nil, fmt.Errorf("a sprite named %s exists and is not a setup builder of this provider", name)
		}
		if err := e.deleteSprite(ctx, name); err != nil {
			return nil, nil, fmt.Errorf("removing the half-made setup builder: %w", err)
		}
	} else if !errors.Is(err, backend.ErrNotFound) {
		return nil, nil, fmt.Errorf("reading setup builder %s: %w", name, err)
	}

	wait := o.waitForCapacity
	s, err := e.c.CreateSprite(ctx, CreateSpriteRequest{
		Name:            name,
		URLSettings:     &URLSettings{Auth: URLAuthSprite}, // nothing of a builder is ever served
		Labels:          managedLabels(kindSetup, recordID, "", o.labels),
		WaitForCapacity: &wait,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("creating setup builder %s: %w", name, err)
	}
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = e.setupTimeout
	}
	recipe := &setupRecipe{
		Fingerprint: spec.Fingerprint,
		RecordID:    spec.RecordID,
		Argv:        slices.Clone(spec.Argv),
		Env:         maps.Clone(spec.Env),
		TimeoutMs:   timeout.Milliseconds(),
		Policy:      spec.Policy,
	}
	res, err := e.runRecipe(ctx, name, recipe)
	if err != nil {
		// Keep nothing of a failed build.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := e.deleteSprite(cctx, name); derr != nil {
			err = fmt.Errorf("%w (and removing the builder failed: %w)", err, derr)
		}
		return nil, toBackendResult(res), err
	}
	recipe.BuiltAt = time.Now().UTC().Format(time.RFC3339)
	if err := e.writeState(ctx, name, &spriteState{Kind: kindSetup, RecordID: spec.RecordID, Recipe: recipe, Policy: spec.Policy}); err != nil {
		return nil, toBackendResult(res), err
	}
	return setupArtifact(s, recipe), toBackendResult(res), nil
}

// DeleteSetup implements backend.SetupEngine: it deletes the builder. Sandboxes and workspaces made from the
// setup keep working: each ran the setup itself and holds its own checkpoint. A missing builder is not an
// error.
func (e *Engine) DeleteSetup(ctx context.Context, externalID string) error {
	s, err := e.c.GetSprite(ctx, externalID)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading setup builder %s: %w", externalID, err)
	}
	if own := readLabels(s.Labels); !own.managed || own.kind != kindSetup {
		return fmt.Errorf("sprite %s is not a setup builder of this provider; not deleting it", externalID)
	}
	return e.deleteSprite(ctx, externalID)
}

// loadRecipe reads the recipe of a setup artifact from its builder.
func (e *Engine) loadRecipe(ctx context.Context, setup string) (*setupRecipe, error) {
	if err := checkName(setup); err != nil {
		return nil, fmt.Errorf("setup %q: %w", setup, err)
	}
	s, err := e.c.GetSprite(ctx, setup)
	if err != nil {
		return nil, fmt.Errorf("setup %s: reading its builder: %w", setup, err)
	}
	if own := readLabels(s.Labels); !own.managed || own.kind != kindSetup {
		return nil, fmt.Errorf("setup %s: the sprite is not a setup builder of this provider: %w", setup, backend.ErrNotFound)
	}
	st, err := e.readState(ctx, setup)
	if err != nil {
		return nil, fmt.Errorf("setup %s: %w", setup, err)
	}
	if st.Recipe == nil {
		return nil, fmt.Errorf("setup %s was never completed (apply its sandbox_setup again): %w", setup, backend.ErrNotFound)
	}
	return st.Recipe, nil
}

// runRecipe runs a setup's command in a sprite under the setup's policy. A non-zero exit or a timeout is an
// error wrapping backend.ErrSetupFailed, returned with the result.
func (e *Engine) runRecipe(ctx context.Context, name string, r *setupRecipe) (*ExecResult, error) {
	if err := e.applyPolicy(ctx, name, r.Policy); err != nil {
		return nil, err
	}
	timeout := time.Duration(r.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = e.setupTimeout
	}
	res, err := e.c.Exec(ctx, name, ExecOptions{Argv: r.Argv, Env: mergeEnv(e.baseEnv, r.Env), Dir: HomeDir, Timeout: timeout})
	if err != nil {
		return nil, fmt.Errorf("running the setup in sprite %s: %w", name, err)
	}
	if res.TimedOut {
		return res, fmt.Errorf("the setup in sprite %s timed out after %s: %w", name, timeout, backend.ErrSetupFailed)
	}
	if res.ExitCode != 0 {
		return res, fmt.Errorf("the setup in sprite %s exited with %d: %w", name, res.ExitCode, backend.ErrSetupFailed)
	}
	return res, nil
}

// runSetupAndCheckpoint runs a setup in a new sprite and checkpoints it right after; it returns the
// checkpoint id.
func (e *Engine) runSetupAndCheckpoint(ctx context.Context, name, setup string, r *setupRecipe) (string, *ExecResult, error) {
	res, err := e.runRecipe(ctx, name, r)
	if err != nil {
		return "", res, err
	}
	cp, err := e.c.CreateCheckpoint(ctx, name, setupComment(setup))
	if err != nil {
		return "", res, fmt.Errorf("checkpointing sprite %s after its setup: %w", name, err)
	}
	return cp, res, nil
}

func toBackendResult(r *ExecResult) *backend.ExecResult {
	if r == nil {
		return nil
	}
	return &backend.ExecResult{ExitCode: r.ExitCode, Stdout: r.Stdout, Stderr: r.Stderr, TimedOut: r.TimedOut, Duration: r.Duration}
}
