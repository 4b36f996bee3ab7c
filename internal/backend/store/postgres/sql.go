package postgres

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// sqlType is the column type of a field type.
func sqlType(t backend.FieldType) (string, error) {
	switch t {
	case backend.TypeString:
		return "text", nil
	case backend.TypeNumber:
		// numeric keeps int64 values exact (double precision would round them above 2^53) and float64 values
		// exact too (pgx writes their shortest decimal form); scanning tells integral values from others.
		return "numeric", nil
	case backend.TypeJSON:
		return "jsonb", nil
	case backend.TypeBoolean:
		return "boolean", nil
	}
	return "", fmt.Errorf("field type %q has no column type", t)
}

// textCollation is the collation of text columns: equality and order are bytewise, as in Go and the other
// stores, whatever the database's locale.
const textCollation = "C"

// columnDef is the type of a field's column in CREATE TABLE and ADD COLUMN.
func columnDef(t backend.FieldType) (string, error) {
	typ, err := sqlType(t)
	if err != nil {
		return "", err
	}
	if typ == "text" {
		typ += " COLLATE " + quote(textCollation)
	}
	return typ, nil
}

func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

// indexName is the name of the btree index on an indexed field.
func indexName(entity, field string) string { return entity + "_" + field + "_idx" }

// table holds the statements of one entity, built once at Open.
type table struct {
	schema       backend.EntitySchema
	ident        string // "schema"."entity"
	columns      string // id, "field", ... in schema order
	selectByID   string
	deleteByID   string
	defaultOrder string // quoted column that orders a query without OrderBy
}

func newTable(schemaName string, e backend.EntitySchema) *table {
	t := &table{schema: e, ident: pgx.Identifier{schemaName, e.Name}.Sanitize(), defaultOrder: "id"}
	cols := make([]string, 0, len(e.Fields)+1)
	cols = append(cols, "id")
	for _, f := range e.Fields {
		cols = append(cols, quote(f.Name))
	}
	if f, ok := e.Field("createdAt"); ok && f.Indexed {
		t.defaultOrder = quote("createdAt")
	}
	t.columns = strings.Join(cols, ", ")
	t.selectByID = "SELECT " + t.columns + " FROM " + t.ident + " WHERE id = $1"
	t.deleteByID = "DELETE FROM " + t.ident + " WHERE id = $1"
	return t
}

// createDDL returns the statements that create the table and its indexes.
func (t *table) createDDL() ([]string, error) {
	defs := []string{"id uuid PRIMARY KEY"}
	for _, f := range t.schema.Fields {
		typ, err := columnDef(f.Type)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.schema.Name, f.Name, err)
		}
		defs = append(defs, quote(f.Name)+" "+typ)
	}
	stmts := []string{"CREATE TABLE " + t.ident + " (\n  " + strings.Join(defs, ",\n  ") + "\n)"}
	for _, f := range t.schema.Fields {
		if f.Indexed {
			stmts = append(stmts, t.indexDDL(f.Name))
		}
	}
	return stmts, nil
}

// indexDDL returns the statement that creates the index of an indexed field. NULLS FIRST matches the order
// of queries (see query), so that the index serves ORDER BY in both directions.
func (t *table) indexDDL(field string) string {
	return "CREATE INDEX " + quote(indexName(t.schema.Name, field)) + " ON " + t.ident + " (" + quote(field) +
		" NULLS FIRST)"
}

// param converts a normalized attribute value to a query parameter of its column.
func param(f backend.Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if f.Type == backend.TypeNumber {
		if err := checkFinite(f.Name, v); err != nil {
			return nil, err
		}
	}
	if f.Type == backend.TypeJSON {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		return b, nil
	}
	return v, nil
}

// insert returns INSERT ... RETURNING for normalized attrs. Columns come in schema order, so that the same set
// of fields always gives the same statement text (and one prepared statement per connection).
func (t *table) insert(id string, attrs backend.Attrs) (string, []any, error) {
	cols := []string{"id"}
	marks := []string{"$1"}
	args := []any{id}
	for _, f := range t.schema.Fields {
		v, ok := attrs[f.Name]
		if !ok || v == nil {
			continue
		}
		p, err := param(f, v)
		if err != nil {
			return "", nil, err
		}
		args = append(args, p)
		cols = append(cols, quote(f.Name))
		marks = append(marks, "$"+strconv.Itoa(len(args)))
	}
	sql := "INSERT INTO " + t.ident + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(marks, ", ") +
		") RETURNING " + t.columns
	return sql, args, nil
}

// update returns the single UPDATE ... RETURNING that patches the given fields and leaves the others alone.
func (t *table) update(id string, attrs backend.Attrs) (string, []any, error) {
	sets := make([]string, 0, len(attrs))
	args := []any{id}
	for _, f := range t.schema.Fields {
		v, ok := attrs[f.Name]
		if !ok {
			continue
		}
		p, err := param(f, v)
		if err != nil {
			return "", nil, err
		}
		args = append(args, p)
		sets = append(sets, quote(f.Name)+" = $"+strconv.Itoa(len(args)))
	}
	sql := "UPDATE " + t.ident + " SET " + strings.Join(sets, ", ") + " WHERE id = $1 RETURNING " + t.columns
	return sql, args, nil
}

// query compiles a validated query to one SELECT: WHERE on the indexed columns, ORDER BY the order column then
// id (so that ties come back in a stable order), LIMIT. Records whose order field is unset sort as the smallest
// values, first in ascending order and last in descending order, as in SQLite (PostgreSQL's default is the
// opposite).
func (t *table) query(q backend.Query) (string, []any, error) {
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(t.columns)
	b.WriteString(" FROM ")
	b.WriteString(t.ident)
	var args []any
	for i, c := range q.Where {
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		b.WriteString(quote(c.Field))
		if c.Value == nil {
			if c.Op != backend.OpEq {
				return "", nil, fmt.Errorf("%s %s null: only = compares with null", c.Field, c.Op)
			}
			b.WriteString(" IS NULL")
			continue
		}
		norm, err := backend.NormalizeAttrs(q.Entity, backend.Attrs{c.Field: c.Value})
		if err != nil {
			return "", nil, fmt.Errorf("condition on %s: %w", c.Field, err)
		}
		if err := checkFinite(c.Field, norm[c.Field]); err != nil {
			return "", nil, err
		}
		args = append(args, norm[c.Field])
		b.WriteString(" " + string(c.Op) + " $" + strconv.Itoa(len(args)))
	}
	order := t.defaultOrder
	if q.OrderBy != "" {
		order = quote(q.OrderBy)
	}
	dir, nulls := "", " NULLS FIRST"
	if q.Desc {
		dir, nulls = " DESC", " NULLS LAST"
	}
	if order == "id" {
		b.WriteString(" ORDER BY id" + dir)
	} else {
		b.WriteString(" ORDER BY " + order + dir + nulls + ", id" + dir)
	}
	if q.Limit > 0 {
		b.WriteString(" LIMIT " + strconv.Itoa(q.Limit))
	}
	return b.String(), args, nil
}

// scanner reads one row of the table's columns into a record.
type scanner struct {
	t    *table
	id   string
	vals []any // one pointer per field, typed by its column
}

func (t *table) newScanner() *scanner {
	sc := &scanner{t: t, vals: make([]any, len(t.schema.Fields))}
	for i, f := range t.schema.Fields {
		switch f.Type {
		case backend.TypeString:
			sc.vals[i] = new(pgtype.Text)
		case backend.TypeNumber:
			sc.vals[i] = new(pgtype.Numeric)
		case backend.TypeJSON:
			sc.vals[i] = new([]byte)
		default:
			sc.vals[i] = new(pgtype.Bool)
		}
	}
	return sc
}

func (sc *scanner) scan(row pgx.Row) (*backend.Record, error) {
	dest := make([]any, 0, len(sc.vals)+1)
	dest = append(dest, &sc.id)
	dest = append(dest, sc.vals...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	r := &backend.Record{ID: sc.id, Entity: sc.t.schema.Name, Attrs: make(backend.Attrs, len(sc.vals))}
	for i, f := range sc.t.schema.Fields {
		switch v := sc.vals[i].(type) {
		case *pgtype.Text:
			if v.Valid {
				r.Attrs[f.Name] = v.String
			}
		case *pgtype.Numeric:
			if v.Valid {
				n, err := numberValue(*v)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", sc.t.schema.Name, f.Name, err)
				}
				r.Attrs[f.Name] = n
			}
		case *[]byte:
			if *v != nil {
				j, err := backend.DecodeJSON(*v)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", sc.t.schema.Name, f.Name, err)
				}
				r.Attrs[f.Name] = j
				*v = nil
			}
		case *pgtype.Bool:
			if v.Valid {
				r.Attrs[f.Name] = v.Bool
			}
		}
	}
	return r, nil
}

func (t *table) scanOne(row pgx.Row) (*backend.Record, error) {
	return t.newScanner().scan(row)
}

func (t *table) scanAll(rows pgx.Rows) ([]*backend.Record, error) {
	defer rows.Close()
	sc := t.newScanner()
	out := []*backend.Record{} // no match is an empty, non-nil slice
	for rows.Next() {
		r, err := sc.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// checkFinite rejects NaN and infinities, which JSON (and so every other store) cannot carry, although numeric
// could.
func checkFinite(field string, v any) error {
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return fmt.Errorf("%s: %v is not a finite number", field, f)
	}
	return nil
}

// numberValue returns an integral numeric as int64 (when it fits) and any other as float64, as
// backend.NormalizeNumber does.
func numberValue(n pgtype.Numeric) (any, error) {
	if !n.NaN && n.InfinityModifier == pgtype.Finite {
		if i, ok := numericInt64(n); ok {
			return i, nil
		}
		if n.Int != nil && !n.Int.IsInt64() {
			if i, err := n.Int64Value(); err == nil {
				return i.Int64, nil
			}
		}
	}
	f, err := n.Float64Value()
	if err != nil {
		return nil, fmt.Errorf("decode numeric: %w", err)
	}
	return f.Float64, nil
}

// numericInt64 is the int64 value of a finite numeric whose digits fit an int64, computed without math/big
// (pgx decodes 1763000000000 as 1763e9, and big.Int.Exp dominated the cost of reading a record). ok is false
// when the value is not integral, does not fit, or needs math/big.
func numericInt64(n pgtype.Numeric) (v int64, ok bool) {
	if n.Int == nil {
		return 0, true
	}
	if !n.Int.IsInt64() {
		return 0, false
	}
	v = n.Int.Int64()
	for e := n.Exp; e > 0; e-- {
		if v > math.MaxInt64/10 || v < math.MinInt64/10 {
			return 0, false
		}
		v *= 10
	}
	for e := n.Exp; e < 0; e++ {
		if v%10 != 0 {
			return 0, false
		}
		v /= 10
	}
	return v, true
}
