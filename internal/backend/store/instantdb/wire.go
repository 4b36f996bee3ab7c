package instantdb

import (
	"encoding/json"
	"fmt"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// The admin API's request and response bodies, as @instantdb/admin 1.0.67 sends them and the server's
// admin/routes.clj reads them.

// transactRequest is the body of POST /admin/transact.
type transactRequest struct {
	Steps []txStep `json:"steps"`
	// ThrowOnMissingAttrs makes the server reject attributes its schema lacks instead of creating them
	// untyped and unindexed (which would later break ordered and compared queries).
	ThrowOnMissingAttrs bool `json:"throw-on-missing-attrs?"`
}

// transactResponse is the 200 body of POST /admin/transact.
type transactResponse struct {
	TxID json.Number `json:"tx-id"`
}

// Step actions the store sends.
const (
	actionCreate = "create"
	actionUpdate = "update"
	actionDelete = "delete"
)

// txStep is one transaction step, sent as the JSON array [action, etype, id, args?, opts?].
type txStep struct {
	Action string
	Etype  string
	ID     string
	Args   map[string]any // create and update; nil for delete
	Opts   *updateOpts    // update only
}

// updateOpts are the options of an update step; {"upsert": false} is a strict update, which fails when
// the entity does not exist.
type updateOpts struct {
	Upsert bool `json:"upsert"`
}

// MarshalJSON encodes the step as the array the server expects.
func (s txStep) MarshalJSON() ([]byte, error) {
	arr := []any{s.Action, s.Etype, s.ID}
	if s.Action != actionDelete {
		args := s.Args
		if args == nil {
			args = map[string]any{}
		}
		arr = append(arr, args)
		if s.Opts != nil {
			arr = append(arr, s.Opts)
		}
	}
	return json.Marshal(arr)
}

// queryRequest is the body of POST /admin/query.
type queryRequest struct {
	Query map[string]nsQuery `json:"query"`
	// Inference asks for cardinality inference on links; the store reads no links.
	Inference bool `json:"inference?"`
}

// nsQuery is the query of one namespace: only the "$" options, no nested link queries.
type nsQuery struct {
	Opts queryOpts `json:"$"`
}

// queryOpts are InstaQL's "$" options the store uses.
type queryOpts struct {
	Where  map[string]any    `json:"where,omitempty"`
	Order  map[string]string `json:"order,omitempty"`
	Limit  int               `json:"limit,omitempty"`
	Offset int               `json:"offset,omitempty"`
}

// queryResponse is the 200 body of POST /admin/query: each namespace's entities, in order.
type queryResponse map[string][]json.RawMessage

// errorBody is the server's error body (util/http.clj wrap-errors): {"type", "message", "hint", "trace-id"}.
type errorBody struct {
	Type    string          `json:"type"`
	Message string          `json:"message"`
	Hint    json.RawMessage `json:"hint"`
	TraceID string          `json:"trace-id"`
}

// errorHint holds the hint fields the store reads. Other hint fields (notably "args" and "input", which can
// echo the request and the admin token) are never shown.
type errorHint struct {
	RecordType string `json:"record-type"`
	Message    string `json:"message"`
	In         []any  `json:"in"`
}

// decodeRecord turns one entity of a query answer into a record. Numbers are normalized as the Store
// contract wants (int64 when integral); null attributes are unset; attributes the schema does not know
// (the library's own extras, such as sandboxUserId) are left out, so that every store returns the same
// fields.
func decodeRecord(entity string, raw json.RawMessage) (*backend.Record, error) {
	v, err := backend.DecodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("instantdb query: decoding a %s entity: %w", entity, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("instantdb query: a %s entity is a %T, not an object", entity, v)
	}
	id, _ := m["id"].(string)
	if id == "" {
		return nil, fmt.Errorf("instantdb query: a %s entity has no id", entity)
	}
	schema, _ := backend.LookupEntity(entity)
	attrs := backend.Attrs{}
	for k, val := range m {
		if k == "id" || val == nil {
			continue
		}
		if _, ok := schema.Field(k); !ok {
			continue
		}
		attrs[k] = val
	}
	return &backend.Record{ID: id, Entity: entity, Attrs: attrs}, nil
}

// actionLink links an entity to others: ["link", etype, id, {label: id}].
const actionLink = "link"

// linkSteps are the "link" steps that go with a record written with these attributes: one per link of the
// schema (backend.Links) whose Field the record sets to a record id, so that the library's linked queries
// (sandbox_sandboxes { processes {} }) see it. They go in the record's own transaction.
func linkSteps(entity, id string, args backend.Attrs) []txStep {
	var out []txStep
	for _, l := range backend.Links() {
		if l.Forward.Entity != entity {
			continue
		}
		if target, _ := args[l.Field].(string); backend.ValidID(target) {
			out = append(out, txStep{Action: actionLink, Etype: entity, ID: id, Args: map[string]any{l.Forward.Label: target}})
		}
	}
	return out
}
