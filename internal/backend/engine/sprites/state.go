package sprites

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// The state file: what the engine must know about a sprite in a later process (Terraform runs a new provider
// process per command) and the Sprites API cannot hold. It lives inside the sprite, mode 0600, in the sprite
// user's home: the sandbox's env (which the sandbox's commands receive anyway, so keeping it where they run
// exposes nothing new, and it never travels to a record, a label or a log), its default command timeout, its
// network policy (re-applied after a restore), and for a setup builder the setup's recipe. A restore puts the
// file back as it was before (Engine.Restore), so a checkpoint never rolls the configuration back.
const (
	stateDir  = HomeDir + "/.terraform-provider-sandbox"
	statePath = stateDir + "/state.json"
)

// spriteState is the state file's content.
type spriteState struct {
	Version         int                    `json:"version"`
	Kind            string                 `json:"kind,omitempty"`
	RecordID        string                 `json:"recordId,omitempty"`
	Env             map[string]string      `json:"env,omitempty"`
	TimeoutMs       int64                  `json:"timeoutMs,omitempty"`
	Policy          *backend.NetworkPolicy `json:"policy,omitempty"`
	Setup           string                 `json:"setup,omitempty"`             // the setup's external id
	SetupCheckpoint string                 `json:"setupCheckpointId,omitempty"` // the checkpoint taken right after it
	Recipe          *setupRecipe           `json:"recipe,omitempty"`            // setup builders only
}

// setupRecipe is a setup as its builder keeps it: what every sprite made from the setup runs.
type setupRecipe struct {
	Fingerprint string                 `json:"fingerprint"`
	RecordID    string                 `json:"recordId,omitempty"`
	Argv        []string               `json:"argv"`
	Env         map[string]string      `json:"env,omitempty"`
	TimeoutMs   int64                  `json:"timeoutMs,omitempty"`
	Policy      *backend.NetworkPolicy `json:"policy,omitempty"`
	BuiltAt     string                 `json:"builtAt,omitempty"`
}

func (s *spriteState) timeout() time.Duration { return time.Duration(s.TimeoutMs) * time.Millisecond }

// readState reads a sprite's state file; a sprite without one has the empty state. A missing sprite is an
// error wrapping backend.ErrNotFound.
func (e *Engine) readState(ctx context.Context, name string) (*spriteState, error) {
	b, err := e.c.ReadFile(ctx, name, statePath)
	if errors.Is(err, fs.ErrNotExist) {
		return &spriteState{}, nil
	}
	if err != nil {
		return nil, err
	}
	var st spriteState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("sprite %s: its state file %s is not valid JSON: %w", name, statePath, err)
	}
	return &st, nil
}

// writeState writes a sprite's state file (0600).
func (e *Engine) writeState(ctx context.Context, name string, st *spriteState) error {
	st.Version = 1
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding the state of sprite %s: %w", name, err)
	}
	if err := e.c.WriteFile(ctx, name, statePath, b, 0o600); err != nil {
		return fmt.Errorf("writing the state of sprite %s: %w", name, err)
	}
	return nil
}

// sandboxPath maps a sandbox path to an absolute sprite path: relative paths are relative to the home and
// may not leave it; absolute paths are the sprite's own (the whole VM is the sandbox). The state directory is
// reserved.
func sandboxPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %q contains NUL", p)
	}
	var out string
	if path.IsAbs(p) {
		out = path.Clean(p)
	} else {
		c := path.Clean(p)
		if c == ".." || strings.HasPrefix(c, "../") {
			return "", fmt.Errorf("path %q escapes the sandbox home %s", p, HomeDir)
		}
		out = path.Join(HomeDir, c)
	}
	if out == stateDir || strings.HasPrefix(out, stateDir+"/") {
		return "", fmt.Errorf("path %q is inside %s, which this provider reserves for its own state", p, stateDir)
	}
	return out, nil
}

// mergeEnv layers environments, later ones winning.
func mergeEnv(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range layers {
		maps.Copy(out, l)
	}
	return out
}
