package sprites

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/httpapi"
)

// CurrentCheckpoint is the id the checkpoint list gives the live state; it is not a checkpoint.
const CurrentCheckpoint = "Current"

// Checkpoint is one checkpoint of a sprite.
type Checkpoint struct {
	ID         string   `json:"id"`
	CreateTime string   `json:"create_time,omitempty"`
	Comment    string   `json:"comment,omitempty"`
	History    []string `json:"history,omitempty"`
	IsAuto     bool     `json:"is_auto,omitempty"`
	SourceID   string   `json:"source_id,omitempty"`
	Health     string   `json:"health,omitempty"`
}

// Created returns CreateTime parsed, or the zero time.
func (cp Checkpoint) Created() time.Time {
	t, err := time.Parse(time.RFC3339Nano, cp.CreateTime)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Progress is one line of a streamed operation's NDJSON answer.
type Progress struct {
	Type  string `json:"type"` // info, error, complete (stdout/stderr tolerated)
	Data  string `json:"data,omitempty"`
	Error string `json:"error,omitempty"`
	Time  string `json:"time,omitempty"`
}

// ProgressError is a streamed operation that reported an error inside its 200 answer, or ended without a
// complete line. It wraps ErrOperationFailed.
type ProgressError struct {
	Op      string // "checkpoint" or "restore"
	Sprite  string
	Message string
}

// Error reports the operation and what the stream said.
func (e *ProgressError) Error() string {
	return fmt.Sprintf("sprites %s of %s failed: %s", e.Op, e.Sprite, e.Message)
}

// Unwrap makes errors.Is(err, ErrOperationFailed) hold.
func (e *ProgressError) Unwrap() error { return ErrOperationFailed }

// readProgress parses an NDJSON progress stream: success is a complete line with no error line before the
// end; non-JSON lines are skipped. It returns every line read.
func readProgress(r io.Reader) ([]Progress, string, error) {
	var lines []Progress
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var failure, complete string
	completed := false
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var p Progress
		if json.Unmarshal([]byte(text), &p) != nil {
			continue
		}
		lines = append(lines, p)
		switch p.Type {
		case "error":
			if failure == "" {
				failure = strings.TrimSpace(p.Error)
				if failure == "" {
					failure = strings.TrimSpace(p.Data)
				}
				if failure == "" {
					failure = "the stream reported an error without a message"
				}
			}
		case "complete":
			completed = true
			complete = p.Data
		}
	}
	if err := sc.Err(); err != nil {
		if failure != "" {
			return lines, "", errors.New(failure)
		}
		return lines, "", fmt.Errorf("the progress stream broke off: %w", err)
	}
	switch {
	case failure != "":
		return lines, "", errors.New(failure)
	case !completed:
		return lines, "", errors.New("the progress stream ended without a complete line")
	}
	return lines, complete, nil
}

var (
	createdRE = regexp.MustCompile(`Checkpoint\s+(\S+)\s+created`)
	idLineRE  = regexp.MustCompile(`ID:\s*(\S+)`)
)

// CreateCheckpoint checkpoints a sprite's disk (POST .../checkpoint, NDJSON progress) and returns the new
// checkpoint's id. An error reported inside the 200 answer is a *ProgressError.
//
// A POST makes a new checkpoint each time it is sent, so it is never sent again blindly: the checkpoints are
// listed first (which also says the sprite exists), and after a 5xx or a lost connection they are listed
// again; a checkpoint that was not there before is the one that POST made (it went through), and only when
// there is none is the POST sent again.
func (c *Client) CreateCheckpoint(ctx context.Context, name, comment string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	before, err := c.ListCheckpoints(ctx, name)
	if err != nil {
		return "", err
	}
	seen := make(map[string]bool, len(before))
	for _, cp := range before {
		seen[cp.ID] = true
	}
	// made returns the newest checkpoint that was not listed before, "" when there is none.
	made := func(ctx context.Context) (string, error) {
		after, err := c.ListCheckpoints(ctx, name)
		if err != nil {
			return "", err
		}
		SortCheckpoints(after)
		for i := len(after) - 1; i >= 0; i-- {
			if cp := after[i]; !seen[cp.ID] && !cp.IsAuto && (comment == "" || cp.Comment == comment) {
				return cp.ID, nil
			}
		}
		return "", nil
	}
	var checked string
	check := func(ctx context.Context) (bool, error) {
		id, err := made(ctx)
		checked = id
		return id != "", err
	}
	body := map[string]string{}
	if comment != "" {
		body["comment"] = comment
	}
	b, _ := json.Marshal(body)
	resp, err := c.do(ctx, call{method: http.MethodPost, path: spritePath(name, "/checkpoint"), body: b, ctype: "application/json",
		accept: "application/x-ndjson", timeout: -1, retry: httpapi.Call{Check: check}})
	if err != nil {
		return "", err
	}
	if resp == nil { // a failed attempt had gone through: the check found its checkpoint
		return checked, nil
	}
	defer func() { _ = resp.Body.Close() }()
	lines, complete, perr := readProgress(resp.Body)
	if perr != nil {
		return "", &ProgressError{Op: "checkpoint", Sprite: name, Message: c.redact(perr.Error())}
	}
	if m := createdRE.FindStringSubmatch(complete); m != nil {
		return m[1], nil
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if m := idLineRE.FindStringSubmatch(lines[i].Data); m != nil {
			return m[1], nil
		}
	}
	// The id exists only in the stream's texts; as a last resort take the checkpoint that was not there before.
	id, err := made(ctx)
	if err != nil {
		return "", fmt.Errorf("sprites checkpoint of %s completed without naming the checkpoint, and listing them failed: %w", name, err)
	}
	if id == "" {
		return "", fmt.Errorf("sprites checkpoint of %s completed, but no new checkpoint is listed", name)
	}
	return id, nil
}

// SortCheckpoints sorts checkpoints by creation time, oldest first (the API's list order is not documented;
// it lists the newest first today). Equal or unknown times keep the ids' numeric order (v2 before v10).
func SortCheckpoints(cps []Checkpoint) {
	sort.SliceStable(cps, func(i, j int) bool {
		ti, tj := cps[i].Created(), cps[j].Created()
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		ni, nj := checkpointSeq(cps[i].ID), checkpointSeq(cps[j].ID)
		if ni != nj {
			return ni < nj
		}
		return cps[i].ID < cps[j].ID
	})
}

// checkpointSeq is n for an id "v<n>", -1 otherwise.
func checkpointSeq(id string) int {
	if len(id) < 2 || id[0] != 'v' {
		return -1
	}
	n, err := strconv.Atoi(id[1:])
	if err != nil {
		return -1
	}
	return n
}

// ListCheckpoints lists a sprite's checkpoints (not the automatic ones), without the "Current" entry, oldest
// first (SortCheckpoints).
func (c *Client) ListCheckpoints(ctx context.Context, name string) ([]Checkpoint, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.doJSON(ctx, call{retry: idempotent, method: http.MethodGet, path: spritePath(name, "/checkpoints")}, nil, &raw); err != nil {
		return nil, err
	}
	var all []Checkpoint
	if err := json.Unmarshal(raw, &all); err != nil {
		// Tolerate {"checkpoints": [...]}, as @ekairos/sandbox does.
		var wrapped struct {
			Checkpoints []Checkpoint `json:"checkpoints"`
		}
		if err2 := json.Unmarshal(raw, &wrapped); err2 != nil {
			return nil, fmt.Errorf("sprites API GET %s: decoding the answer: %w", spritePath(name, "/checkpoints"), err)
		}
		all = wrapped.Checkpoints
	}
	out := make([]Checkpoint, 0, len(all))
	for _, cp := range all {
		if cp.ID == "" || cp.ID == CurrentCheckpoint {
			continue
		}
		out = append(out, cp)
	}
	SortCheckpoints(out)
	return out, nil
}

// GetCheckpoint reads one checkpoint; a missing one is an error wrapping backend.ErrNotFound.
func (c *Client) GetCheckpoint(ctx context.Context, name, id string) (*Checkpoint, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errors.New("sprites: empty checkpoint id")
	}
	var cp Checkpoint
	if err := c.doJSON(ctx, call{retry: idempotent, method: http.MethodGet, path: spritePath(name, "/checkpoints/"+url.PathEscape(id))}, nil, &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

// RestoreCheckpoint restores a sprite's disk to a checkpoint (POST .../checkpoints/{id}/restore, NDJSON
// progress). It replaces the writable filesystem and ends running commands. An error reported inside the
// 200 answer is a *ProgressError.
func (c *Client) RestoreCheckpoint(ctx context.Context, name, id string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if id == "" || id == CurrentCheckpoint {
		return fmt.Errorf("sprites: %q is not a checkpoint id", id)
	}
	resp, err := c.do(ctx, call{retry: idempotent, method: http.MethodPost, path: spritePath(name, "/checkpoints/"+url.PathEscape(id)+"/restore"),
		accept: "application/x-ndjson", timeout: -1})
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if _, _, perr := readProgress(resp.Body); perr != nil {
		return &ProgressError{Op: "restore to " + id, Sprite: name, Message: c.redact(perr.Error())}
	}
	return nil
}
