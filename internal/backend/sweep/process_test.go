//go:build linux

package sweep

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestZombieIsNotAlive: a child that has exited but was not reaped yet counts as exited.
func TestZombieIsNotAlive(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for !zombie(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if processAlive(pid) {
		t.Errorf("the exited, unreaped child %d counts as alive", pid)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if processAlive(pid) {
		t.Errorf("the reaped child %d counts as alive", pid)
	}
	if !processAlive(os.Getpid()) {
		t.Error("this process counts as exited")
	}
}
