package postgres

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres/pgtest"
)

func TestKind(t *testing.T) {
	s := openStore(t, Config{URL: pgtest.Start(t)})
	if s.Kind() != "postgres" {
		t.Errorf("Kind() = %q; want postgres", s.Kind())
	}
	if s.Schema() != DefaultSchema {
		t.Errorf("Schema() = %q; want %q", s.Schema(), DefaultSchema)
	}
}

// TestNumbers checks what numeric buys over double precision: int64 values beyond 2^53 stay exact, and
// integral values come back as int64, others as float64.
func TestNumbers(t *testing.T) {
	s := freshStore(t)
	ctx := t.Context()
	cases := []struct {
		in, want any
	}{
		{int64(math.MaxInt64), int64(math.MaxInt64)},
		{int64(math.MinInt64), int64(math.MinInt64)},
		{int64(1<<53 + 1), int64(1<<53 + 1)},
		{1763912345678.0, int64(1763912345678)},
		{0.1, 0.1},
		{-2.5e-7, -2.5e-7},
		{1e300, 1e300}, // integral, but far beyond int64
		{math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64},
	}
	for _, c := range cases {
		id := backend.NewID()
		r, err := s.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"timeout": c.in})
		if err != nil {
			t.Fatalf("Create(timeout=%v): %v", c.in, err)
		}
		if got := r.Attrs["timeout"]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("timeout %v (%T) came back as %v (%T); want %v (%T)", c.in, c.in, got, got, c.want, c.want)
		}
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := s.Create(ctx, backend.EntitySandboxes, backend.NewID(), backend.Attrs{"timeout": bad}); err == nil {
			t.Errorf("Create(timeout=%v) succeeded; want an error", bad)
		}
	}
}

// TestCompiledQuery checks that a query becomes one statement with its conditions, order and limit in SQL.
func TestCompiledQuery(t *testing.T) {
	tbl := newTable("my schema", mustEntity(t, backend.EntitySandboxes))
	sql, args, err := tbl.query(backend.Query{
		Entity: backend.EntitySandboxes,
		Where: []backend.Cond{
			{Field: "status", Op: backend.OpEq, Value: "active"},
			{Field: "provider", Op: backend.OpEq, Value: "local"},
			{Field: "createdAt", Op: backend.OpGt, Value: 5},
			{Field: "shutdownAt", Op: backend.OpEq, Value: nil},
		},
		OrderBy: "updatedAt", Desc: true, Limit: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `FROM "my schema"."sandbox_sandboxes" WHERE "status" = $1 AND "provider" = $2 AND "createdAt" > $3 ` +
		`AND "shutdownAt" IS NULL ORDER BY "updatedAt" DESC NULLS LAST, id DESC LIMIT 100`
	if !strings.HasSuffix(sql, want) || !strings.HasPrefix(sql, `SELECT id, "externalSandboxId", "provider",`) {
		t.Errorf("SQL = %s\nwant SELECT id, <columns> %s", sql, want)
	}
	if wantArgs := []any{"active", "local", int64(5)}; !reflect.DeepEqual(args, wantArgs) {
		t.Errorf("args = %#v; want %#v", args, wantArgs)
	}

	// The default order: createdAt when the entity has it, else id.
	sql, _, err = newTable("public", mustEntity(t, backend.EntityProcesses)).query(backend.Query{Entity: backend.EntityProcesses})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(sql, ` FROM "public"."sandbox_processes" ORDER BY id`) {
		t.Errorf("SQL = %s; want it to end with ORDER BY id and no LIMIT", sql)
	}
}

// TestUnsetOrder checks that records whose order field is unset come first in ascending order and last in
// descending order (as in SQLite), from the index.
func TestUnsetOrder(t *testing.T) {
	// One connection, so that SET enable_seqscan applies to the EXPLAIN below.
	s := openStore(t, Config{URL: sharedDB(t), Schema: newSchemaName("order"), MaxConns: 1})
	ctx := t.Context()
	ids := map[string]any{}
	for _, v := range []any{int64(2), nil, int64(1)} {
		id := backend.NewID()
		ids[id] = v
		if _, err := s.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"provider": "order", "shutdownAt": v}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		desc bool
		want []any
	}{{false, []any{nil, int64(1), int64(2)}}, {true, []any{int64(2), int64(1), nil}}} {
		q := backend.Query{Entity: backend.EntitySandboxes, OrderBy: "shutdownAt", Desc: c.desc}
		recs, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var got []any
		for _, r := range recs {
			got = append(got, r.Attrs["shutdownAt"])
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("order by shutdownAt (desc=%v) = %v; want %v", c.desc, got, c.want)
		}
		if _, err := s.pool.Exec(ctx, "SET enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		q.Limit = 10
		plan, err := s.ExplainQuery(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		// The index gives the order; only ties on shutdownAt are sorted (by id).
		if !strings.Contains(plan, "Index Scan") || !strings.Contains(plan, `Presorted Key: "shutdownAt"`) {
			t.Errorf("desc=%v: the index does not give the order:\n%s", c.desc, plan)
		}
	}
}

func TestIsNullCondition(t *testing.T) {
	s := freshStore(t)
	ctx := t.Context()
	live, gone := backend.NewID(), backend.NewID()
	for id, attrs := range map[string]backend.Attrs{
		live: {"provider": "local", "createdAt": 1},
		gone: {"provider": "local", "createdAt": 2, "shutdownAt": 3},
	} {
		if _, err := s.Create(ctx, backend.EntitySandboxes, id, attrs); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.Query(ctx, backend.Query{Entity: backend.EntitySandboxes, Where: []backend.Cond{
		{Field: "shutdownAt", Op: backend.OpEq, Value: nil},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != live {
		t.Errorf("shutdownAt = nil matched %d records; want only %s", len(recs), live)
	}
}

// TestDDL checks the tables as PostgreSQL sees them.
func TestDDL(t *testing.T) {
	dsn := sharedDB(t)
	s := openStore(t, Config{URL: dsn, Schema: newSchemaName("records")})
	checkSchema(t, adminPool(t, dsn), s.Schema())
}

// checkSchema checks that schema holds every entity as documented: one column per field, named as the field,
// of the documented type, and one btree index per indexed field.
func checkSchema(t *testing.T, admin *pgxpool.Pool, schema string) {
	t.Helper()
	ctx := t.Context()
	for _, e := range backend.Entities() {
		rows, err := admin.Query(ctx, `SELECT column_name, data_type, coalesce(collation_name, '')
FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
			schema, e.Name)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		var name, typ, coll string
		for rows.Next() {
			if err := rows.Scan(&name, &typ, &coll); err != nil {
				t.Fatal(err)
			}
			got[name] = strings.TrimSpace(typ + " " + coll)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"id": "uuid"}
		for _, f := range e.Fields {
			want[f.Name] = map[backend.FieldType]string{
				backend.TypeString: "text C", backend.TypeNumber: "numeric",
				backend.TypeJSON: "jsonb", backend.TypeBoolean: "boolean",
			}[f.Type]
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s columns = %v; want %v", e.Name, got, want)
		}
		for _, f := range e.Fields {
			var am, col string
			err := admin.QueryRow(ctx, `SELECT am.amname, a.attname
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE n.nspname = $1 AND ic.relname = $2 AND i.indnatts = 1`, schema, indexName(e.Name, f.Name)).Scan(&am, &col)
			switch {
			case f.Indexed && err != nil:
				t.Errorf("index of %s.%s: %v", e.Name, f.Name, err)
			case f.Indexed && (am != "btree" || col != f.Name):
				t.Errorf("index of %s.%s is %s on %s; want a btree on the column", e.Name, f.Name, am, col)
			case !f.Indexed && err == nil:
				t.Errorf("%s.%s is not indexed but has an index", e.Name, f.Name)
			}
		}
	}
}

// TestSchemaIsolation runs two installations in one database.
func TestSchemaIsolation(t *testing.T) {
	dsn := sharedDB(t)
	a := openStore(t, Config{URL: dsn, Schema: newSchemaName("team a")})
	b := openStore(t, Config{URL: dsn, Schema: newSchemaName("team_b")})
	ctx := t.Context()
	id := backend.NewID()
	if _, err := a.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"status": "active", "provider": "local"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, backend.EntitySandboxes, id); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("schema team_b sees team a's record: err = %v", err)
	}
	recs, err := b.Query(ctx, backend.Query{Entity: backend.EntitySandboxes})
	if err != nil || len(recs) != 0 {
		t.Errorf("Query in team_b = %d records, %v; want none", len(recs), err)
	}
	// The same id is free in the other installation.
	if _, err := b.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"status": "creating"}); err != nil {
		t.Errorf("Create of the same id in team_b: %v", err)
	}
	if err := b.Delete(ctx, backend.EntitySandboxes, id); err != nil {
		t.Fatal(err)
	}
	r, err := a.Get(ctx, backend.EntitySandboxes, id)
	if err != nil || r.String("status") != "active" {
		t.Errorf("team a's record after team_b deleted its own: %v, %v", r, err)
	}
	for _, st := range []*Store{a, b} {
		var n int
		if err := st.pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = $1", st.Schema()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := len(backend.Entities()) + 1; n != want {
			t.Errorf("schema %q has %d tables; want %d (the entities and schema_migrations)", st.Schema(), n, want)
		}
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := Open(t.Context(), Config{URL: sharedDB(t), Schema: newSchemaName("close")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), backend.EntitySandboxes, backend.NewID()); err == nil {
		t.Error("Get on a closed store succeeded")
	}
}

func mustEntity(t testing.TB, name string) backend.EntitySchema {
	t.Helper()
	e, ok := backend.LookupEntity(name)
	if !ok {
		t.Fatalf("no entity %s", name)
	}
	return e
}

func TestNumberValue(t *testing.T) {
	for _, c := range []struct {
		in   string
		want any
	}{
		{"1763000000000", int64(1763000000000)},
		{"-42", int64(-42)},
		{"0", int64(0)},
		{"5.000", int64(5)},
		{"9223372036854775807", int64(math.MaxInt64)},
		{"-9223372036854775808", int64(math.MinInt64)},
		{"9223372036854775808", 9223372036854775808.0},
		{"100000000000000000000.0000000000", 1e20},
		{"1.5", 1.5},
		{"-0.001", -0.001},
		{"1e300", 1e300},
	} {
		var n pgtype.Numeric
		if err := n.ScanScientific(c.in); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		got, err := numberValue(n)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("numberValue(%s) = %v (%T), %v; want %v (%T)", c.in, got, got, err, c.want, c.want)
		}
	}
}
