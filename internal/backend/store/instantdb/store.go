package instantdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/httpapi"
	"github.com/google/uuid"
)

// DefaultAPIURL is InstantDB's API.
const DefaultAPIURL = "https://api.instantdb.com"

// Defaults of Config.
const (
	DefaultMaxRetries = 3
	DefaultPageSize   = 500
)

// adminVersion is sent as the Instant-Admin-Version header, which the server records for tracing (the
// official client sends its package version there).
const adminVersion = "terraform-provider-sandbox-go"

const userAgent = "terraform-provider-sandbox (instantdb store)"

// Config configures a Store.
type Config struct {
	// AppID is the InstantDB app id, a UUID (INSTANT_APP_ID).
	AppID string
	// AdminToken is the app's admin token (INSTANT_APP_ADMIN_TOKEN). It is sent only in the Authorization
	// header and never appears in errors.
	AdminToken string
	// APIURL is the API base URL; "" means DefaultAPIURL.
	APIURL string
	// HTTPClient is used for every request; nil means a client with a 60 s per-request timeout. Contexts
	// bound every call either way.
	HTTPClient *http.Client
	// MaxRetries bounds the retries of one call after 429, 5xx and connection errors; 0 means
	// DefaultMaxRetries and a negative value disables retries.
	MaxRetries int
	// PageSize is the number of records asked for per query page; 0 means DefaultPageSize.
	PageSize int
}

// Store is a backend.Store on the InstantDB admin HTTP API. Records are InstantDB entities: the entity name
// is the namespace, the record id the entity id, and the attributes are those of backend.Entities(), which
// must be in the app's schema (push SchemaTS with instant-cli): the store sends
// "throw-on-missing-attrs?": true so that a missing attribute is an error rather than an untyped,
// unindexed attribute created on the fly.
type Store struct {
	appID     string
	token     string
	apiURL    string
	client    *http.Client
	ownClient bool

	maxRetries    int
	pageSize      int
	backoffBase   time.Duration
	backoffCap    time.Duration
	maxRetryAfter time.Duration
}

var _ backend.Store = (*Store)(nil)

// New checks cfg and returns a Store. It makes no request.
func New(cfg Config) (*Store, error) {
	u, err := uuid.Parse(cfg.AppID)
	if err != nil {
		return nil, fmt.Errorf("instantdb: the app id %q is not a UUID; check INSTANT_APP_ID: %w", cfg.AppID, err)
	}
	if len(cfg.AppID) != 36 {
		return nil, fmt.Errorf("instantdb: the app id %q is not in the 36-character UUID form; check INSTANT_APP_ID", cfg.AppID)
	}
	if strings.TrimSpace(cfg.AdminToken) == "" {
		return nil, errors.New("instantdb: no admin token; set INSTANT_APP_ADMIN_TOKEN")
	}
	apiURL := strings.TrimRight(cfg.APIURL, "/")
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	pu, err := url.Parse(apiURL)
	if err != nil {
		return nil, fmt.Errorf("instantdb: the API URL is not valid: %w", &httpapi.RedactedError{Err: err, Secrets: []string{cfg.AdminToken}})
	}
	if (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.RawQuery != "" {
		return nil, fmt.Errorf("instantdb: the API URL %q is not an http(s) base URL", redact(apiURL, cfg.AdminToken))
	}
	s := &Store{
		appID:         u.String(),
		token:         cfg.AdminToken,
		apiURL:        apiURL,
		client:        cfg.HTTPClient,
		maxRetries:    cfg.MaxRetries,
		pageSize:      cfg.PageSize,
		backoffBase:   250 * time.Millisecond,
		backoffCap:    8 * time.Second,
		maxRetryAfter: time.Minute,
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: time.Minute}
		s.ownClient = true
	}
	switch {
	case s.maxRetries == 0:
		s.maxRetries = DefaultMaxRetries
	case s.maxRetries < 0:
		s.maxRetries = 0
	}
	if s.pageSize <= 0 {
		s.pageSize = DefaultPageSize
	}
	return s, nil
}

// Kind returns "instantdb".
func (s *Store) Kind() string { return "instantdb" }

// Close releases idle connections of the store's own HTTP client.
func (s *Store) Close() error {
	if s.ownClient {
		s.client.CloseIdleConnections()
	}
	return nil
}

// transact runs steps as one transaction.
func (s *Store) transact(ctx context.Context, steps ...txStep) (ambiguous bool, err error) {
	var resp transactResponse
	return s.post(ctx, "transact", transactRequest{Steps: steps, ThrowOnMissingAttrs: true}, &resp)
}

// query runs a query of one namespace and returns its entities in order.
func (s *Store) query(ctx context.Context, entity string, opts queryOpts) ([]*backend.Record, error) {
	var resp queryResponse
	req := queryRequest{Query: map[string]nsQuery{entity: {Opts: opts}}}
	if _, err := s.post(ctx, "query", req, &resp); err != nil {
		return nil, err
	}
	raws, ok := resp[entity]
	if !ok {
		return nil, fmt.Errorf("instantdb query: the response has no %q key", entity)
	}
	recs := make([]*backend.Record, 0, len(raws))
	for _, raw := range raws {
		rec, err := decodeRecord(entity, raw)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// Create writes the record with a "create" step, which the server rejects when the id exists ("Creating
// entities that exist"), atomically. Nil attributes are left out. When an earlier attempt of the same call
// may have been applied (a 5xx or a lost connection before the retry), a conflict whose stored record
// equals the one written is that attempt's success, not a conflict.
func (s *Store) Create(ctx context.Context, entity, id string, attrs backend.Attrs) (*backend.Record, error) {
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("instantdb: create %s: the id %q is not a UUID", entity, id)
	}
	norm, err := backend.NormalizeAttrs(entity, attrs)
	if err != nil {
		return nil, fmt.Errorf("instantdb: create %s %s: %w", entity, id, err)
	}
	args := backend.Attrs{}
	for k, v := range norm {
		if v != nil {
			args[k] = v
		}
	}
	steps := append([]txStep{{Action: actionCreate, Etype: entity, ID: id, Args: args}}, linkSteps(entity, id, args)...)
	ambiguous, err := s.transact(ctx, steps...)
	if err != nil {
		if hasValidationError(err, "Creating entities that exist") {
			if ambiguous {
				if rec, gerr := s.Get(ctx, entity, id); gerr == nil && reflect.DeepEqual(rec.Attrs, args) {
					return rec, nil
				}
			}
			return nil, fmt.Errorf("instantdb: create %s %s: %w: %w", entity, id, backend.ErrConflict, err)
		}
		return nil, fmt.Errorf("instantdb: create %s %s: %w", entity, id, err)
	}
	return &backend.Record{ID: id, Entity: entity, Attrs: args}, nil
}

// Get loads a record with a query on its id.
func (s *Store) Get(ctx context.Context, entity, id string) (*backend.Record, error) {
	if _, ok := backend.LookupEntity(entity); !ok {
		return nil, fmt.Errorf("instantdb: get: unknown entity %q", entity)
	}
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("instantdb: get %s %q: %w", entity, id, backend.ErrNotFound)
	}
	recs, err := s.query(ctx, entity, queryOpts{Where: map[string]any{"id": id}})
	if err != nil {
		return nil, fmt.Errorf("instantdb: get %s %s: %w", entity, id, err)
	}
	for _, r := range recs {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, fmt.Errorf("instantdb: get %s %s: %w", entity, id, backend.ErrNotFound)
}

// Update checks that the record exists in entity (a Get), then sends a strict "update" step
// ({"upsert": false}) with the given attributes; a nil attribute is sent as null, which clears it. The
// server rejects a strict update atomically when the id does not exist ("Updating entities that don't
// exist"), but it checks the id across every namespace, so the Get is what keeps an update of the wrong
// entity from writing a second entity with the same id; a delete racing between the two is still caught by
// the server. The record is then read back, with the fields just written laid over what the read returns,
// so that a lagging read can never hide this update's own values; a concurrent writer's newer values of
// other fields show.
func (s *Store) Update(ctx context.Context, entity, id string, attrs backend.Attrs) (*backend.Record, error) {
	if _, ok := backend.LookupEntity(entity); !ok {
		return nil, fmt.Errorf("instantdb: update: unknown entity %q", entity)
	}
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("instantdb: update %s %q: %w", entity, id, backend.ErrNotFound)
	}
	norm, err := backend.NormalizeAttrs(entity, attrs)
	if err != nil {
		return nil, fmt.Errorf("instantdb: update %s %s: %w", entity, id, err)
	}
	if _, err := s.Get(ctx, entity, id); err != nil {
		return nil, fmt.Errorf("instantdb: update %s %s: %w", entity, id, err)
	}
	step := txStep{Action: actionUpdate, Etype: entity, ID: id, Args: norm, Opts: &updateOpts{Upsert: false}}
	if _, err := s.transact(ctx, step); err != nil {
		if hasValidationError(err, "Updating entities that don't exist") {
			return nil, fmt.Errorf("instantdb: update %s %s: %w: %w", entity, id, backend.ErrNotFound, err)
		}
		return nil, fmt.Errorf("instantdb: update %s %s: %w", entity, id, err)
	}
	return s.readBack(ctx, "update", entity, id, norm)
}

// claimSpace is the UUID namespace of compare-and-swap claim ids.
var claimSpace = uuid.MustParse("6f1d2b1e-6a52-4c0e-9a57-2f0c1f3d8e41")

// CompareAndUpdate has no conditional update to build on: the admin API has none. It reads the record (a
// changed field is ErrStale at once), then sends one transaction of two steps: a "create" of a claim in
// sandbox_meta whose id is derived from (entity, id, field, expected value), and the strict update. The server
// rejects a create of an existing id and runs a transaction atomically, so of several callers swapping from the
// same value exactly one transaction applies; the others get "Creating entities that exist" and ErrStale. The
// guarantee holds among CompareAndUpdate callers: a plain Update racing between the read and the transaction
// is not seen (the lifecycle changes the fields it swaps on only through CompareAndUpdate). Claims stay as
// small sandbox_meta records.
func (s *Store) CompareAndUpdate(ctx context.Context, entity, id, field string, expect any, attrs backend.Attrs) (*backend.Record, error) {
	_, want, err := backend.CheckCompareAndUpdate(entity, field, expect, attrs)
	if err != nil {
		return nil, fmt.Errorf("instantdb: compare-and-update %s %s: %w", entity, id, err)
	}
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("instantdb: compare-and-update %s %q: %w", entity, id, backend.ErrNotFound)
	}
	norm, err := backend.NormalizeAttrs(entity, attrs)
	if err != nil {
		return nil, fmt.Errorf("instantdb: compare-and-update %s %s: %w", entity, id, err)
	}
	cur, err := s.Get(ctx, entity, id)
	if err != nil {
		return nil, fmt.Errorf("instantdb: compare-and-update %s %s: %w", entity, id, err)
	}
	stale := fmt.Errorf("instantdb: compare-and-update %s %s: %s is no longer %v: %w", entity, id, field, expect, backend.ErrStale)
	if cur.Attrs[field] != want {
		return nil, stale
	}
	key, _ := json.Marshal([]any{entity, id, field, want})
	claim := uuid.NewSHA1(claimSpace, key).String()
	nonce := uuid.NewString()
	ambiguous, err := s.transact(ctx,
		txStep{Action: actionCreate, Etype: backend.EntityMeta, ID: claim, Args: map[string]any{
			"key": "claim " + string(key), "value": nonce, "createdAt": time.Now().UnixMilli()}},
		txStep{Action: actionUpdate, Etype: entity, ID: id, Args: norm, Opts: &updateOpts{Upsert: false}})
	if err != nil {
		switch {
		case hasValidationError(err, "Creating entities that exist"):
			if ambiguous {
				if c, gerr := s.Get(ctx, backend.EntityMeta, claim); gerr == nil && c.String("value") == nonce {
					break // an earlier attempt of this call applied
				}
			}
			return nil, stale
		case hasValidationError(err, "Updating entities that don't exist"):
			return nil, fmt.Errorf("instantdb: compare-and-update %s %s: %w: %w", entity, id, backend.ErrNotFound, err)
		default:
			return nil, fmt.Errorf("instantdb: compare-and-update %s %s: %w", entity, id, err)
		}
	}
	return s.readBack(ctx, "compare-and-update", entity, id, norm)
}

// readBack reads a record just written and lays the written attributes over it (nil removes one), so that the
// caller sees what it wrote even where a read lags the transaction.
func (s *Store) readBack(ctx context.Context, op, entity, id string, norm backend.Attrs) (*backend.Record, error) {
	rec, err := s.Get(ctx, entity, id)
	if err != nil {
		return nil, fmt.Errorf("instantdb: %s %s %s: reading it back: %w", op, entity, id, err)
	}
	for k, v := range norm {
		if v == nil {
			delete(rec.Attrs, k)
		} else {
			rec.Attrs[k] = v
		}
	}
	return rec, nil
}

// Delete sends a "delete" step. Deleting a missing entity succeeds on the server too.
func (s *Store) Delete(ctx context.Context, entity, id string) error {
	if _, ok := backend.LookupEntity(entity); !ok {
		return fmt.Errorf("instantdb: delete: unknown entity %q", entity)
	}
	if !backend.ValidID(id) {
		return nil // no record can have it
	}
	if _, err := s.transact(ctx, txStep{Action: actionDelete, Etype: entity, ID: id}); err != nil {
		return fmt.Errorf("instantdb: delete %s %s: %w", entity, id, err)
	}
	return nil
}

// Query runs q on the server page by page: every page carries the where filter and the order, and asks
// for limit/offset. The admin query returns no page info (cursors exist only on the websocket and SSE
// paths), so offsets are the only paging it offers; the order is total (the server breaks ties by id), and
// a record seen on an earlier page is skipped if concurrent writes shift it onto a later one.
//
// Ordering: q.OrderBy, else createdAt when the entity has it. An entity without createdAt is ordered by
// id, which InstantDB cannot order by: its matching records are fetched (filtered on the server, in
// creation order) and sorted by id here before the limit applies.
func (s *Store) Query(ctx context.Context, q backend.Query) ([]*backend.Record, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("instantdb: query: %w", err)
	}
	schema, _ := backend.LookupEntity(q.Entity)
	where, err := buildWhere(schema, q.Where)
	if err != nil {
		return nil, fmt.Errorf("instantdb: query %s: %w", q.Entity, err)
	}
	dir := "asc"
	if q.Desc {
		dir = "desc"
	}
	orderBy := q.OrderBy
	byID := false
	if orderBy == "" {
		if _, ok := schema.Field("createdAt"); ok {
			orderBy = "createdAt"
		} else {
			orderBy, dir, byID = "serverCreatedAt", "asc", true
		}
	}
	limit := q.Limit
	if byID {
		limit = 0
	}
	var out []*backend.Record
	seen := map[string]bool{}
	for offset := 0; ; {
		size := s.pageSize
		if limit > 0 {
			size = min(size, limit-len(out))
		}
		page, err := s.query(ctx, q.Entity, queryOpts{
			Where: where, Order: map[string]string{orderBy: dir}, Limit: size, Offset: offset,
		})
		if err != nil {
			return nil, fmt.Errorf("instantdb: query %s: %w", q.Entity, err)
		}
		for _, r := range page {
			if !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, r)
			}
		}
		offset += len(page)
		if len(page) < size || (limit > 0 && len(out) >= limit) {
			break
		}
	}
	if byID {
		slices.SortFunc(out, func(a, b *backend.Record) int {
			if q.Desc {
				return strings.Compare(b.ID, a.ID)
			}
			return strings.Compare(a.ID, b.ID)
		})
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
	}
	if out == nil {
		out = []*backend.Record{}
	}
	return out, nil
}

// buildWhere translates ANDed conditions to an InstaQL where: {"field": value} for equality (null becomes
// {"$isNull": true}), {"field": {"$gt": v}} and {"field": {"$lt": v}} for comparisons. A field that appears
// in several conditions goes into an "and" list, since the server applies only one operator of an
// operator map.
func buildWhere(schema backend.EntitySchema, conds []backend.Cond) (map[string]any, error) {
	if len(conds) == 0 {
		return nil, nil
	}
	type entry struct {
		field string
		value any
	}
	entries := make([]entry, 0, len(conds))
	count := map[string]int{}
	for _, c := range conds {
		f, _ := schema.Field(c.Field)
		v := c.Value
		if v != nil {
			switch f.Type {
			case backend.TypeNumber:
				n, err := backend.NormalizeNumber(v)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", c.Field, err)
				}
				v = n
			case backend.TypeString:
				if _, ok := v.(string); !ok {
					return nil, fmt.Errorf("%s: want a string, got %T", c.Field, v)
				}
			case backend.TypeBoolean:
				if _, ok := v.(bool); !ok {
					return nil, fmt.Errorf("%s: want a bool, got %T", c.Field, v)
				}
			}
		}
		var cond any
		switch c.Op {
		case backend.OpEq:
			cond = v
			if v == nil {
				cond = map[string]any{"$isNull": true}
			}
		case backend.OpGt, backend.OpLt:
			if v == nil {
				return nil, fmt.Errorf("%s %s needs a value", c.Field, c.Op)
			}
			op := "$gt"
			if c.Op == backend.OpLt {
				op = "$lt"
			}
			cond = map[string]any{op: v}
		default:
			return nil, fmt.Errorf("unsupported operator %q", c.Op)
		}
		entries = append(entries, entry{c.Field, cond})
		count[c.Field]++
	}
	where := map[string]any{}
	var and []any
	for _, e := range entries {
		if count[e.field] > 1 {
			and = append(and, map[string]any{e.field: e.value})
		} else {
			where[e.field] = e.value
		}
	}
	if len(and) > 0 {
		where["and"] = and
	}
	return where, nil
}
