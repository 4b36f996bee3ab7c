package vercelfake

import "sort"

// Out-of-band views and changes for tests: what is left on the service, and changes made behind a client's
// back (a sandbox deleted in the dashboard, say).

// SandboxNames returns the names of the sandboxes that exist, sorted.
func (f *Fake) SandboxNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.sandboxes))
	for name := range f.sandboxes {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// DeleteSandbox deletes a sandbox and its snapshots as the dashboard would, behind the client's back. It
// reports whether the sandbox existed.
func (f *Fake) DeleteSandbox(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[name]
	if sb == nil {
		return false
	}
	for _, s := range f.sessions {
		if s.sandbox == name {
			f.stopSession(s, "delete")
		}
	}
	delete(f.sandboxes, name)
	for _, sn := range f.snapshots {
		if sn.sandbox == name && sn.status == "created" {
			f.deleteSnap(sn)
		}
	}
	return true
}

// DeleteSnapshot deletes a snapshot behind the client's back. It reports whether a live snapshot was deleted.
func (f *Fake) DeleteSnapshot(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	sn := f.snapshots[id]
	if sn == nil || !f.alive(sn) {
		return false
	}
	f.deleteSnap(sn)
	return true
}

// SnapshotExpiresAt returns when a live snapshot expires (ms since the epoch; 0 = never) and whether it exists.
func (f *Fake) SnapshotExpiresAt(id string) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sn := f.snapshots[id]
	if sn == nil || !f.alive(sn) {
		return 0, false
	}
	return sn.expiresAt, true
}

// SessionTimeout returns the timeout (ms) of a sandbox's current session; 0 when there is none.
func (f *Fake) SessionTimeout(name string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[name]
	if sb == nil {
		return 0
	}
	if s := f.sessions[sb.currentSession]; s != nil {
		return s.timeout
	}
	return 0
}

// Routes returns a sandbox's public URL per port.
func (f *Fake) Routes(name string) map[int]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[name]
	if sb == nil {
		return nil
	}
	out := map[int]string{}
	for _, r := range sb.routes {
		out[r.Port] = r.URL
	}
	return out
}
