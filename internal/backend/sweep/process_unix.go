//go:build !windows

package sweep

import "github.com/ekairos/terraform-provider-sandbox/internal/backend"

// processAlive is the lifecycle's own check (a zombie counts as exited), so that sweep and the next apply agree
// on which creating records are abandoned.
func processAlive(pid int) bool { return backend.ProcessAlive(pid) }

func zombie(pid int) bool { return backend.Zombie(pid) }
