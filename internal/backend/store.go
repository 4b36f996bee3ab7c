package backend

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Op is a comparison in a query condition.
type Op string

const (
	// OpEq matches records whose field equals the value.
	OpEq Op = "="
	// OpLt matches records whose number field is less than the value.
	OpLt Op = "<"
	// OpGt matches records whose number field is greater than the value.
	OpGt Op = ">"
)

// Cond is one condition on an indexed field. Conditions in a Query are ANDed.
type Cond struct {
	Field string
	Op    Op
	Value any
}

// Query selects records of one entity. Every condition and the order field must be indexed in the entity's
// schema, so that every store can answer it on the server (an SQL index, an InstaQL where on an indexed
// attribute) without fetching the whole entity.
type Query struct {
	Entity  string
	Where   []Cond
	OrderBy string // an indexed field; "" orders by createdAt when the entity has it, else by id
	Desc    bool
	Limit   int // 0 = no limit
}

// Validate checks the query against the schema.
func (q Query) Validate() error {
	schema, ok := LookupEntity(q.Entity)
	if !ok {
		return fmt.Errorf("unknown entity %q", q.Entity)
	}
	for _, c := range q.Where {
		f, ok := schema.Field(c.Field)
		if !ok {
			return fmt.Errorf("%s has no field %q", q.Entity, c.Field)
		}
		if !f.Indexed {
			return fmt.Errorf("%s.%s is not indexed and cannot be filtered on", q.Entity, c.Field)
		}
		switch c.Op {
		case OpEq:
		case OpLt, OpGt:
			if f.Type != TypeNumber {
				return fmt.Errorf("%s.%s: %s needs a number field", q.Entity, c.Field, c.Op)
			}
		default:
			return fmt.Errorf("unsupported operator %q", c.Op)
		}
	}
	if q.OrderBy != "" {
		f, ok := schema.Field(q.OrderBy)
		if !ok || !f.Indexed {
			return fmt.Errorf("%s.%s is not an indexed field and cannot order a query", q.Entity, q.OrderBy)
		}
	}
	if q.Limit < 0 {
		return errors.New("limit must not be negative")
	}
	return nil
}

// Store keeps records. Implementations: store/sqlite (embedded default), store/instantdb, store/postgres.
// Every implementation passes the suite in backend/storetest.
type Store interface {
	// Kind names the implementation: "sqlite", "instantdb", "postgres".
	Kind() string
	// Create writes a new record with the given id (a UUID). ErrConflict when the id exists.
	Create(ctx context.Context, entity, id string, attrs Attrs) (*Record, error)
	// Get loads one record. ErrNotFound when missing.
	Get(ctx context.Context, entity, id string) (*Record, error)
	// Update sets the given fields (a nil value clears one) and leaves the others as they are, atomically for
	// the record. ErrNotFound when missing. It returns the record as stored after the update.
	Update(ctx context.Context, entity, id string, attrs Attrs) (*Record, error)
	// Delete removes a record. Deleting a missing record is not an error.
	Delete(ctx context.Context, entity, id string) error
	// CompareAndUpdate is Update on condition that the record's field (a string, number or boolean field)
	// still holds expect (nil: unset) when the write is applied: a compare-and-swap, atomic against every
	// other CompareAndUpdate of the record, in this process or any other. ErrStale (wrapped) when the field
	// holds something else, ErrNotFound when the record is missing. attrs must set field to a value other
	// than expect, so that of two callers that read the same value at most one succeeds.
	CompareAndUpdate(ctx context.Context, entity, id, field string, expect any, attrs Attrs) (*Record, error)
	// Query returns the matching records, ordered, at most Limit of them.
	Query(ctx context.Context, q Query) ([]*Record, error)
	// Close releases the store's resources.
	Close() error
}

// ErrStale is returned (wrapped) by Store.CompareAndUpdate when the record changed since it was read.
var ErrStale = errors.New("changed since it was read")

// CheckCompareAndUpdate validates a CompareAndUpdate call, the same way for every store, and returns the
// field's schema and expect normalized to the field's canonical type (nil stays nil).
func CheckCompareAndUpdate(entity, field string, expect any, attrs Attrs) (Field, any, error) {
	schema, ok := LookupEntity(entity)
	if !ok {
		return Field{}, nil, fmt.Errorf("unknown entity %q", entity)
	}
	f, ok := schema.Field(field)
	if !ok {
		return Field{}, nil, fmt.Errorf("%s has no field %q", entity, field)
	}
	if f.Type == TypeJSON {
		return Field{}, nil, fmt.Errorf("%s.%s is a json field: a compare-and-swap compares a string, number or boolean field", entity, field)
	}
	want, err := NormalizeAttrs(entity, Attrs{field: expect})
	if err != nil {
		return Field{}, nil, err
	}
	next, ok := attrs[field]
	if !ok {
		return Field{}, nil, fmt.Errorf("a compare-and-swap on %s.%s must set %s", entity, field, field)
	}
	norm, err := NormalizeAttrs(entity, Attrs{field: next})
	if err != nil {
		return Field{}, nil, err
	}
	if norm[field] == want[field] {
		return Field{}, nil, fmt.Errorf("a compare-and-swap on %s.%s must change it (it sets %v, the value it expects)", entity, field, next)
	}
	return f, want[field], nil
}

// FindRecord looks id up in every entity and returns the first record found (ids are UUIDs, unique across
// entities). ErrNotFound when no entity has it.
func FindRecord(ctx context.Context, s Store, id string) (*Record, error) {
	for _, e := range entities {
		r, err := s.Get(ctx, e.Name, id)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("record %s: %w", id, ErrNotFound)
}

// StoreIdentityID is the id of the sandbox_meta record that holds the store's identity.
const StoreIdentityID = "5a4e1f0c-3c2b-4d7e-9f61-8b2a7c9d0e14"

// StoreIdentity returns the store's identity: a UUID written once into the store (the sandbox_meta record
// StoreIdentityID), which Terraform resources keep in private state to tell "my record was deleted from this
// store" (drift) from "this is another store" (a configuration error). "" when the store has none yet; with
// create, one is written first (by whichever of several concurrent writers creates it first).
func StoreIdentity(ctx context.Context, s Store, create bool) (string, error) {
	rec, err := s.Get(ctx, EntityMeta, StoreIdentityID)
	if err == nil {
		return rec.String("value"), nil
	}
	if !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("reading the store identity: %w", err)
	}
	if !create {
		return "", nil
	}
	rec, err = s.Create(ctx, EntityMeta, StoreIdentityID, Attrs{"key": "store-identity", "value": NewID(), "createdAt": time.Now().UnixMilli()})
	if errors.Is(err, ErrConflict) {
		if rec, err = s.Get(ctx, EntityMeta, StoreIdentityID); err == nil {
			return rec.String("value"), nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("writing the store identity: %w", err)
	}
	return rec.String("value"), nil
}
