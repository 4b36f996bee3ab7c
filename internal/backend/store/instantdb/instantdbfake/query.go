package instantdbfake

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// pred matches entities.
type pred func(e *entity) bool

func never(*entity) bool { return false }

// query answers an admin query: {"ns": {"$": {...}}, ...} -> {"ns": [entity, ...], ...}. The admin endpoint
// returns the object tree only, without page info (that exists only on the websocket and SSE paths).
func (s *Server) query(q map[string]any, inference bool) (any, *apiError) {
	out := map[string]any{}
	for _, k := range sortedKeys(q) {
		if k == "$$ruleParams" {
			continue
		}
		form, ok := q[k].(map[string]any)
		if !ok {
			return nil, validationError("query", q, map[string]any{"expected": "map?", "in": []any{k}})
		}
		res, apiErr := s.queryNamespace(q, k, form, nil, inference)
		if apiErr != nil {
			return nil, apiErr
		}
		out[k] = res
	}
	return out, nil
}

// order is a parsed `order` clause.
type order struct {
	key  string // "serverCreatedAt" or an attribute label
	desc bool
	typ  string // checked data type of the attribute
}

var optionKeys = []string{"where", "order", "limit", "first", "last", "offset", "before", "after",
	"beforeInclusive", "afterInclusive", "aggregate", "fields"}

// queryNamespace answers one namespace's form; within (nil at the top) restricts it to the ids linked from
// the parent entity. Keys other than "$" are link labels, answered nested in each entity.
func (s *Server) queryNamespace(root map[string]any, etype string, form map[string]any, within map[string]bool, inference bool) ([]any, *apiError) {
	nested := map[string]map[string]any{}
	for _, k := range sortedKeys(form) {
		if k == "$" {
			continue
		}
		if _, _, _, ok := backend.LinkFrom(etype, k); !ok {
			return nil, unsupported("nested queries of %s.%s: the schema has no such link", etype, k)
		}
		sub, ok := form[k].(map[string]any)
		if !ok {
			return nil, validationError("query", root, map[string]any{"expected": "map?", "in": []any{etype, k}})
		}
		nested[k] = sub
	}
	in := []any{etype, "$"}
	opts := map[string]any{}
	if raw, ok := form["$"]; ok && raw != nil {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, validationError("query", root, map[string]any{"expected": "map?", "in": in})
		}
		opts = m
	}
	for _, k := range sortedKeys(opts) {
		if !slices.Contains(optionKeys, k) {
			return nil, validationError("query", root, map[string]any{
				"expected": "supported-options?", "in": in,
				"message": "We only support `where`, `order`, `limit`, `offset`, `before`, and `after` clauses.",
			})
		}
	}
	for _, k := range []string{"last", "before", "after", "beforeInclusive", "afterInclusive", "aggregate"} {
		if v, ok := opts[k]; ok && v != nil {
			return nil, unsupported("the `%s` query option (the admin query returns no cursors to page with)", k)
		}
	}
	limit, apiErr := intOption(root, in, opts, "limit", 1, "The limit field must be a positive integer. Got %s.")
	if apiErr != nil {
		return nil, apiErr
	}
	first, apiErr := intOption(root, in, opts, "first", 1, "The first field must be a positive integer. Got %s.")
	if apiErr != nil {
		return nil, apiErr
	}
	offset, apiErr := intOption(root, in, opts, "offset", 0, "The offset field must be a non-negative integer. Got %s.")
	if apiErr != nil {
		return nil, apiErr
	}
	if limit >= 0 && first >= 0 {
		return nil, validationError("query", root, map[string]any{
			"expected": "supported-options?", "in": in, "message": "Only provide one of `limit` or `first`.",
		})
	}
	if first >= 0 {
		limit = first
	}
	ord, hasOrder, apiErr := parseOrder(root, in, opts["order"])
	if apiErr != nil {
		return nil, apiErr
	}
	var fields []string
	if raw, ok := opts["fields"]; ok && raw != nil {
		list, ok := raw.([]any)
		if !ok {
			return nil, validationError("query", root, map[string]any{"expected": "coll-of string?", "in": append(in, "fields")})
		}
		for _, f := range list {
			name, ok := f.(string)
			if !ok {
				return nil, validationError("query", root, map[string]any{"expected": "string?", "in": append(in, "fields")})
			}
			fields = append(fields, name)
		}
	}

	c := &compiler{s: s, etype: etype, root: root}
	match := pred(func(*entity) bool { return true })
	if raw, ok := opts["where"]; ok && raw != nil {
		where, ok := raw.(map[string]any)
		if !ok {
			return nil, validationError("query", root, map[string]any{"expected": "map?", "in": append(in, "where")})
		}
		p, apiErr := c.conds(where, append(in, "where"))
		if apiErr != nil {
			return nil, apiErr
		}
		match = p
	}
	// A namespace without an id attribute, or a where on an attribute that does not exist, makes the real
	// server's guarded-where-query fall back to an empty result (before any order checks).
	if _, ok := s.attr(etype, "id"); !ok || c.missing {
		return []any{}, nil
	}
	if hasOrder || limit >= 0 || offset >= 0 {
		if apiErr := s.checkOrder(root, etype, &ord); apiErr != nil {
			return nil, apiErr
		}
	}

	var hits []*entity
	for _, e := range s.data[etype] {
		if match(e) && (within == nil || within[e.id]) {
			hits = append(hits, e)
		}
	}
	slices.SortFunc(hits, func(a, b *entity) int { return compareEntities(a, b, ord) })
	if offset > 0 {
		hits = hits[min(offset, len(hits)):]
	}
	if limit >= 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]any, len(hits))
	for i, e := range hits {
		obj := e.object(fields)
		for _, label := range sortedKeys(nested) {
			_, from, to, _ := backend.LinkFrom(etype, label)
			linked := s.links[linkKey{etype, e.id, label}]
			sub, apiErr := s.queryNamespace(root, to.Entity, nested[label], nonNil(linked), inference)
			if apiErr != nil {
				return nil, apiErr
			}
			switch {
			case inference && from.Has == "one" && len(sub) > 0:
				obj[label] = sub[0]
			case inference && from.Has == "one":
			default:
				obj[label] = sub
			}
		}
		out[i] = obj
	}
	return out, nil
}

func nonNil(m map[string]bool) map[string]bool {
	if m == nil {
		return map[string]bool{}
	}
	return m
}

// intOption reads an integer option; -1 means absent.
func intOption(root any, in []any, opts map[string]any, key string, minimum int64, msg string) (int, *apiError) {
	raw, ok := opts[key]
	if !ok || raw == nil {
		return -1, nil
	}
	bad := validationError("query", root, map[string]any{
		"expected": "supported-options?", "in": append(slices.Clone(in), key), "message": fmt.Sprintf(msg, jsonText(raw)),
	})
	n, ok := raw.(json.Number)
	if !ok {
		return 0, bad
	}
	i, err := n.Int64()
	if err != nil || i < minimum {
		return 0, bad
	}
	return int(i), nil
}

func parseOrder(root any, in []any, raw any) (order, bool, *apiError) {
	def := order{key: "serverCreatedAt"}
	if raw == nil {
		return def, false, nil
	}
	oin := append(slices.Clone(in), "order")
	m, ok := raw.(map[string]any)
	if !ok {
		return def, false, validationError("query", root, map[string]any{"expected": "map?", "in": oin})
	}
	switch len(m) {
	case 0:
		return def, false, nil
	case 1:
	default:
		return def, false, validationError("query", root, map[string]any{
			"expected": "single-key?", "in": oin,
			"message": "We only support a single key in the `order` clause. Got " + strings.Join(sortedKeys(m), ",") + ".",
		})
	}
	k := sortedKeys(m)[0]
	switch m[k] {
	case "asc":
		return order{key: k}, true, nil
	case "desc":
		return order{key: k, desc: true}, true, nil
	}
	return def, false, validationError("query", root, map[string]any{
		"expected": "valid-direction?", "in": append(oin, k),
		"message": fmt.Sprintf("We only support \"asc\" or \"desc\" in the `order` clause. Got %s.", jsonText(m[k])),
	})
}

// checkOrder is page-info-of-form's validation: ordering needs an indexed, typed attribute.
func (s *Server) checkOrder(root any, etype string, o *order) *apiError {
	if o.key == "serverCreatedAt" {
		return nil
	}
	in := []any{etype, "$", "order"}
	def, ok := s.attr(etype, o.key)
	if !ok {
		return validationError("query", root, map[string]any{
			"expected": "supported-order?", "in": in,
			"message": fmt.Sprintf("There is no `%s` attribute for %s.", o.key, etype),
		})
	}
	var errs []map[string]any
	name := etype + "." + o.key
	if !def.indexed {
		errs = append(errs, map[string]any{"expected": "supported-order?", "in": in,
			"message": fmt.Sprintf("The `%s` attribute is not indexed. Only indexed and typed attributes can be used to order by.", name)})
	}
	if def.typ == "" {
		errs = append(errs, map[string]any{"expected": "supported-order?", "in": in,
			"message": fmt.Sprintf("The `%s` attribute is not typed. Only typed and indexed attributes can be used to order by.", name)})
	}
	if len(errs) > 0 {
		return validationError("query", root, errs...)
	}
	o.typ = def.typ
	return nil
}

// compareEntities orders as the server does: by the order value with nulls (missing or null) first when
// ascending and last when descending, ties broken by entity id in the same direction.
func compareEntities(a, b *entity, o order) int {
	var c int
	if o.key == "serverCreatedAt" {
		c = cmp.Compare(a.created, b.created)
	} else {
		c = compareValues(a.attrs[o.key], b.attrs[o.key], o.typ)
	}
	if c == 0 {
		c = strings.Compare(a.id, b.id)
	}
	if o.desc {
		return -c
	}
	return c
}

// compareValues compares two values of a typed attribute; nil (and values of another type) sort first.
func compareValues(a, b any, typ string) int {
	an, bn := a == nil || jsonType(a) != typ, b == nil || jsonType(b) != typ
	switch {
	case an && bn:
		return 0
	case an:
		return -1
	case bn:
		return 1
	}
	switch typ {
	case "number":
		return cmp.Compare(number(a), number(b))
	case "string":
		as, _ := a.(string)
		bs, _ := b.(string)
		return strings.Compare(as, bs)
	case "boolean":
		ab, _ := a.(bool)
		bb, _ := b.(bool)
		switch {
		case ab == bb:
			return 0
		case !ab:
			return -1
		}
		return 1
	}
	return 0
}

func number(v any) float64 {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return 0
		}
		return f
	case float64:
		return n
	case int64:
		return float64(n)
	case int:
		return float64(n)
	}
	return 0
}

// equalValues is jsonb equality for the scalars a where clause can hold: numbers compare numerically.
func equalValues(a, b any) bool {
	if jsonType(a) == "number" && jsonType(b) == "number" {
		return number(a) == number(b)
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}

// compiler turns a where map into a predicate, validating it as db/instaql.clj and attr_pat.clj do.
type compiler struct {
	s       *Server
	etype   string
	root    any
	missing bool // a condition names an attribute the app does not have
}

func (c *compiler) invalid(in []any, expected, msg string) *apiError {
	e := map[string]any{"expected": expected, "in": slices.Clone(in)}
	if msg != "" {
		e["message"] = msg
	}
	return validationError("query", c.root, e)
}

// conds ANDs the entries of a where map.
func (c *compiler) conds(m map[string]any, in []any) (pred, *apiError) {
	var preds []pred
	for _, k := range sortedKeys(m) {
		p, apiErr := c.cond(k, m[k], append(slices.Clone(in), k))
		if apiErr != nil {
			return nil, apiErr
		}
		preds = append(preds, p)
	}
	return func(e *entity) bool {
		for _, p := range preds {
			if !p(e) {
				return false
			}
		}
		return true
	}, nil
}

func (c *compiler) cond(k string, v any, in []any) (pred, *apiError) {
	if k == "or" || k == "and" {
		list, ok := v.([]any)
		if !ok {
			return nil, c.invalid(in, "sequential?", "")
		}
		if len(list) == 0 {
			return nil, c.invalid(in, "non-empty-list?", fmt.Sprintf("The list of `%s` conditions can't be empty.", k))
		}
		var preds []pred
		for i, sub := range list {
			m, ok := sub.(map[string]any)
			if !ok {
				return nil, c.invalid(append(in, i), "map?", "")
			}
			p, apiErr := c.conds(m, append(slices.Clone(in), i))
			if apiErr != nil {
				return nil, apiErr
			}
			preds = append(preds, p)
		}
		isOr := k == "or"
		return func(e *entity) bool {
			for _, p := range preds {
				if p(e) == isOr {
					return isOr
				}
			}
			return !isOr
		}, nil
	}
	if strings.Contains(k, ".") {
		return nil, unsupported("where clauses through links (%q)", k)
	}
	if strings.HasPrefix(k, "$") {
		return nil, unsupported("the %q where key", k)
	}
	def, ok := c.s.attr(c.etype, k)
	if !ok {
		c.missing = true
		return never, nil
	}
	args, isMap := v.(map[string]any)
	if !isMap {
		if !validWhereValue(v) {
			return nil, c.invalid(in, "where-value-valid?",
				fmt.Sprintf("Invalid value for `%s.%s` in the where clause: %s.", c.etype, k, jsonText(v)))
		}
		if apiErr := c.checkTyped(def, k, v, in); apiErr != nil {
			return nil, apiErr
		}
		return func(e *entity) bool { return equalValues(e.attrs[k], v) || c.idMatch(e, k, v) }, nil
	}
	switch len(args) {
	case 0:
		return nil, strict("an empty operator map for `%s.%s`", c.etype, k)
	case 1:
	default:
		return nil, strict("several operators in one map for `%s.%s` (%s): the real server applies only one; use `and`",
			c.etype, k, strings.Join(sortedKeys(args), ", "))
	}
	op := sortedKeys(args)[0]
	arg := args[op]
	name := c.etype + "." + k
	switch op {
	case "$in", "in":
		list, ok := arg.([]any)
		if !ok {
			return nil, c.invalid(append(in, op), "coll-of where-value-valid?", "")
		}
		for _, x := range list {
			if x == nil && !def.indexed {
				return nil, c.invalid(append(in, op), "indexed?", fmt.Sprintf("The `%s` attribute must be indexed to use null in `$in`.", name))
			}
			if x != nil && !validWhereValue(x) {
				return nil, c.invalid(append(in, op), "where-value-valid?", "")
			}
		}
		return func(e *entity) bool {
			for _, x := range list {
				if x == nil && isNull(e, k) || x != nil && (equalValues(e.attrs[k], x) || c.idMatch(e, k, x)) {
					return true
				}
			}
			return false
		}, nil
	case "$not", "$ne":
		if !validWhereValue(arg) {
			return nil, c.invalid(append(in, op), "where-value-valid?", "")
		}
		return func(e *entity) bool { return !equalValues(e.attrs[k], arg) && !c.idMatch(e, k, arg) }, nil
	case "$isNull":
		b, ok := arg.(bool)
		if !ok {
			return nil, c.invalid(append(in, op), "boolean?", "")
		}
		return func(e *entity) bool { return isNull(e, k) == b }, nil
	case "$gt", "$gte", "$lt", "$lte", "$like", "$ilike":
		if apiErr := c.checkComparable(def, name, in); apiErr != nil {
			return nil, apiErr
		}
		if op == "$like" || op == "$ilike" {
			pattern, ok := arg.(string)
			if def.typ != "string" || !ok {
				return nil, c.invalid(append(in, op), "string?",
					fmt.Sprintf("The `%s` attribute must be a string to use `%s` with a string pattern.", name, op))
			}
			re := likeRegexp(pattern, op == "$ilike")
			return func(e *entity) bool {
				s, ok := e.attrs[k].(string)
				return ok && re.MatchString(s)
			}, nil
		}
		if apiErr := c.checkTyped(def, k, arg, append(in, op)); apiErr != nil {
			return nil, apiErr
		}
		return func(e *entity) bool {
			v, ok := e.attrs[k]
			if !ok || v == nil || jsonType(v) != def.typ {
				return false
			}
			r := compareValues(v, arg, def.typ)
			switch op {
			case "$gt":
				return r > 0
			case "$gte":
				return r >= 0
			case "$lt":
				return r < 0
			}
			return r <= 0
		}, nil
	}
	return nil, c.invalid(append(in, op), "where-value-valid-keys?",
		fmt.Sprintf("Unknown operator `%s` for `%s`.", op, name))
}

// idMatch compares the entity id for `id` conditions.
func (c *compiler) idMatch(e *entity, k string, v any) bool {
	if k != "id" {
		return false
	}
	s, ok := v.(string)
	return ok && s == e.id
}

func isNull(e *entity, k string) bool {
	if k == "id" {
		return false
	}
	v, ok := e.attrs[k]
	return !ok || v == nil
}

// checkComparable is attr_pat.clj's assert-checked-attr-data-type!: comparisons need an indexed, typed attribute.
func (c *compiler) checkComparable(def attrDef, name string, in []any) *apiError {
	if !def.indexed {
		return c.invalid(in, "indexed?", fmt.Sprintf("The `%s` attribute must be indexed to use comparison operators.", name))
	}
	if def.typ == "" {
		return c.invalid(in, "checked-data-type?", fmt.Sprintf("The `%s` attribute must have an enforced type to use comparison operators.", name))
	}
	return nil
}

// checkTyped rejects a value whose type differs from an indexed, typed attribute's type (the server coerces
// values for those and fails on a mismatch).
func (c *compiler) checkTyped(def attrDef, k string, v any, in []any) *apiError {
	if !def.indexed || def.typ == "" || jsonType(v) == def.typ {
		return nil
	}
	return c.invalid(in, def.typ+"?", fmt.Sprintf("The data type of `%s.%s` is `%s`, but the query got value `%s` of type `%s`.",
		c.etype, k, def.typ, jsonText(v), jsonType(v)))
}

func validWhereValue(v any) bool {
	switch v.(type) {
	case string, json.Number, bool:
		return true
	}
	return false
}

// likeRegexp translates a SQL LIKE pattern (% and _ wildcards).
func likeRegexp(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	if fold {
		b.WriteString("(?is)")
	} else {
		b.WriteString("(?s)")
	}
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
