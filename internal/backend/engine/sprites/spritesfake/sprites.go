package spritesfake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// spriteDocLocked is a sprite's JSON object.
func (f *Fake) spriteDocLocked(s *sprite) map[string]any {
	doc := map[string]any{
		"id":           s.id,
		"name":         s.name,
		"organization": f.opts.OrgSlug,
		"status":       f.statusLocked(s),
		"url":          f.spriteURL(s.name),
		"url_settings": map[string]any{"auth": s.urlAuth},
		"labels":       append([]string{}, s.labels...),
		"created_at":   s.created.UTC().Format(time.RFC3339Nano),
		"updated_at":   s.updated.UTC().Format(time.RFC3339Nano),
	}
	if s.privAccess != "" {
		doc["url_settings"].(map[string]any)["private_access"] = s.privAccess //nolint:forcetypeassert // set just above
	}
	if !s.lastActive.IsZero() {
		doc["last_running_at"] = s.lastActive.UTC().Format(time.RFC3339Nano)
	}
	return doc
}

// decodeObject reads a JSON object body into raw fields, refusing unknown keys.
func decodeObject(w http.ResponseWriter, r *http.Request, known ...string) (map[string]json.RawMessage, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		validationError(w, "could not read the request body")
		return nil, false
	}
	var m map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) == 0 {
		m = map[string]json.RawMessage{}
	} else if err := json.Unmarshal(body, &m); err != nil || m == nil {
		validationError(w, "the request body is not a JSON object")
		return nil, false
	}
	allowed := map[string]bool{}
	for _, k := range known {
		allowed[k] = true
	}
	var unknown []string
	for k := range m {
		if !allowed[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		validationError(w, "unknown field(s): "+strings.Join(unknown, ", "))
		return nil, false
	}
	return m, true
}

func decodeURLSettings(raw json.RawMessage) (auth, priv string, err error) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return "", "", fmt.Errorf("invalid url_settings parameter")
	}
	for k, v := range m {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", "", fmt.Errorf("invalid url_settings.%s parameter", k)
		}
		switch k {
		case "auth":
			if s != "sprite" && s != "public" {
				return "", "", fmt.Errorf("invalid url_settings.auth %q (want sprite or public)", s)
			}
			auth = s
		case "private_access":
			if s != "" && s != "admins" && s != "org_users" {
				return "", "", fmt.Errorf("invalid url_settings.private_access %q", s)
			}
			priv = s
		default:
			return "", "", fmt.Errorf("unknown field url_settings.%s", k)
		}
	}
	return auth, priv, nil
}

func decodeLabels(raw json.RawMessage) ([]string, error) {
	var l []string
	if json.Unmarshal(raw, &l) != nil {
		return nil, fmt.Errorf("invalid labels parameter (want an array of strings)")
	}
	for _, x := range l {
		if x == "" || len(x) > 63 || strings.ContainsAny(x, " \t\r\n") {
			return nil, fmt.Errorf("invalid label %q", x)
		}
	}
	return l, nil
}

func (f *Fake) handleCreate(w http.ResponseWriter, r *http.Request) {
	m, ok := decodeObject(w, r, "name", "url_settings", "labels", "wait_for_capacity", "config", "environment", "runtime")
	if !ok {
		return
	}
	var name string
	if raw, ok := m["name"]; !ok || json.Unmarshal(raw, &name) != nil || name == "" {
		validationError(w, "name is required")
		return
	}
	if !validName(name) {
		apiError(w, http.StatusBadRequest, "invalid_name", fmt.Sprintf("sprite name %q is invalid: use lowercase letters, digits and hyphens (at most 63)", name))
		return
	}
	s := &sprite{name: name, urlAuth: "sprite", sessions: map[*session]bool{}}
	if raw, ok := m["url_settings"]; ok {
		auth, priv, err := decodeURLSettings(raw)
		if err != nil {
			validationError(w, err.Error())
			return
		}
		if auth != "" {
			s.urlAuth = auth
		}
		s.privAccess = priv
	}
	if raw, ok := m["labels"]; ok {
		l, err := decodeLabels(raw)
		if err != nil {
			validationError(w, err.Error())
			return
		}
		s.labels = l
	}
	if raw, ok := m["wait_for_capacity"]; ok {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			validationError(w, "invalid wait_for_capacity parameter")
			return
		}
		s.waitForCap = &b
	}
	if raw, ok := m["runtime"]; ok {
		if json.Unmarshal(raw, &s.runtime) != nil || (s.runtime != "default" && s.runtime != "dev") {
			validationError(w, "invalid runtime parameter (want default or dev)")
			return
		}
	}
	if raw, ok := m["environment"]; ok {
		var env map[string]string
		if json.Unmarshal(raw, &env) != nil {
			validationError(w, "invalid environment parameter (want an object of strings)")
			return
		}
	}
	if raw, ok := m["config"]; ok {
		var cfg struct {
			RAMMB     *int    `json:"ram_mb"`
			CPUs      *int    `json:"cpus"`
			Region    *string `json:"region"`
			StorageGB *int    `json:"storage_gb"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if dec.Decode(&cfg) != nil {
			validationError(w, "invalid config parameter")
			return
		}
	}
	now := time.Now()
	s.id = "sprite-" + uuid.NewString()
	s.created, s.updated = now, now
	f.mu.Lock()
	if _, taken := f.sprites[name]; taken {
		f.mu.Unlock()
		apiError(w, http.StatusConflict, "sprite_already_exists", fmt.Sprintf("a sprite named %q already exists in this organization", name))
		return
	}
	s.dir = filepath.Join(f.root, name+"-"+s.id[len("sprite-"):len("sprite-")+8])
	if err := os.MkdirAll(filepath.Join(s.rootfs(), "home", "sprite"), 0o755); err != nil {
		f.mu.Unlock()
		apiError(w, http.StatusInternalServerError, "internal_error", err.Error())
		return
	}
	f.sprites[name] = s
	doc := f.spriteDocLocked(s)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, doc)
}

func (f *Fake) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	max := 50
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			validationError(w, "invalid max_results parameter (1-50)")
			return
		}
		max = n
	}
	after := ""
	if tok := q.Get("continuation_token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(b), "after:") {
			validationError(w, "invalid continuation_token")
			return
		}
		after = strings.TrimPrefix(string(b), "after:")
	}
	prefix := q.Get("prefix")
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.sprites))
	counts := map[string]int{}
	for n, s := range f.sprites {
		counts[f.statusLocked(s)]++
		if strings.HasPrefix(n, prefix) && n > after {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	more := len(names) > max
	if more {
		names = names[:max]
	}
	entries := make([]any, 0, len(names))
	for _, n := range names {
		s := f.sprites[n]
		if f.opts.MinimalList {
			entries = append(entries, map[string]any{"name": n, "org_slug": f.opts.OrgSlug, "updated_at": s.updated.UTC().Format(time.RFC3339Nano)})
		} else {
			entries = append(entries, f.spriteDocLocked(s))
		}
	}
	var next any
	if more {
		next = base64.RawURLEncoding.EncodeToString([]byte("after:" + names[len(names)-1]))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"sprites": entries, "has_more": more, "next_continuation_token": next,
		"name": f.opts.OrgSlug, "running": counts["running"], "warm": counts["warm"], "cold": counts["cold"],
		"running_limit": 10, "warm_limit": 100,
	})
}

func (f *Fake) handleUpdate(w http.ResponseWriter, r *http.Request, s *sprite) {
	m, ok := decodeObject(w, r, "url_settings", "labels", "clear_labels")
	if !ok {
		return
	}
	if len(m) == 0 {
		validationError(w, "url_settings or labels is required")
		return
	}
	var auth, priv string
	var labels []string
	clear := false
	if raw, ok := m["url_settings"]; ok {
		a, p, err := decodeURLSettings(raw)
		if err != nil {
			validationError(w, err.Error())
			return
		}
		auth, priv = a, p
	}
	if raw, ok := m["labels"]; ok {
		l, err := decodeLabels(raw)
		if err != nil {
			validationError(w, err.Error())
			return
		}
		labels = l
	}
	if raw, ok := m["clear_labels"]; ok {
		if json.Unmarshal(raw, &clear) != nil {
			validationError(w, "invalid clear_labels parameter")
			return
		}
	}
	f.mu.Lock()
	if auth != "" {
		s.urlAuth = auth
	}
	if priv != "" {
		s.privAccess = priv
	}
	if _, ok := m["labels"]; ok {
		s.labels = labels
	}
	if clear {
		s.labels = nil
	}
	s.updated = time.Now()
	doc := f.spriteDocLocked(s)
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, doc)
}

func (f *Fake) handleDelete(w http.ResponseWriter, s *sprite) {
	f.mu.Lock()
	if f.sprites[s.name] != s {
		f.mu.Unlock()
		apiError(w, http.StatusNotFound, "sprite not found", "")
		return
	}
	delete(f.sprites, s.name)
	sessions := make([]*session, 0, len(s.sessions))
	for se := range s.sessions {
		sessions = append(sessions, se)
	}
	f.mu.Unlock()
	for _, se := range sessions {
		se.kill("KILL")
	}
	_ = os.RemoveAll(s.dir)
	w.WriteHeader(http.StatusNoContent)
}
