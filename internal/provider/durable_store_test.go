package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/jackc/pgx/v5"
)

// TestAccStoreIdentity_postgresSchemaNotCreated: a plan against a PostgreSQL schema that holds no store (a typo
// in postgres.schema, a fresh database) fails, naming the store, and creates no schema or table there: opening
// the store would have made an empty one and planned to re-create everything.
func TestAccStoreIdentity_postgresSchemaNotCreated(t *testing.T) {
	env := newTestEnvFor(t, RecordsPostgres)
	config := func(schema string) string {
		hcl := env.providerHCL()
		if schema != "" {
			hcl = strings.Replace(hcl, fmt.Sprintf("url = %q\n", env.pgDSN), fmt.Sprintf("url = %q\n    schema = %q\n", env.pgDSN, schema), 1)
		}
		return hcl + `
resource "sandbox_sandbox" "a" {
  purpose = "durable"
}
`
	}
	schemaExists := func(name string) bool {
		t.Helper()
		conn, err := pgx.Connect(context.Background(), env.pgDSN)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close(context.Background()) }()
		var ok bool
		if err := conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{Config: config("")},
			{
				Config:      config("elsewhere"),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Record store not found.*postgres\s+schema\s+elsewhere.*does\s+not\s+exist.*written\s+to\s+store`),
			},
			{
				PreConfig: func() {
					if schemaExists("elsewhere") {
						t.Fatal("a plan against a PostgreSQL schema without a store created the schema")
					}
				},
				Config:   config(""),
				PlanOnly: true,
			},
		},
	})
}

// TestAccCommand_missingStoreNotCreatedByPlan: a command whose sandbox_id is a literal record id, planned against
// a record store that does not exist yet, fails on sandbox_id and the plan does not create the SQLite file.
func TestAccCommand_missingStoreNotCreatedByPlan(t *testing.T) {
	env := newTestEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: env.providerHCL() + `
resource "sandbox_command" "c" {
  sandbox_id = "6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f"
  command    = ["true"]
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)No\s+such\s+sandbox.*names\s+no\s+record.*does\s+not\s+exist\s+yet`),
			},
			{
				PreConfig: func() {
					if _, err := os.Stat(env.dbPath); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("a plan created the record store %s (%v)", env.dbPath, err)
					}
				},
				Config:   env.providerHCL(),
				PlanOnly: true,
			},
		},
	})
}
