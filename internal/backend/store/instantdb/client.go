package instantdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/httpapi"
)

// ErrUnauthorized is wrapped by errors caused by a rejected admin token or app id: the hosted clients' one
// httpapi.ErrUnauthorized.
var ErrUnauthorized = httpapi.ErrUnauthorized

// authHint is appended to authentication errors.
const authHint = "check INSTANT_APP_ADMIN_TOKEN (the app's admin token) and INSTANT_APP_ID (the app id it belongs to)"

// maxResponse bounds a response body.
const maxResponse = 64 << 20

// APIError is an error answer of the InstantDB admin API. Its message is the service's own (type, message
// and the hint's message); other parts of the body are never shown because they can echo the request,
// the admin token included.
type APIError struct {
	Op      string // "query" or "transact"
	Status  int    // HTTP status
	Type    string // the service's error type, e.g. "validation-failed"; "" when the body was not JSON
	Message string // the service's message, the admin token redacted
	TraceID string // the service's trace id, for support requests
	Auth    bool   // the admin token or app id was rejected
}

// Error reports the operation, the HTTP status and the service's message.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "instantdb %s: HTTP %d", e.Op, e.Status)
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, " (trace-id %s)", e.TraceID)
	}
	if e.Auth {
		b.WriteString("; " + authHint)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrUnauthorized) hold for authentication errors.
func (e *APIError) Unwrap() error {
	if e.Auth {
		return ErrUnauthorized
	}
	return nil
}

// HTTPStatus is the answer's status (httpapi.StatusOf).
func (e *APIError) HTTPStatus() int { return e.Status }

// hasValidationError reports whether err is an APIError of type "validation-failed" whose message contains
// substr.
func hasValidationError(err error, substr string) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Type == "validation-failed" && strings.Contains(apiErr.Message, substr)
}

// post sends one admin call under the hosted clients' one retry policy (httpapi.Do) and decodes a 200 answer
// into out. It reports whether a failed attempt may have been applied by the server (a 5xx answer or a
// connection lost after sending), which matters for non-idempotent steps.
//
// Both admin calls are sent again after a 429, a 5xx or a lost connection: a query is a read, and a transact
// names every entity by the id this store chose, so sending it again cannot make a second entity (a create
// that had gone through answers that the record exists, which the caller tells apart through ambiguous).
// Retry-After (seconds or an HTTP date) is honoured, capped, and never past the context deadline: when the
// next attempt would start after it, post returns at once with an error wrapping context.DeadlineExceeded and
// the last failure. Other 4xx answers are returned at once.
func (s *Store) post(ctx context.Context, op string, reqBody, out any) (ambiguous bool, err error) {
	body, err := json.Marshal(reqBody)
	if err != nil {
		return false, fmt.Errorf("instantdb %s: encoding the request: %w", op, err)
	}
	policy := httpapi.Policy{MaxRetries: s.maxRetries, MinBackoff: s.backoffBase, MaxBackoff: s.backoffCap,
		MaxRetryAfter: s.maxRetryAfter, Counter: httpapi.CounterFor("instantdb")}
	if policy.MaxRetries <= 0 {
		policy.MaxRetries = -1
	}
	c := httpapi.Client{Name: "instantdb " + op, HTTP: s.client, Policy: policy, Secrets: []string{s.token}, MaxBody: maxResponse,
		ErrorOf: func(_ *httpapi.Request, status int, _ http.Header, body []byte) error {
			return s.apiError(op, status, body)
		},
		Header: http.Header{"App-Id": {s.appID}, "Authorization": {"Bearer " + s.token},
			"Instant-Admin-Version": {adminVersion}, "User-Agent": {userAgent}}}
	resp, err := c.Send(ctx, httpapi.Request{Method: http.MethodPost, URL: s.apiURL + "/admin/" + op + "?app_id=" + s.appID,
		Path: "/admin/" + op, Body: body, ContentType: "application/json", Call: httpapi.Call{Idempotent: true},
		Attempted: func(status int, err error) {
			if status >= 500 || (status == 0 && err != nil && httpapi.Retryable(err) && !httpapi.NeverSent(err)) {
				ambiguous = true
			}
		}})
	if err != nil {
		return ambiguous, err
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return ambiguous, fmt.Errorf("instantdb %s: decoding the response: %w", op, err)
		}
	}
	return ambiguous, nil
}

// apiError builds the error for a non-200 answer from the service's error body (the admin token already
// redacted from it).
func (s *Store) apiError(op string, status int, body []byte) *APIError {
	e := &APIError{Op: op, Status: status}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil && (eb.Type != "" || eb.Message != "") {
		e.Type, e.Message, e.TraceID = eb.Type, eb.Message, eb.TraceID
		var hint errorHint
		if len(eb.Hint) > 0 && json.Unmarshal(eb.Hint, &hint) == nil {
			if hint.Message != "" && !strings.Contains(e.Message, hint.Message) {
				e.Message += " (" + hint.Message + ")"
			}
			e.Auth = isAuthFailure(eb.Type, hint)
		}
	} else {
		e.Message = httpapi.Snippet(body, 512)
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
	}
	if errors.Is(httpapi.StatusError(status), ErrUnauthorized) {
		e.Auth = true
	}
	return e
}

// isAuthFailure recognises the real server's answers to a bad admin token or app id. They are 400s, not
// 401s: app-admin-token/fetch! fails with record-not-found, and a missing or malformed app-id or
// authorization header is a param-missing or param-malformed error on that header.
func isAuthFailure(typ string, hint errorHint) bool {
	if typ == "record-not-found" && hint.RecordType == "app-admin-token" {
		return true
	}
	if (typ == "param-missing" || typ == "param-malformed") && len(hint.In) == 2 {
		where, _ := hint.In[0].(string)
		name, _ := hint.In[1].(string)
		return (where == "headers" || where == "params") && (name == "authorization" || name == "app-id" || name == "app_id")
	}
	return false
}

// redact removes the admin token from s.
func redact(s, token string) string { return httpapi.Redact(s, token) }
