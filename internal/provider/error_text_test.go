package provider

import (
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// A create whose first record write was refused (no record exists) does not claim an error record and a
// tainted resource; one with a record does.
func TestCreateFailureNote(t *testing.T) {
	if n := createFailureNote(nil); strings.Contains(n, "tainted and") || strings.Contains(n, "stays with status") || !strings.Contains(n, "No record was written") {
		t.Errorf("without a record: %q", n)
	}
	res := &backend.SandboxResult{Record: &backend.Record{ID: backend.NewID()}}
	if n := createFailureNote(res); !strings.Contains(n, `stays with status "error"`) {
		t.Errorf("with a record: %q", n)
	}
}

// "Command did not run" is never the title of an error about a command that ran.
func TestCommandErrorSummary(t *testing.T) {
	if s := commandErrorSummary(&backend.CommandResult{Ran: true, Status: backend.ProcessExited}); strings.Contains(s, "did not run") {
		t.Errorf("a command that ran: %q", s)
	}
	for _, res := range []*backend.CommandResult{nil, {Status: backend.ProcessFailed, ExitCode: -1}} {
		if s := commandErrorSummary(res); s != "Command did not run" {
			t.Errorf("a command that did not run (%+v): %q", res, s)
		}
	}
}
