package postgres

import (
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres/pgtest"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/storetest"
)

// TestConformance runs the shared Store suite against a real server, each subtest in a fresh schema of one
// database.
func TestConformance(t *testing.T) {
	dsn := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T) backend.Store {
		s, err := Open(t.Context(), Config{URL: dsn, Schema: newSchemaName("conformance")})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s // the suite closes it
	})
}
