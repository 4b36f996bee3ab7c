// Package instantdbfake is an in-process fake of the InstantDB admin HTTP API: POST /admin/query and
// POST /admin/transact, the two endpoints the instantdb record store uses. It keeps data in memory and is
// strict: it enforces what the real server enforces (headers, admin token, body shapes, UUID entity ids,
// create-over-existing and strict-update-over-missing errors, indexed and typed attributes for comparisons
// and ordering) and answers with the real server's error bodies, so that a client that passes against the
// fake fails against the real service for no reason this package could have caught.
//
// Facts come from the InstantDB server source (instantdb/instant, server/src/instant/admin/routes.clj,
// admin/model.clj, db/instaql.clj, db/transaction.clj, util/http.clj, util/exception.clj) and the official
// client @instantdb/admin 1.0.67. Where the fake is stricter than the real server, or does not model a
// feature (lookup refs, cursors, aggregates, impersonation), it answers 400 with type
// "fake-unsupported" or "fake-strict" and a message saying so, never silently.
//
// The attribute schema (which attributes exist, which are indexed and typed) is backend.Entities(), and the
// links are backend.Links(): the schema that instantdb.SchemaTS renders for `instant-cli push schema`. Links
// are modelled as the server keeps them: "link" and "unlink" steps on a label of either side (a label the
// schema does not declare is a missing attribute), a has-"one" side replaced by a new link, both sides
// removed with a deleted entity, and nested queries ({"sandbox_sandboxes": {"processes": {}}}) answering the
// linked entities as arrays, or for a has-"one" label with "inference?" (a client with a schema) as an object.
package instantdbfake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
	"github.com/google/uuid"
)

// Endpoint paths the fake serves.
const (
	EndpointQuery    = "/admin/query"
	EndpointTransact = "/admin/transact"
)

// Routes of the endpoints, as a harness.Fault names them.
const (
	RouteQuery    = "POST " + EndpointQuery
	RouteTransact = "POST " + EndpointTransact
)

// maxBody bounds request bodies; the real server has its own limits, far above what tests send.
const maxBody = 32 << 20

// Request is one request as the fake received it.
type Request struct {
	Endpoint string
	Query    string // the raw URL query
	Header   http.Header
	Body     []byte
}

// Server is a running fake. Use New to start one and Close to stop it.
type Server struct {
	ts        *httptest.Server
	appID     string
	token     string
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	faults   harness.Set
	counts   map[string]int
	requests []Request
	schema   map[string]map[string]attrDef // etype -> label -> definition, from backend.Entities()
	dynamic  map[string]map[string]attrDef // attributes created on the fly by schemaless transactions
	data     map[string]map[string]*entity // etype -> id -> entity
	links    map[linkKey]map[string]bool   // (etype, id, label) -> linked ids, both sides of every link
	seq      int64                         // serverCreatedAt clock
	txID     int64
}

// attrDef is what the fake knows about an attribute: whether it is indexed and its checked data type
// ("string", "number", "boolean"; "" for i.json() and attributes created without a schema).
type attrDef struct {
	indexed bool
	typ     string
}

type entity struct {
	id      string
	created int64
	attrs   map[string]any // values as decoded with json.Decoder.UseNumber; an explicit null is kept as nil
}

// New starts a fake for one app. appID and adminToken must be UUIDs, as real app ids and admin tokens are;
// New panics otherwise, since a fake that no request could authenticate against is a bug in the test.
func New(appID, adminToken string) *Server {
	id, ok := canonicalUUID(appID)
	if !ok {
		panic(fmt.Sprintf("instantdbfake.New: app id %q is not a UUID", appID))
	}
	tok, ok := canonicalUUID(adminToken)
	if !ok {
		panic("instantdbfake.New: the admin token is not a UUID (real InstantDB admin tokens are)")
	}
	s := &Server{
		appID:   id,
		token:   tok,
		closing: make(chan struct{}),
		counts:  map[string]int{},
		schema:  map[string]map[string]attrDef{},
		dynamic: map[string]map[string]attrDef{},
		links:   map[linkKey]map[string]bool{},
		data:    map[string]map[string]*entity{},
	}
	for _, e := range backend.Entities() {
		defs := map[string]attrDef{}
		for _, f := range e.Fields {
			defs[f.Name] = attrDef{indexed: f.Indexed, typ: checkedType(f.Type)}
		}
		s.schema[e.Name] = defs
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

func checkedType(t backend.FieldType) string {
	switch t {
	case backend.TypeString:
		return "string"
	case backend.TypeNumber:
		return "number"
	case backend.TypeBoolean:
		return "boolean"
	}
	return ""
}

// URL is the base URL to give clients as their API URL (apiURI for @instantdb/admin).
func (s *Server) URL() string { return s.ts.URL }

// AppID returns the app id the fake serves.
func (s *Server) AppID() string { return s.appID }

// Close stops the server. Requests waiting in a Fault delay are released.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.ts.Close()
}

// Faults is the fake's fault list: RouteQuery and RouteTransact name the routes. A fault's default body is
// the real server's error body for its status (JSON for 4xx and 500, a plain-text proxy page for 502, 503
// and 504); AfterApply commits a transaction and then answers the status, as when a proxy times out.
func (s *Server) Faults() *harness.Set { return &s.faults }

// Count returns how many requests reached endpoint (EndpointQuery or EndpointTransact), faulted ones included.
func (s *Server) Count(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[endpoint]
}

// Requests returns a copy of every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = Request{Endpoint: r.Endpoint, Query: r.Query, Header: r.Header.Clone(), Body: bytes.Clone(r.Body)}
	}
	return out
}

// ResetRequests forgets the request log and the counters (data and pending faults are kept).
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.counts = map[string]int{}
}

// Dump returns the stored entities of etype by id. Each map holds "id" and every attribute as the real
// server would return it (numbers as json.Number, explicit nulls as nil).
func (s *Server) Dump(etype string) map[string]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]any{}
	for id, e := range s.data[etype] {
		out[id] = e.object(nil)
	}
	return out
}

// object renders e as the admin query renders an entity: "id" plus its attributes, optionally only fields.
func (e *entity) object(fields []string) map[string]any {
	m := map[string]any{"id": e.id}
	for k, v := range e.attrs {
		if fields != nil && !slices.Contains(fields, k) {
			continue
		}
		m[k] = deepCopy(v)
	}
	return m
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
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// apiError is an error answer: the HTTP status and the JSON body (or, when text is set, a plain-text body).
type apiError struct {
	status int
	body   map[string]any
	text   string
}

func (e *apiError) write(w http.ResponseWriter) {
	if e.text != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(e.status)
		_, _ = io.WriteString(w, e.text)
		return
	}
	writeJSON(w, e.status, e.body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = fmt.Fprintf(w, "instantdbfake: encoding the response: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func traceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// instantError builds the body util/http.clj's wrap-errors sends for an instant exception:
// {"type", "message", "hint", "trace-id"}.
func instantError(status int, typ, message string, hint any) *apiError {
	return &apiError{status: status, body: map[string]any{
		"type":     typ,
		"message":  message,
		"hint":     hint,
		"trace-id": traceID(),
	}}
}

// validationError is ex/throw-validation-err!: "Validation failed for <input-type>[: <error messages>]".
func validationError(inputType string, input any, errs ...map[string]any) *apiError {
	msg := "Validation failed for " + inputType
	var parts []string
	for _, e := range errs {
		if m, ok := e["message"].(string); ok && m != "" {
			parts = append(parts, m)
		}
	}
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, ", ")
	}
	if errs == nil {
		errs = []map[string]any{}
	}
	return instantError(http.StatusBadRequest, "validation-failed", msg, map[string]any{
		"data-type": inputType,
		"input":     input,
		"errors":    errs,
	})
}

// unsupported reports a request the real server may accept but the fake does not model.
func unsupported(format string, args ...any) *apiError {
	return instantError(http.StatusBadRequest, "fake-unsupported",
		"instantdbfake: "+fmt.Sprintf(format, args...)+" (not modeled by the fake)", nil)
}

// strict reports a request the real server accepts but that is almost certainly a client bug.
func strict(format string, args ...any) *apiError {
	return instantError(http.StatusBadRequest, "fake-strict", "instantdbfake: "+fmt.Sprintf(format, args...), nil)
}

func paramMissing(in ...any) *apiError {
	return instantError(http.StatusBadRequest, "param-missing",
		fmt.Sprintf("Missing parameter: %s", ednPath(in)), map[string]any{"in": in})
}

func paramMalformed(original any, in ...any) *apiError {
	return instantError(http.StatusBadRequest, "param-malformed",
		fmt.Sprintf("Malformed parameter: %s", ednPath(in)), map[string]any{"in": in, "original-input": original})
}

// ednPath prints a key path as Clojure prints a vector of strings: ["headers" "app-id"].
func ednPath(in []any) string {
	parts := make([]string, len(in))
	for i, p := range in {
		parts[i] = strconv.Quote(fmt.Sprint(p))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// defaultFaultBody is the body a real deployment answers with for status.
func defaultFaultBody(status int, appID string) *apiError {
	switch {
	case status == http.StatusTooManyRequests:
		return instantError(status, "rate-limited",
			"You're making too many requests. Please email support@instantdb.com or ask for help in the Discord.", nil)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return tokenNotFound(status, appID, "")
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		return &apiError{status: status, text: fmt.Sprintf("%d %s\n", status, http.StatusText(status))}
	case status >= 500:
		return instantError(status, "unknown",
			"Something went wrong. Please ping `debug-uri` in #bug-and-questions, and we'll take a look. Sorry about this!",
			map[string]any{"debug-uri": "https://ui.honeycomb.io/instantdb/trace?trace_id=" + traceID()})
	default:
		return instantError(status, "unknown", http.StatusText(status), nil)
	}
}

// tokenNotFound is the answer to an admin token that does not belong to the app: app-admin-token/fetch!
// fails with record-not-found, which util/http.clj sends as 400 (not 401). Like the real server it echoes
// the lookup arguments, the presented token included, in hint.args: clients must never show the raw body.
func tokenNotFound(status int, appID, token string) *apiError {
	return instantError(status, "record-not-found", "Record not found: app-admin-token", map[string]any{
		"record-type": "app-admin-token",
		"args":        []any{map[string]any{"app-id": appID, "token": token}},
		"message":     "This admin token may be expired or invalid. Or you may have provided an incorrect app ID.",
	})
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	endpoint := r.URL.Path
	if r.Method != http.MethodPost || (endpoint != EndpointQuery && endpoint != EndpointTransact) {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return // the client went away
	}
	if len(body) > maxBody {
		instantError(http.StatusRequestEntityTooLarge, "unknown", "instantdbfake: request body too large", nil).write(w)
		return
	}
	s.mu.Lock()
	s.counts[endpoint]++
	s.requests = append(s.requests, Request{Endpoint: endpoint, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()
	s.faults.Take("POST "+endpoint, r).Serve(w, r, s.closing, func(w http.ResponseWriter, r *http.Request) {
		result, apiErr := s.serve(r, endpoint, body)
		if apiErr != nil {
			apiErr.write(w)
			return
		}
		writeJSON(w, http.StatusOK, result)
	}, func(w http.ResponseWriter, _ *http.Request, f *harness.Fault) {
		defaultFaultBody(f.Status, s.appID).write(w)
	})
}

// serve checks a request in the order the real handlers do (with-rate-limiting resolves the app id first,
// then the handler reads its body parameter, then get-perms! checks the admin token) and runs it.
func (s *Server) serve(r *http.Request, endpoint string, raw []byte) (any, *apiError) {
	appID, apiErr := s.appIDOf(r)
	if apiErr != nil {
		return nil, apiErr
	}
	body, apiErr := parseBody(r, raw)
	if apiErr != nil {
		return nil, apiErr
	}
	switch endpoint {
	case EndpointQuery:
		q, ok := body["query"]
		if !ok || q == nil || q == false {
			return nil, paramMissing("body", "query")
		}
		query, ok := q.(map[string]any)
		if !ok {
			return nil, paramMalformed(q, "body", "query")
		}
		if apiErr := s.authorize(r, appID); apiErr != nil {
			return nil, apiErr
		}
		inference := false
		if v, ok := body["inference?"]; ok && v != nil {
			b, ok := v.(bool)
			if !ok {
				return nil, strict("inference? must be a boolean, got %s", jsonText(v))
			}
			inference = b
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.query(query, inference)
	default:
		st, ok := body["steps"]
		if !ok || st == nil || st == false {
			return nil, paramMissing("body", "steps")
		}
		switch st.(type) {
		case []any, map[string]any:
		default:
			return nil, paramMalformed(st, "body", "steps")
		}
		if apiErr := s.authorize(r, appID); apiErr != nil {
			return nil, apiErr
		}
		throw := false
		if v, ok := body["throw-on-missing-attrs?"]; ok && v != nil && v != false {
			throw = true
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.transact(st, throw)
	}
}

// appIDOf resolves the app id as admin/routes.clj does: the app-id header, else the app_id query parameter,
// coerced to a UUID. The fake is stricter in one way: when both are given they must agree.
func (s *Server) appIDOf(r *http.Request) (string, *apiError) {
	header := r.Header.Get("app-id")
	param := r.URL.Query().Get("app_id")
	v, in := header, []any{"headers", "app-id"}
	if v == "" {
		v, in = param, []any{"params", "app_id"}
	}
	if v == "" {
		return "", paramMissing("headers", "app-id")
	}
	id, ok := canonicalUUID(v)
	if !ok {
		return "", paramMalformed(v, in...)
	}
	if header != "" && param != "" {
		if p, ok := canonicalUUID(param); !ok || p != id {
			return "", strict("the app-id header %q and the app_id query parameter %q differ (the real server uses the header)", header, param)
		}
	}
	return id, nil
}

// authorize is get-perms! for an admin request: a bearer token that is a UUID and is an admin token of the app.
func (s *Server) authorize(r *http.Request, appID string) *apiError {
	for _, h := range []string{"as-token", "as-email", "as-guest"} {
		if r.Header.Get(h) != "" {
			return unsupported("impersonation (%s header)", h)
		}
	}
	auth := r.Header.Get("authorization")
	if auth == "" {
		return paramMissing("headers", "authorization")
	}
	parts := strings.Split(auth, "Bearer ")
	tok, ok := canonicalUUID(strings.TrimSpace(parts[len(parts)-1]))
	if !ok {
		return paramMalformed(auth, "headers", "authorization")
	}
	if appID != s.appID || tok != s.token {
		return tokenNotFound(http.StatusBadRequest, appID, tok)
	}
	return nil
}

// parseBody decodes a JSON body as ring's wrap-json-body does: only for a JSON content type (otherwise the
// handler sees no body parameters), answering a plain-text 400 for malformed JSON.
func parseBody(r *http.Request, raw []byte) (map[string]any, *apiError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &apiError{status: http.StatusBadRequest, text: "Malformed JSON in request body."}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &apiError{status: http.StatusBadRequest, text: "Malformed JSON in request body."}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]any{}, nil
	}
	return m, nil
}

// canonicalUUID parses the 36-character UUID form (any case) as Clojure's parse-uuid does and returns it
// lowercased, which is how the server stores and returns ids.
func canonicalUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// attr returns the definition of etype.label: "id" always exists; other labels come from the schema or were
// created by a schemaless transaction.
func (s *Server) attr(etype, label string) (attrDef, bool) {
	if label == "id" {
		if s.schema[etype] != nil || s.dynamic[etype] != nil {
			return attrDef{}, true
		}
		return attrDef{}, false
	}
	if d, ok := s.schema[etype][label]; ok {
		return d, true
	}
	d, ok := s.dynamic[etype][label]
	return d, ok
}

// exists reports whether any entity of any namespace has id, as transaction/validate-mode checks it.
func (s *Server) exists(id string) bool {
	for _, ents := range s.data {
		if _, ok := ents[id]; ok {
			return true
		}
	}
	return false
}

// sortedKeys returns the keys of m in order, so that error messages and iteration are deterministic.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
