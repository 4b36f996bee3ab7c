package backend

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
)

// Record statuses of sandbox_sandboxes, exactly the values @ekairos/sandbox writes. Whether an existing sandbox
// is running or stopped is engine state, never a record status.
const (
	StatusCreating = "creating"
	StatusActive   = "active"
	StatusShutdown = "shutdown"
	StatusError    = "error"
)

// ErrNotFound is returned (wrapped) by stores when a record does not exist and by engines when an engine
// object is gone.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned (wrapped) by Store.Create when the id already exists.
var ErrConflict = errors.New("already exists")

// Attrs are a record's fields by their data-model name (camelCase). Values are string, int64, float64, bool,
// or for json fields any JSON-decoded value (map[string]any, []any, ...). A nil value clears the field.
type Attrs map[string]any

// Record is one stored record.
type Record struct {
	ID     string
	Entity string
	Attrs  Attrs
}

// NewID returns a new record id: a random UUID, InstantDB's own form.
func NewID() string { return uuid.NewString() }

// ValidID reports whether s is a UUID in canonical form.
func ValidID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// NowMillis returns t as epoch milliseconds.
func NowMillis(t time.Time) int64 { return t.UnixMilli() }

// String returns the string field name, or "".
func (r *Record) String(name string) string {
	if r == nil {
		return ""
	}
	s, _ := r.Attrs[name].(string)
	return s
}

// Int returns the number field name as int64 and whether it was set.
func (r *Record) Int(name string) (int64, bool) {
	if r == nil {
		return 0, false
	}
	return AsInt(r.Attrs[name])
}

// JSONMap returns the json field name as an object (nil when unset or not an object).
func (r *Record) JSONMap(name string) map[string]any {
	if r == nil {
		return nil
	}
	m, _ := r.Attrs[name].(map[string]any)
	return m
}

// AsInt converts a number value (int, int64, float64, json.Number) to int64.
func AsInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if math.Trunc(n) == n && !math.IsInf(n, 0) && math.Abs(n) <= math.MaxInt64 {
			return int64(n), true
		}
		return 0, false
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		if f, err := n.Float64(); err == nil {
			return int64(f), true
		}
	}
	return 0, false
}

// NormalizeNumber turns any Go number into int64 when it is integral, float64 otherwise.
func NormalizeNumber(v any) (any, error) {
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int32:
		return int64(n), nil
	case int64:
		return n, nil
	case float32:
		return NormalizeNumber(float64(n))
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, fmt.Errorf("%v is not a number a record can hold", n)
		}
		if math.Trunc(n) == n && math.Abs(n) < 1<<53 {
			return int64(n), nil
		}
		return n, nil
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
		f, err := n.Float64()
		if err != nil {
			return nil, err
		}
		return NormalizeNumber(f)
	}
	return nil, fmt.Errorf("not a number: %T", v)
}

// NormalizeJSON round-trips v through encoding/json so that stores hand back the same shapes (map[string]any,
// []any, float64 numbers normalized to int64 when integral) whatever went in.
func NormalizeJSON(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return DecodeJSON(b)
}

// DecodeJSON decodes b with numbers normalized as NormalizeNumber does.
func DecodeJSON(b []byte) (any, error) {
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return normalizeDecoded(out), nil
}

func normalizeDecoded(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeDecoded(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalizeDecoded(e)
		}
		return x
	case float64:
		n, _ := NormalizeNumber(x)
		return n
	}
	return v
}

// NormalizeAttrs checks attrs against the entity's schema and returns them with canonical Go types. Unknown
// fields and values of the wrong type are errors naming the field. A nil value is kept (it clears the field).
func NormalizeAttrs(entity string, attrs Attrs) (Attrs, error) {
	schema, ok := LookupEntity(entity)
	if !ok {
		return nil, fmt.Errorf("unknown entity %q", entity)
	}
	out := make(Attrs, len(attrs))
	for name, v := range attrs {
		f, ok := schema.Field(name)
		if !ok {
			return nil, fmt.Errorf("%s has no field %q", entity, name)
		}
		if v == nil {
			out[name] = nil
			continue
		}
		switch f.Type {
		case TypeString:
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%s.%s: want a string, got %T", entity, name, v)
			}
			out[name] = s
		case TypeNumber:
			n, err := NormalizeNumber(v)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", entity, name, err)
			}
			out[name] = n
		case TypeBoolean:
			b, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("%s.%s: want a bool, got %T", entity, name, v)
			}
			out[name] = b
		case TypeJSON:
			n, err := NormalizeJSON(v)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", entity, name, err)
			}
			out[name] = n
		}
	}
	return out, nil
}
