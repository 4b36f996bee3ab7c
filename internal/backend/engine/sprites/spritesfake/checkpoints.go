package spritesfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

// progress writes NDJSON progress lines, one flushed write each.
type progress struct {
	w  http.ResponseWriter
	fl http.Flusher
}

func newProgress(w http.ResponseWriter) *progress {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	return &progress{w: w, fl: fl}
}

func (p *progress) line(typ, key, text string) {
	b, _ := json.Marshal(map[string]string{"type": typ, key: text, "time": time.Now().UTC().Format(time.RFC3339Nano)})
	_, _ = p.w.Write(append(b, '\n'))
	if p.fl != nil {
		p.fl.Flush()
	}
}

func (f *Fake) handleCheckpoint(w http.ResponseWriter, r *http.Request, s *sprite, fault *harness.Fault) {
	m, ok := decodeObject(w, r, "comment")
	if !ok {
		return
	}
	var comment string
	if raw, ok := m["comment"]; ok && json.Unmarshal(raw, &comment) != nil {
		validationError(w, "invalid comment parameter")
		return
	}
	f.touch(s)
	p := newProgress(w)
	p.line("info", "data", "Creating checkpoint...")
	if se, ok := streamError(fault); ok {
		p.line("error", "error", se)
		return
	}
	f.mu.Lock()
	id := fmt.Sprintf("v%d", s.nextCP)
	s.nextCP++
	f.mu.Unlock()
	dst := filepath.Join(s.dir, "checkpoints", id)
	if err := harness.CopyTree(s.rootfs(), dst, true); err != nil {
		p.line("error", "error", "checkpoint failed: "+err.Error())
		return
	}
	f.mu.Lock()
	s.checkpoints = append(s.checkpoints, &checkpoint{id: id, comment: comment, created: time.Now()})
	f.mu.Unlock()
	p.line("info", "data", "  ID: "+id)
	p.line("complete", "data", "Checkpoint "+id+" created successfully")
}

func (f *Fake) checkpointDoc(cp *checkpoint) map[string]any {
	d := map[string]any{"id": cp.id, "create_time": cp.created.UTC().Format(time.RFC3339Nano), "is_auto": false}
	if cp.comment != "" {
		d["comment"] = cp.comment
	}
	return d
}

func (f *Fake) handleListCheckpoints(w http.ResponseWriter, s *sprite) {
	f.touch(s)
	f.mu.Lock()
	out := make([]any, 0, len(s.checkpoints)+1)
	for _, cp := range s.checkpoints {
		out = append(out, f.checkpointDoc(cp))
	}
	f.mu.Unlock()
	// The API documents no order of the checkpoints (it lists the newest first today): the fake answers them in
	// a shuffled order that is never the creation order, so that a client relying on any order fails its tests.
	shuffleNotSorted(out)
	out = append(out, map[string]any{"id": "Current", "create_time": time.Now().UTC().Format(time.RFC3339Nano), "comment": "current state"})
	writeJSON(w, http.StatusOK, out)
}

func (f *Fake) findCheckpoint(s *sprite, id string) *checkpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cp := range s.checkpoints {
		if cp.id == id {
			return cp
		}
	}
	return nil
}

func (f *Fake) handleOneCheckpoint(w http.ResponseWriter, r *http.Request, s *sprite, id string) {
	switch r.Method {
	case http.MethodGet:
		if id == "Current" {
			writeJSON(w, http.StatusOK, map[string]any{"id": "Current", "create_time": time.Now().UTC().Format(time.RFC3339Nano)})
			return
		}
		cp := f.findCheckpoint(s, id)
		if cp == nil {
			apiError(w, http.StatusNotFound, "checkpoint not found", "")
			return
		}
		writeJSON(w, http.StatusOK, f.checkpointDoc(cp))
	case http.MethodDelete:
		if id == "Current" {
			apiError(w, http.StatusConflict, "cannot delete the current checkpoint", "")
			return
		}
		f.mu.Lock()
		idx := -1
		for i, cp := range s.checkpoints {
			if cp.id == id {
				idx = i
			}
		}
		if idx < 0 {
			f.mu.Unlock()
			apiError(w, http.StatusNotFound, "checkpoint not found", "")
			return
		}
		s.checkpoints = append(s.checkpoints[:idx], s.checkpoints[idx+1:]...)
		f.mu.Unlock()
		_ = os.RemoveAll(filepath.Join(s.dir, "checkpoints", id))
		w.WriteHeader(http.StatusNoContent)
	default:
		apiError(w, http.StatusMethodNotAllowed, "method not allowed", "")
	}
}

func (f *Fake) handleRestore(w http.ResponseWriter, s *sprite, id string, fault *harness.Fault) {
	cp := f.findCheckpoint(s, id)
	if cp == nil {
		apiError(w, http.StatusNotFound, "checkpoint not found", "")
		return
	}
	f.touch(s)
	p := newProgress(w)
	p.line("info", "data", "Restoring from checkpoint "+id+"...")
	if se, ok := streamError(fault); ok {
		p.line("error", "error", se)
		return
	}
	// A restore ends running commands.
	f.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for se := range s.sessions {
		sessions = append(sessions, se)
	}
	f.mu.Unlock()
	for _, se := range sessions {
		se.kill("KILL")
	}
	trash := s.rootfs() + ".old-" + fmt.Sprint(time.Now().UnixNano())
	if err := os.Rename(s.rootfs(), trash); err != nil {
		p.line("error", "error", "restore failed: "+err.Error())
		return
	}
	if err := harness.CopyTree(filepath.Join(s.dir, "checkpoints", id), s.rootfs(), true); err != nil {
		p.line("error", "error", "restore failed: "+err.Error())
		return
	}
	_ = os.RemoveAll(trash)
	p.line("info", "data", "Container components started successfully")
	p.line("complete", "data", "Restore from "+id+" complete")
}

func (f *Fake) handlePolicy(w http.ResponseWriter, r *http.Request, s *sprite) {
	f.touch(s)
	switch r.Method {
	case http.MethodGet:
		f.mu.Lock()
		rules := make([]policyRule, 0, len(s.policy))
		for _, m := range s.policy {
			rules = append(rules, policyRule{Domain: m["domain"], Action: m["action"], Include: m["include"]})
		}
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"rules": rules})
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "failed to read request body", http.StatusBadRequest)
			return
		}
		rules, err := validatePolicy(body)
		if err != nil {
			http.Error(w, "invalid policy config", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		s.policy, s.policySet = rules, true
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
	}
}

// policyRule is a network policy rule, in the order the API documents its fields.
type policyRule struct {
	Domain  string `json:"domain,omitempty"`
	Action  string `json:"action,omitempty"`
	Include string `json:"include,omitempty"`
}

// validatePolicy is the in-sprite server's strict validation: no unknown keys, rules present (may be
// empty), each rule exactly one of domain or include, a domain rule with action allow or deny, include only
// "defaults" with an optional action.
func validatePolicy(body []byte) ([]map[string]string, error) {
	var doc struct {
		Rules []policyRule `json:"rules"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if doc.Rules == nil {
		return nil, fmt.Errorf("missing rules")
	}
	out := make([]map[string]string, 0, len(doc.Rules))
	for i, r := range doc.Rules {
		hasDomain, hasInclude := r.Domain != "", r.Include != ""
		if hasDomain == hasInclude {
			return nil, fmt.Errorf("rule %d: exactly one of domain or include", i)
		}
		m := map[string]string{}
		if hasInclude {
			if r.Include != "defaults" || (r.Action != "" && r.Action != "allow" && r.Action != "deny") {
				return nil, fmt.Errorf("rule %d: bad include", i)
			}
			m["include"] = r.Include
		} else {
			if r.Action != "allow" && r.Action != "deny" {
				return nil, fmt.Errorf("rule %d: action must be allow or deny", i)
			}
			if !validDomain(r.Domain) {
				return nil, fmt.Errorf("rule %d: bad domain", i)
			}
			m["domain"] = r.Domain
		}
		if r.Action != "" {
			m["action"] = r.Action
		}
		out = append(out, m)
	}
	return out, nil
}

func validDomain(d string) bool {
	if d == "*" {
		return true
	}
	if len(d) > 2 && d[:2] == "*." {
		d = d[2:]
	}
	if d == "" || len(d) > 253 {
		return false
	}
	for _, c := range d {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// shuffleNotSorted puts a list in a random order other than the one it came in (when it has two entries or
// more).
func shuffleNotSorted(list []any) {
	if len(list) < 2 {
		return
	}
	for {
		perm := rand.Perm(len(list))
		identity := true
		for i, p := range perm {
			if p != i {
				identity = false
				break
			}
		}
		if identity {
			continue
		}
		cp := slices.Clone(list)
		for i, p := range perm {
			list[i] = cp[p]
		}
		return
	}
}

// streamError returns the StreamError a fault asks for.
func streamError(fault *harness.Fault) (string, bool) {
	if fault == nil {
		return "", false
	}
	se, ok := fault.Extra.(StreamError)
	return string(se), ok && se != ""
}

// isDropExec reports whether a fault asks an exec to drop its connection before the exit frame.
func isDropExec(fault *harness.Fault) bool {
	if fault == nil {
		return false
	}
	_, ok := fault.Extra.(DropExec)
	return ok
}
