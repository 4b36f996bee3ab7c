//go:build windows

package sweep

import "github.com/ekairos/terraform-provider-sandbox/internal/backend"

// processAlive cannot tell on Windows and says yes, so that only the create timeout makes a record abandoned.
func processAlive(pid int) bool { return backend.ProcessAlive(pid) }
