package backend

import "testing"

// TestOptionsChanged: options recorded in a record (JSON numbers: float64) and the same options from the provider
// (int64) are no change, so that a labels-only update of a volume makes no engine call; a new or different
// option is a change.
func TestOptionsChanged(t *testing.T) {
	recorded := map[string]any{"disk_mb": float64(16), "dir": "/x/volumes/vol-1/data"}
	for _, tc := range []struct {
		opts map[string]any
		want bool
	}{
		{nil, false},
		{map[string]any{"disk_mb": int64(16)}, false},
		{map[string]any{"disk_mb": int64(48)}, true},
		{map[string]any{"other": "x"}, true},
	} {
		if got := optionsChanged(recorded, tc.opts); got != tc.want {
			t.Errorf("optionsChanged(%v, %v) = %v, want %v", recorded, tc.opts, got, tc.want)
		}
	}
}
