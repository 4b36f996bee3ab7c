package provider

import (
	"strings"
	"testing"
)

func TestEphemeralRecordsWarning(t *testing.T) {
	cases := []struct {
		records, engine, ci string
		warn                bool
	}{
		{RecordsSQLite, "daytona", "true", true},
		{RecordsSQLite, "vercel", "1", true},
		{RecordsSQLite, "daytona", "", false},
		{RecordsSQLite, "daytona", "false", false},
		{RecordsSQLite, "local", "true", false},
		{RecordsInstantDB, "daytona", "true", false},
		{RecordsPostgres, "sprites", "true", false},
	}
	for _, c := range cases {
		got := ephemeralRecordsWarning(c.records, c.engine, c.ci)
		if (got != "") != c.warn {
			t.Errorf("records=%s engine=%s CI=%q: warning %q, want warning=%v", c.records, c.engine, c.ci, got, c.warn)
		}
		if got != "" && (!strings.Contains(got, "instantdb") || !strings.Contains(got, "postgres")) {
			t.Errorf("the warning does not name the fix: %q", got)
		}
	}
}
