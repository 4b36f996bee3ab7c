package sqlite

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// table is an entity's schema with the SQL text derived from it.
type table struct {
	schema  backend.EntitySchema
	quoted  string // the quoted table name
	columns string // "id" and every field's column, quoted, in schema order
}

// lookupTable returns the table of a known entity.
func lookupTable(entity string) (table, error) {
	schema, ok := backend.LookupEntity(entity)
	if !ok {
		return table{}, fmt.Errorf("unknown entity %q", entity)
	}
	cols := make([]string, 0, len(schema.Fields)+1)
	cols = append(cols, quote("id"))
	for _, f := range schema.Fields {
		cols = append(cols, quote(f.Name))
	}
	return table{schema: schema, quoted: quote(schema.Name), columns: strings.Join(cols, ", ")}, nil
}

// quote quotes an SQL identifier.
func quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// indexName is the name of the index on an indexed field.
func indexName(entity, field string) string {
	return "idx_" + entity + "_" + field
}

// defaultOrder is the column that orders a query without OrderBy: createdAt when the entity has it, else id.
func defaultOrder(e backend.EntitySchema) string {
	if _, ok := e.Field("createdAt"); ok {
		return "createdAt"
	}
	return "id"
}

// indexColumns returns the columns of the index on an indexed field: the field, then the entity's default
// order column and id. The usual query filters on a few fields and lists the newest or oldest records first
// (status = ? AND provider = ? ORDER BY createdAt LIMIT 100); with these columns SQLite reads the matching
// entries of one index already in order and stops at the limit, instead of sorting every match. They also
// make the id tie-break of ORDER BY free.
func indexColumns(e backend.EntitySchema, field string) []string {
	cols := []string{field}
	for _, c := range []string{defaultOrder(e), "id"} {
		if !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	return cols
}

// columnType is the declared SQL type of a field's column. Numbers are NUMERIC, so that SQLite stores integral
// values as integers and the others as reals; json is JSON text.
func columnType(t backend.FieldType) (string, error) {
	switch t {
	case backend.TypeString, backend.TypeJSON:
		return "TEXT", nil
	case backend.TypeNumber:
		return "NUMERIC", nil
	case backend.TypeBoolean:
		return "INTEGER", nil
	}
	return "", fmt.Errorf("unsupported field type %q", t)
}

// encode turns a value normalized by backend.NormalizeAttrs into the value bound for its column.
func encode(f backend.Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.Type {
	case backend.TypeString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: want a string, got %T", f.Name, v)
		}
		return s, nil
	case backend.TypeNumber:
		n, err := backend.NormalizeNumber(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if x, ok := n.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
			return nil, fmt.Errorf("%s: %v is not a number JSON can carry", f.Name, x)
		}
		return n, nil
	case backend.TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%s: want a bool, got %T", f.Name, v)
		}
		if b {
			return int64(1), nil
		}
		return int64(0), nil
	case backend.TypeJSON:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		return string(b), nil
	}
	return nil, fmt.Errorf("%s: unsupported field type %q", f.Name, f.Type)
}

// decode turns a column's value as the driver returns it into the field's canonical Go value.
func decode(f backend.Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.Type {
	case backend.TypeString:
		switch s := v.(type) {
		case string:
			return s, nil
		case []byte:
			return string(s), nil
		}
	case backend.TypeNumber:
		switch n := v.(type) {
		case int64:
			return n, nil
		case float64:
			return backend.NormalizeNumber(n)
		}
	case backend.TypeBoolean:
		if n, ok := v.(int64); ok {
			return n != 0, nil
		}
	case backend.TypeJSON:
		var b []byte
		switch s := v.(type) {
		case string:
			b = []byte(s)
		case []byte:
			b = s
		default:
			return nil, fmt.Errorf("column %s holds %T, not JSON text", f.Name, v)
		}
		out, err := backend.DecodeJSON(b)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("column %s (%s) holds an SQLite value of Go type %T", f.Name, f.Type, v)
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// scan reads one row of t.columns into a record. For a *sql.Row with no row it returns sql.ErrNoRows.
func (t table) scan(row rowScanner) (*backend.Record, error) {
	vals := make([]any, len(t.schema.Fields)+1)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := row.Scan(ptrs...); err != nil {
		return nil, err
	}
	id, ok := vals[0].(string)
	if !ok {
		return nil, fmt.Errorf("%s: id column holds %T, not text", t.schema.Name, vals[0])
	}
	rec := &backend.Record{ID: id, Entity: t.schema.Name, Attrs: backend.Attrs{}}
	for i, f := range t.schema.Fields {
		v, err := decode(f, vals[i+1])
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", t.schema.Name, id, err)
		}
		if v != nil {
			rec.Attrs[f.Name] = v
		}
	}
	return rec, nil
}

// compile turns a query into one SELECT statement and its arguments. Condition values are checked and encoded
// like attribute values of the same field.
func compile(q backend.Query) (table, string, []any, error) {
	if err := q.Validate(); err != nil {
		return table{}, "", nil, err
	}
	t, err := lookupTable(q.Entity)
	if err != nil {
		return table{}, "", nil, err
	}
	var where []string
	var args []any
	for _, c := range q.Where {
		f, _ := t.schema.Field(c.Field) // Validate checked that it exists and is indexed
		if c.Value == nil {
			return table{}, "", nil, fmt.Errorf("condition on %s %s has no value", c.Field, c.Op)
		}
		norm, err := backend.NormalizeAttrs(q.Entity, backend.Attrs{c.Field: c.Value})
		if err != nil {
			return table{}, "", nil, fmt.Errorf("condition on %s: %w", c.Field, err)
		}
		v, err := encode(f, norm[c.Field])
		if err != nil {
			return table{}, "", nil, fmt.Errorf("condition on %s: %w", c.Field, err)
		}
		var op string
		switch c.Op {
		case backend.OpEq:
			op = "="
		case backend.OpLt:
			op = "<"
		case backend.OpGt:
			op = ">"
		default:
			return table{}, "", nil, fmt.Errorf("unsupported operator %q", c.Op)
		}
		where = append(where, quote(c.Field)+" "+op+" ?")
		args = append(args, v)
	}
	order := q.OrderBy
	if order == "" {
		order = defaultOrder(t.schema)
	}
	dir := "ASC"
	if q.Desc {
		dir = "DESC"
	}
	// Records with equal order values come in id order, so that the answer is the same at every call.
	orderBy := quote(order) + " " + dir
	if order != "id" {
		orderBy += ", " + quote("id") + " " + dir
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s", t.columns, t.quoted)
	if len(where) > 0 {
		b.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY " + orderBy)
	if q.Limit > 0 {
		b.WriteString(" LIMIT ?")
		args = append(args, q.Limit)
	}
	return t, b.String(), args, nil
}
