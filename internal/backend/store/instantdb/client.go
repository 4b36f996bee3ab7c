package instantdb

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// post sends one admin call with the retry policy and decodes a 200 answer into out. It reports whether a
// failed attempt may have been applied by the server (a 5xx answer or a connection lost after sending),
// which matters for non-idempotent steps.
//
// Retry policy: 429, 5xx and connection errors are retried up to maxRetries times with jittered
// exponential backoff, never sooner than a Retry-After header asks, and never past the context deadline:
// when the next attempt would start after it, post returns at once with an error wrapping
// context.DeadlineExceeded and the last failure. Other 4xx answers are returned at once.
func (s *Store) post(ctx context.Context, op string, reqBody, out any) (ambiguous bool, err error) {
	body, err := json.Marshal(reqBody)
	if err != nil {
		return false, fmt.Errorf("instantdb %s: encoding the request: %w", op, err)
	}
	endpoint := s.apiURL + "/admin/" + op + "?app_id=" + s.appID
	var lastErr error
	for attempt := 0; ; attempt++ {
		status, header, respBody, err := s.send(ctx, endpoint, body)
		var retryAfter time.Duration
		switch {
		case err != nil:
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ambiguous, s.stopped(op, attempt+1, ctxErr, lastErr)
			}
			if !retryableTransport(err) {
				return ambiguous, &redactedError{prefix: "instantdb " + op + ": ", err: err, token: s.token}
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				ambiguous = true
			}
			lastErr = &redactedError{prefix: "instantdb " + op + ": ", err: err, token: s.token}
		case status == http.StatusOK:
			if out == nil {
				return ambiguous, nil
			}
			if err := json.Unmarshal(respBody, out); err != nil {
				return ambiguous, fmt.Errorf("instantdb %s: decoding the response: %w", op, err)
			}
			return ambiguous, nil
		default:
			apiErr := s.apiError(op, status, respBody)
			if status != http.StatusTooManyRequests && status < 500 {
				return ambiguous, apiErr
			}
			if status >= 500 {
				ambiguous = true
			}
			lastErr = apiErr
			retryAfter = parseRetryAfter(header.Get("Retry-After"), time.Now())
		}
		if attempt >= s.maxRetries {
			if attempt == 0 {
				return ambiguous, lastErr
			}
			return ambiguous, fmt.Errorf("instantdb %s: giving up after %d attempts: %w", op, attempt+1, lastErr)
		}
		if retryAfter > s.maxRetryAfter {
			return ambiguous, fmt.Errorf("instantdb %s: not retrying: the service asks to wait %s (more than %s): %w",
				op, retryAfter, s.maxRetryAfter, lastErr)
		}
		wait := max(s.backoff(attempt), retryAfter)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return ambiguous, fmt.Errorf("instantdb %s: not retrying: the next attempt (in %s) would start after the context deadline: %w: %w",
				op, wait.Round(time.Millisecond), context.DeadlineExceeded, lastErr)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ambiguous, s.stopped(op, attempt+1, ctx.Err(), lastErr)
		case <-t.C:
		}
	}
}

// stopped reports a call ended by its context, with the last failure if there was one.
func (s *Store) stopped(op string, attempts int, ctxErr, lastErr error) error {
	if lastErr == nil {
		return fmt.Errorf("instantdb %s: %w", op, ctxErr)
	}
	return fmt.Errorf("instantdb %s: %w after %d attempts; last error: %w", op, ctxErr, attempts, lastErr)
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

// retryableTransport reports whether a transport error may go away on retry: certificate problems do not.
func retryableTransport(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	return !errors.As(err, &certErr) && !errors.As(err, &unknownAuth) && !errors.As(err, &hostErr)
}

// backoff is the wait before retry attempt+1: exponential from backoffBase, capped at backoffCap, with
// jitter in [d/2, d).
func (s *Store) backoff(attempt int) time.Duration {
	d := s.backoffBase << min(attempt, 20)
	if d <= 0 || d > s.backoffCap {
		d = s.backoffCap
	}
	half := d / 2
	return half + rand.N(half+1)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
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
	prefix string
	err    error
	token  string
}

func (e *redactedError) Error() string { return e.prefix + redact(e.err.Error(), e.token) }
func (e *redactedError) Unwrap() error { return e.err }
