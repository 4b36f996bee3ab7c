package instantdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/httpapi"
)

// ErrUnauthorized is wrapped by errors caused by a rejected admin token or app id.
var ErrUnauthorized = errors.New("instantdb: admin token or app id rejected")

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
	endpoint := s.apiURL + "/admin/" + op + "?app_id=" + s.appID
	policy := httpapi.Policy{MaxRetries: s.maxRetries, MinBackoff: s.backoffBase, MaxBackoff: s.backoffCap,
		MaxRetryAfter: s.maxRetryAfter, Counter: httpapi.CounterFor("instantdb")}
	if policy.MaxRetries <= 0 {
		policy.MaxRetries = -1
	}
	err = httpapi.Do(ctx, policy, httpapi.Call{Idempotent: true}, func(ctx context.Context, _ int) httpapi.Attempt {
		status, header, respBody, err := s.send(ctx, endpoint, body)
		switch {
		case err != nil:
			if httpapi.Retryable(err) && !httpapi.NeverSent(err) {
				ambiguous = true
			}
			return httpapi.Attempt{Err: &httpapi.RedactedError{Prefix: "instantdb " + op + ": ", Err: err, Secrets: []string{s.token}}}
		case status == http.StatusOK:
			if out != nil {
				if err := json.Unmarshal(respBody, out); err != nil {
					return httpapi.Attempt{Status: status, Permanent: true, Err: fmt.Errorf("instantdb %s: decoding the response: %w", op, err)}
				}
			}
			return httpapi.Attempt{Status: status}
		}
		if status >= 500 {
			ambiguous = true
		}
		return httpapi.Attempt{Status: status, Header: header, Err: s.apiError(op, status, respBody)}
	})
	return ambiguous, err
}

// send makes one HTTP attempt and reads the whole answer.
func (s *Store) send(ctx context.Context, endpoint string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("App-Id", s.appID)
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Instant-Admin-Version", adminVersion)
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading the response: %w", err)
	}
	if len(b) > maxResponse {
		return 0, nil, nil, fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// apiError builds the error for a non-200 answer from the service's error body.
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
		text := strings.TrimSpace(string(body))
		if len(text) > 512 {
			text = text[:512] + "..."
		}
		if text == "" {
			text = http.StatusText(status)
		}
		e.Message = text
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		e.Auth = true
	}
	e.Message = redact(e.Message, s.token)
	e.TraceID = redact(e.TraceID, s.token)
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
func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[redacted]")
}

// redactedError wraps an error, keeping it for errors.Is and errors.As but never printing the token.
type redactedError struct {
	err   error
	token string
}

func (e *redactedError) Error() string { return redact(e.err.Error(), e.token) }
func (e *redactedError) Unwrap() error { return e.err }
