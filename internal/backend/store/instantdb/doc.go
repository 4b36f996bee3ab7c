// Package instantdb is the InstantDB record store: a backend.Store on InstantDB's admin HTTP API, so that an
// application using @ekairos/sandbox (which keeps its sandboxes in InstantDB) can load, by record id, what
// Terraform created.
//
// # Wire
//
// Two endpoints, each POSTed with the headers the official client @instantdb/admin sends (Content-Type:
// application/json, App-Id, Authorization: Bearer <admin token>, Instant-Admin-Version) and the app id also
// in the app_id query parameter:
//
//	Create  POST /admin/transact {"steps":[["create",E,ID,{attrs without nulls}]],"throw-on-missing-attrs?":true}
//	Update  Get, then POST /admin/transact {"steps":[["update",E,ID,{attrs, null clears},{"upsert":false}]],"throw-on-missing-attrs?":true},
//	        then Get
//	Delete  POST /admin/transact {"steps":[["delete",E,ID]],"throw-on-missing-attrs?":true}
//	Get     POST /admin/query    {"query":{E:{"$":{"where":{"id":ID}}}},"inference?":false}
//	Query   POST /admin/query    {"query":{E:{"$":{"where":W,"order":{F:"asc"|"desc"},"limit":N,"offset":M}}},"inference?":false}
//
// "create" fails atomically on the server when the id exists ("Validation failed for tx-step: Creating
// entities that exist: ID"), which maps to backend.ErrConflict; a strict update fails atomically when it
// does not ("Updating entities that don't exist: ID"), which maps to backend.ErrNotFound. Both messages come
// from the server's transaction/validate-mode. The official client's tx.ns[id].create(attrs) and
// .update(attrs, {upsert: false}) send the same steps.
//
// # Errors and retries
//
// Every error carries the HTTP status and the service's own type and message (its error body is
// {"type", "message", "hint", "trace-id"}, util/http.clj in instantdb/instant; the client wraps it as
// InstantAPIError{status, body}). Hint fields that can echo the request (the admin token included) are never
// shown, and the token is redacted from anything shown. A rejected admin token is a 400 record-not-found
// "app-admin-token" on the real service (not a 401); it, 401/403 answers and missing or malformed app-id and
// authorization headers wrap ErrUnauthorized and name INSTANT_APP_ADMIN_TOKEN and INSTANT_APP_ID.
//
// 429, 5xx and connection errors are retried with jittered exponential backoff, at most Config.MaxRetries
// times, honouring Retry-After, and never past the context deadline. Other 4xx answers are not retried.
//
// # Record shape
//
// See SCHEMA.md beside this file for where each field's type comes from, and SchemaTS for the schema to push.
package instantdb
