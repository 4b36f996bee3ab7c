package storetest_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// memStore is a reference in-memory backend.Store: the simplest store that passes the suite. It filters
// queries in Go, which a real store must not do, and is here only to test the suite itself. Its bugs field
// switches on deliberate bugs, each of which the suite must catch (see TestSuiteCatchesBugs).
type memStore struct {
	mu      sync.Mutex
	casMu   sync.Mutex                          // held over a CompareAndUpdate's check and write
	records map[string]map[string]backend.Attrs // entity -> id -> attributes
	bugs    map[string]bool
}

func newMemStore(bugs ...string) *memStore {
	s := &memStore{records: map[string]map[string]backend.Attrs{}, bugs: map[string]bool{}}
	for _, e := range backend.EntityNames() {
		s.records[e] = map[string]backend.Attrs{}
	}
	for _, b := range bugs {
		s.bugs[b] = true
	}
	return s
}

func (s *memStore) Kind() string { return "memory" }

func (s *memStore) Close() error { return nil }

// record returns a copy of the stored attributes as a record.
func (s *memStore) record(entity, id string, attrs backend.Attrs) *backend.Record {
	out := backend.Attrs{}
	for k, v := range attrs {
		if s.bugs["float_numbers"] {
			if n, ok := v.(int64); ok {
				v = float64(n)
			}
		}
		out[k] = deepCopy(v)
	}
	if s.bugs["nil_fields"] {
		schema, _ := backend.LookupEntity(entity)
		for _, f := range schema.Fields {
			if _, ok := out[f.Name]; !ok {
				out[f.Name] = nil
			}
		}
	}
	return &backend.Record{ID: id, Entity: entity, Attrs: out}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

func (s *memStore) normalize(entity string, attrs backend.Attrs) (backend.Attrs, error) {
	if s.bugs["ignore_unknown_fields"] {
		schema, _ := backend.LookupEntity(entity)
		kept := backend.Attrs{}
		for k, v := range attrs {
			if _, ok := schema.Field(k); ok {
				kept[k] = v
			}
		}
		attrs = kept
	}
	norm, err := backend.NormalizeAttrs(entity, attrs)
	if err != nil {
		return nil, err
	}
	for k, v := range norm {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return nil, fmt.Errorf("%s.%s: %v is not a JSON number", entity, k, f)
		}
	}
	return norm, nil
}

func (s *memStore) table(entity string) (map[string]backend.Attrs, error) {
	t, ok := s.records[entity]
	if !ok {
		return nil, fmt.Errorf("unknown entity %q", entity)
	}
	return t, nil
}

func (s *memStore) Create(_ context.Context, entity, id string, attrs backend.Attrs) (*backend.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(entity)
	if err != nil {
		return nil, err
	}
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("create %s %q: not a UUID", entity, id)
	}
	norm, err := s.normalize(entity, attrs)
	if err != nil {
		return nil, err
	}
	if _, ok := t[id]; ok && !s.bugs["no_conflict"] {
		return nil, fmt.Errorf("create %s %s: %w", entity, id, backend.ErrConflict)
	}
	stored := backend.Attrs{}
	for k, v := range norm {
		if v != nil {
			stored[k] = v
		}
	}
	t[id] = stored
	return s.record(entity, id, stored), nil
}

func (s *memStore) Get(_ context.Context, entity, id string) (*backend.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.get(entity, id)
}

func (s *memStore) get(entity, id string) (*backend.Record, error) {
	if s.bugs["cross_entity"] {
		for e, t := range s.records {
			if a, ok := t[id]; ok {
				return s.record(e, id, a), nil
			}
		}
	}
	t, err := s.table(entity)
	if err != nil {
		return nil, err
	}
	a, ok := t[id]
	if !ok {
		if s.bugs["plain_not_found"] {
			return nil, errors.New("record not found")
		}
		return nil, fmt.Errorf("get %s %s: %w", entity, id, backend.ErrNotFound)
	}
	return s.record(entity, id, a), nil
}

func (s *memStore) Update(_ context.Context, entity, id string, attrs backend.Attrs) (*backend.Record, error) {
	norm, err := s.normalize(entity, attrs)
	if err != nil {
		return nil, err
	}
	if s.bugs["lost_update"] {
		// Read, then write the whole record back later without holding the lock in between.
		s.mu.Lock()
		cur, err := s.get(entity, id)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
		next := maps.Clone(cur.Attrs)
		for k, v := range norm {
			if v == nil {
				delete(next, k)
			} else {
				next[k] = v
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.records[entity][id] = next
		return s.record(entity, id, next), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(entity)
	if err != nil {
		return nil, err
	}
	a, ok := t[id]
	if !ok {
		return nil, fmt.Errorf("update %s %s: %w", entity, id, backend.ErrNotFound)
	}
	if s.bugs["update_replaces"] {
		a = backend.Attrs{}
		t[id] = a
	}
	for k, v := range norm {
		if v == nil {
			delete(a, k)
		} else {
			a[k] = v
		}
	}
	return s.record(entity, id, a), nil
}

func (s *memStore) CompareAndUpdate(ctx context.Context, entity, id, field string, expect any, attrs backend.Attrs) (*backend.Record, error) {
	_, want, err := backend.CheckCompareAndUpdate(entity, field, expect, attrs)
	if err != nil {
		return nil, err
	}
	check := func() error {
		t, err := s.table(entity)
		if err != nil {
			return err
		}
		a, ok := t[id]
		if !ok {
			return fmt.Errorf("compare-and-update %s %s: %w", entity, id, backend.ErrNotFound)
		}
		if a[field] != want {
			return fmt.Errorf("compare-and-update %s %s: %w", entity, id, backend.ErrStale)
		}
		return nil
	}
	if s.bugs["cas_not_atomic"] {
		s.mu.Lock()
		err := check()
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
		return s.Update(ctx, entity, id, attrs)
	}
	s.casMu.Lock()
	defer s.casMu.Unlock()
	s.mu.Lock()
	err = check()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.Update(ctx, entity, id, attrs)
}

func (s *memStore) Delete(_ context.Context, entity, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(entity)
	if err != nil {
		return err
	}
	delete(t, id)
	return nil
}

func (s *memStore) Query(_ context.Context, q backend.Query) ([]*backend.Record, error) {
	if !s.bugs["no_validate"] {
		if err := q.Validate(); err != nil {
			return nil, err
		}
	}
	schema, ok := backend.LookupEntity(q.Entity)
	if !ok {
		return nil, fmt.Errorf("unknown entity %q", q.Entity)
	}
	conds := make([]backend.Cond, len(q.Where))
	for i, c := range q.Where {
		norm, err := s.normalize(q.Entity, backend.Attrs{c.Field: c.Value})
		if err != nil || norm[c.Field] == nil {
			return nil, fmt.Errorf("condition on %s: bad value %v: %w", c.Field, c.Value, err)
		}
		conds[i] = backend.Cond{Field: c.Field, Op: c.Op, Value: norm[c.Field]}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*backend.Record
	if !s.bugs["nil_empty_query"] {
		out = []*backend.Record{}
	}
	for id, a := range s.records[q.Entity] {
		if matches(a, conds) {
			out = append(out, s.record(q.Entity, id, a))
		}
	}
	order := q.OrderBy
	if order == "" && !s.bugs["no_default_order"] {
		order = "id"
		if _, ok := schema.Field("createdAt"); ok {
			order = "createdAt"
		}
	}
	slices.SortStableFunc(out, func(a, b *backend.Record) int {
		c := compare(a, b, order)
		if q.Desc && !s.bugs["ignore_desc"] {
			c = -c
		}
		return c
	})
	if q.Limit > 0 && len(out) > q.Limit && !s.bugs["ignore_limit"] {
		out = out[:q.Limit]
	}
	return out, nil
}

func matches(a backend.Attrs, conds []backend.Cond) bool {
	for _, c := range conds {
		v, ok := a[c.Field]
		if !ok {
			return false
		}
		switch c.Op {
		case backend.OpEq:
			if !equal(v, c.Value) {
				return false
			}
		case backend.OpLt:
			if !(number(v) < number(c.Value)) {
				return false
			}
		case backend.OpGt:
			if !(number(v) > number(c.Value)) {
				return false
			}
		}
	}
	return true
}

func equal(a, b any) bool {
	if na, ok := a.(int64); ok {
		return float64(na) == number(b)
	}
	if fa, ok := a.(float64); ok {
		return fa == number(b)
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func number(v any) float64 {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return math.NaN()
}

func compare(a, b *backend.Record, field string) int {
	if field == "" {
		return 0
	}
	if field == "id" {
		return cmp.Compare(a.ID, b.ID)
	}
	va, vb := a.Attrs[field], b.Attrs[field]
	if sa, ok := va.(string); ok {
		sb, _ := vb.(string)
		return cmp.Compare(sa, sb)
	}
	return cmp.Compare(number(va), number(vb))
}
