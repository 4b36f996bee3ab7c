package instantdbfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// step is one parsed admin transaction step (admin/model.clj ::op).
type step struct {
	links  map[string][]string // link and unlink: label -> ids
	idx    int
	action string
	etype  string
	id     string
	args   map[string]any
	upsert *bool // update/merge opts {"upsert": bool}; nil = default (upsert)
}

// mode is the write mode transaction/validate-mode checks: "create" (the id must not exist before the
// transaction), "update" (it must exist) or "" (upsert).
func (st step) mode() string {
	switch {
	case st.action == "create":
		return "create"
	case (st.action == "update" || st.action == "merge") && st.upsert != nil && !*st.upsert:
		return "update"
	}
	return ""
}

// transact validates every step before writing anything, so a failing transaction changes nothing, as the
// real one (a single Postgres transaction) does.
func (s *Server) transact(raw any, throwOnMissing bool) (any, *apiError) {
	list, ok := raw.([]any)
	if !ok {
		return nil, validationError("steps", raw, map[string]any{"expected": "coll-of ::op", "in": []any{}})
	}
	steps := make([]step, 0, len(list))
	for i, r := range list {
		st, apiErr := parseStep(i, r, list)
		if apiErr != nil {
			return nil, apiErr
		}
		steps = append(steps, st)
	}

	// Attributes: missing ones are an error with throw-on-missing-attrs? (the client sets it when it has a
	// schema); otherwise the server creates them, unindexed and untyped.
	var missing []string
	created := map[string]map[string]bool{}
	for _, st := range steps {
		if st.args == nil || !slices.Contains([]string{"create", "update", "merge"}, st.action) {
			continue
		}
		labels := append([]string{"id"}, sortedKeys(st.args)...)
		for _, label := range labels {
			if _, ok := s.attr(st.etype, label); ok || created[st.etype][label] {
				continue
			}
			if created[st.etype] == nil {
				created[st.etype] = map[string]bool{}
			}
			created[st.etype][label] = true
			missing = append(missing, st.etype+"."+label)
		}
	}
	if throwOnMissing && len(missing) > 0 {
		return nil, validationError("steps", list, map[string]any{
			"message": "Attributes are missing in your schema",
			"hint":    map[string]any{"attributes": missing},
		})
	}

	// transaction/validate-mode, against the state before the transaction.
	var existing, absent []string
	var existingSteps, absentSteps []any
	for _, st := range steps {
		switch st.mode() {
		case "create":
			if s.exists(st.id) {
				existing = append(existing, st.id)
				existingSteps = append(existingSteps, []any{"add-triple", st.id, "id", st.id, map[string]any{"mode": "create"}})
			}
		case "update":
			if !s.exists(st.id) {
				absent = append(absent, st.id)
				absentSteps = append(absentSteps, []any{"add-triple", st.id, "id", st.id, map[string]any{"mode": "update"}})
			}
		}
	}
	if len(existing) > 0 {
		return nil, validationError("tx-step", existingSteps, map[string]any{
			"message": "Creating entities that exist: " + strings.Join(existing, ", "),
		})
	}
	if len(absent) > 0 {
		return nil, validationError("tx-step", absentSteps, map[string]any{
			"message": "Updating entities that don't exist: " + strings.Join(absent, ", "),
		})
	}

	// Checked data types (i.string(), i.number(), i.boolean()): the triples table's valid_value_data_type
	// constraint rejects a value of another type when the transaction writes, after validate-mode, and
	// util/exception.clj turns that into this validation error.
	for _, st := range steps {
		for _, label := range sortedKeys(st.args) {
			def, ok := s.attr(st.etype, label)
			v := st.args[label]
			if !ok || def.typ == "" || v == nil || jsonType(v) == def.typ {
				continue
			}
			return nil, instantError(http.StatusBadRequest, "validation-failed",
				fmt.Sprintf("Invalid value type for %s.%s. Value must be a %s but the provided value type is %s.",
					st.etype, label, def.typ, jsonType(v)),
				map[string]any{
					"namespace": st.etype, "attribute": label, "value": v,
					"checked-data-type": def.typ, "entity-id": st.id,
				})
		}
	}

	for etype, labels := range created {
		if s.dynamic[etype] == nil {
			s.dynamic[etype] = map[string]attrDef{}
		}
		for label := range labels {
			s.dynamic[etype][label] = attrDef{}
		}
	}
	for _, st := range steps {
		s.apply(st)
	}
	s.txID++
	return map[string]any{"tx-id": s.txID}, nil
}

func (s *Server) apply(st step) {
	switch st.action {
	case "create", "update", "merge":
		ents := s.data[st.etype]
		if ents == nil {
			ents = map[string]*entity{}
			s.data[st.etype] = ents
		}
		e := ents[st.id]
		if e == nil {
			s.seq++
			e = &entity{id: st.id, created: s.seq, attrs: map[string]any{}}
			ents[st.id] = e
		}
		for k, v := range st.args {
			if st.action == "merge" {
				e.attrs[k] = deepMerge(e.attrs[k], v)
			} else {
				e.attrs[k] = deepCopy(v)
			}
		}
	case "delete":
		delete(s.data[st.etype], st.id)
		s.dropLinks(st.etype, st.id)
	case "link", "unlink":
		for label, ids := range st.links {
			_, from, to, _ := backend.LinkFrom(st.etype, label)
			for _, id := range ids {
				if st.action == "unlink" {
					s.unlinkPair(from, st.id, to, id)
					continue
				}
				// A has-"one" side keeps one link: linking anew replaces the old one.
				if from.Has == "one" {
					for old := range s.links[linkKey{from.Entity, st.id, from.Label}] {
						s.unlinkPair(from, st.id, to, old)
					}
				}
				if to.Has == "one" {
					for old := range s.links[linkKey{to.Entity, id, to.Label}] {
						s.unlinkPair(to, id, from, old)
					}
				}
				s.addLink(linkKey{from.Entity, st.id, from.Label}, id)
				s.addLink(linkKey{to.Entity, id, to.Label}, st.id)
			}
		}
	}
}

// linkKey is one side of the links of an entity: its namespace, id and the label.
type linkKey struct{ etype, id, label string }

func (s *Server) addLink(k linkKey, id string) {
	if s.links[k] == nil {
		s.links[k] = map[string]bool{}
	}
	s.links[k][id] = true
}

// unlinkPair removes the link between (from, id) and (to, other), on both sides.
func (s *Server) unlinkPair(from backend.LinkSide, id string, to backend.LinkSide, other string) {
	delete(s.links[linkKey{from.Entity, id, from.Label}], other)
	delete(s.links[linkKey{to.Entity, other, to.Label}], id)
}

// dropLinks removes every link of a deleted entity, on both sides.
func (s *Server) dropLinks(etype, id string) {
	for _, l := range backend.Links() {
		for _, side := range [][2]backend.LinkSide{{l.Forward, l.Reverse}, {l.Reverse, l.Forward}} {
			if side[0].Entity != etype {
				continue
			}
			for other := range s.links[linkKey{etype, id, side[0].Label}] {
				s.unlinkPair(side[0], id, side[1], other)
			}
		}
	}
}

// deepMerge is the merge action: objects merge key by key, a null removes a key, anything else replaces.
func deepMerge(old, v any) any {
	om, ok1 := old.(map[string]any)
	nm, ok2 := v.(map[string]any)
	if !ok1 || !ok2 {
		return deepCopy(v)
	}
	out := make(map[string]any, len(om))
	for k, ov := range om {
		out[k] = deepCopy(ov)
	}
	for k, nv := range nm {
		if nv == nil {
			delete(out, k)
			continue
		}
		out[k] = deepMerge(out[k], nv)
	}
	return out
}

// jsonType names the JSON type of a decoded value as the checked data types do.
func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number, float64, int, int64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// parseStep checks one step against the admin/model.clj spec and returns it parsed.
func parseStep(i int, raw any, all []any) (step, *apiError) {
	specErr := func(expected string, pos ...any) *apiError {
		return validationError("steps", all, map[string]any{"expected": expected, "in": append([]any{i}, pos...)})
	}
	arr, ok := raw.([]any)
	if !ok || len(arr) == 0 {
		return step{}, specErr("sequential?")
	}
	action, ok := arr[0].(string)
	if !ok {
		return step{}, specErr("string?", 0)
	}
	st := step{idx: i, action: action}
	switch action {
	case "add-attr", "update-attr", "delete-attr":
		return step{}, unsupported("the %q action", action)
	case "create", "update", "merge", "link", "unlink", "delete", "ruleParams":
	default:
		return step{}, specErr(`#{"create" "update" "merge" "link" "unlink" "delete" "ruleParams" "add-attr" "update-attr" "delete-attr"}`, 0)
	}
	if len(arr) < 3 {
		return step{}, specErr("(cat :etype string? :eid ::lookup ...)")
	}
	if st.etype, ok = arr[1].(string); !ok {
		return step{}, specErr("string?", 1)
	}
	id, apiErr := parseEID(i, arr[2], all)
	if apiErr != nil {
		return step{}, apiErr
	}
	st.id = id
	switch action {
	case "delete":
		return st, nil // anything after the id is ignored
	case "create", "ruleParams", "link", "unlink":
		if len(arr) != 4 {
			return step{}, specErr("(cat :etype string? :eid ::lookup :args map?)")
		}
	case "update", "merge":
		if len(arr) != 4 && len(arr) != 5 {
			return step{}, specErr("(cat :etype string? :eid ::lookup :args map? :opts (? ::update-opts))")
		}
	}
	args, ok := arr[3].(map[string]any)
	if !ok {
		return step{}, specErr("map?", 3)
	}
	if action == "link" || action == "unlink" {
		st.links = map[string][]string{}
		for _, label := range sortedKeys(args) {
			if _, _, _, ok := backend.LinkFrom(st.etype, label); !ok {
				return step{}, validationError("steps", all, map[string]any{
					"message": "Attributes are missing in your schema",
					"hint":    map[string]any{"attributes": []any{st.etype + "." + label}},
				})
			}
			var ids []any
			switch v := args[label].(type) {
			case string:
				ids = []any{v}
			case []any:
				ids = v
			default:
				return step{}, specErr("(or ::lookup (coll-of ::lookup))", 3, label)
			}
			for _, raw := range ids {
				id, apiErr := parseEID(i, raw, all)
				if apiErr != nil {
					return step{}, apiErr
				}
				st.links[label] = append(st.links[label], id)
			}
		}
		return st, nil
	}
	if len(arr) == 5 && arr[4] != nil {
		opts, ok := arr[4].(map[string]any)
		if !ok {
			return step{}, specErr("(nilable (keys :opt-un [::upsert]))", 4)
		}
		if u, ok := opts["upsert"]; ok && u != nil {
			b, ok := u.(bool)
			if !ok {
				return step{}, specErr("(nilable boolean?)", 4, "upsert")
			}
			st.upsert = &b
		}
	}
	// remove-id-from-step: an "id" key in the attributes is dropped.
	st.args = make(map[string]any, len(args))
	for k, v := range args {
		if k != "id" {
			st.args[k] = v
		}
	}
	if action == "ruleParams" {
		st.args = nil
	}
	return st, nil
}

// parseEID accepts a UUID string; lookup refs are valid for the real server but not modeled here.
func parseEID(i int, raw any, all []any) (string, *apiError) {
	switch v := raw.(type) {
	case string:
		if strings.HasPrefix(v, "lookup__") {
			return "", unsupported("lookup refs")
		}
		if id, ok := canonicalUUID(v); ok {
			return id, nil
		}
	case []any, map[string]any:
		return "", unsupported("lookup refs")
	}
	msg := fmt.Sprintf("Invalid entity ID '%s'. Entity IDs must be UUIDs or lookup references.", strings.Trim(jsonText(raw), `"`))
	return "", validationError("steps", all, map[string]any{"message": msg, "in": []any{i, 2}})
}
