package instantdb

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/instantdb/instantdbfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

// checkNoToken fails the test when the admin token appears in err's message.
func checkNoToken(t *testing.T, err error, tokens ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, tok := range append(tokens, testToken) {
		if strings.Contains(err.Error(), tok) {
			t.Errorf("error message contains the admin token %q: %v", tok, err)
		}
	}
}

// checkContains fails the test when err is nil or its message lacks one of the parts.
func checkContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil; want an error containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestRetry429ThenSuccess(t *testing.T) {
	f := startFake(t)
	s := openStore(t, f, nil)
	ctx := t.Context()
	id := backend.NewID()
	if _, err := s.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"provider": "local", "status": "active"}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	f.ResetRequests()
	f.Faults().Add(harness.Fault{Route: instantdbfake.RouteQuery, Status: http.StatusTooManyRequests, RetryAfter: "1"})
	start := time.Now()
	rec, err := s.Get(ctx, backend.EntitySandboxes, id)
	if err != nil {
		t.Fatalf("Get after a 429: %v", err)
	}
	if rec.String("provider") != "local" {
		t.Errorf("Get = %v", rec.Attrs)
	}
	if n := f.Count(instantdbfake.EndpointQuery); n != 2 {
		t.Errorf("query requests = %d; want 2 (the 429 and its retry)", n)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %s; want at least the 1 s Retry-After", d)
	}
}

func TestRetry5xxBounded(t *testing.T) {
	for _, tc := range []struct {
		status int
		parts  []string
	}{
		{http.StatusInternalServerError, []string{"HTTP 500", "unknown", "Something went wrong", "trace-id"}},
		{http.StatusServiceUnavailable, []string{"HTTP 503", "Service Unavailable"}},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			f := startFake(t)
			s := openStore(t, f, func(c *Config) { c.MaxRetries = 2 })
			for range 10 {
				f.Faults().Add(harness.Fault{Status: tc.status})
			}
			start := time.Now()
			_, err := s.Query(t.Context(), backend.Query{Entity: backend.EntitySandboxes})
			checkContains(t, err, append(tc.parts, "gave up after 3 attempts")...)
			checkNoToken(t, err)
			if n := f.Count(instantdbfake.EndpointQuery); n != 3 {
				t.Errorf("query requests = %d; want 3 (1 + MaxRetries)", n)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s; want the bounded backoff", d)
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tc.status {
				t.Errorf("errors.As(*APIError) = %v, %+v; want status %d", errors.As(err, &apiErr), apiErr, tc.status)
			}
		})
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	f := startFake(t)
	s := openStore(t, f, nil)
	f.Faults().Add(harness.Fault{Status: http.StatusBadRequest, Body: `{"type":"validation-failed","message":"Validation failed for query: nope","hint":{}}`})
	_, err := s.Query(t.Context(), backend.Query{Entity: backend.EntitySandboxes})
	checkContains(t, err, "HTTP 400", "validation-failed", "Validation failed for query: nope")
	if n := f.Count(instantdbfake.EndpointQuery); n != 1 {
		t.Errorf("query requests = %d; want 1 (a 400 is not retried)", n)
	}
}

func TestAuthErrors(t *testing.T) {
	const wrongToken = "11111111-2222-4333-8444-555555555555"
	const notUUIDToken = "s3cr3t-admin-token-value"
	cases := []struct {
		name  string
		token string
		appID string
		fault *harness.Fault
		parts []string
	}{
		// The real service answers a wrong admin token with 400 record-not-found (app-admin-token).
		{"wrong token", wrongToken, testAppID, nil,
			[]string{"HTTP 400", "record-not-found", "Record not found: app-admin-token", "may be expired or invalid"}},
		{"token of another app", testToken, "99999999-8888-4777-8666-555555555555", nil,
			[]string{"HTTP 400", "record-not-found"}},
		{"token that is not a UUID", notUUIDToken, testAppID, nil,
			[]string{"HTTP 400", "param-malformed", `Malformed parameter: ["headers" "authorization"]`}},
		{"401", testToken, testAppID, &harness.Fault{Status: http.StatusUnauthorized}, []string{"HTTP 401"}},
		{"403", testToken, testAppID, &harness.Fault{Status: http.StatusForbidden}, []string{"HTTP 403"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t)
			s := openStore(t, f, func(c *Config) { c.AdminToken, c.AppID = tc.token, tc.appID })
			if tc.fault != nil {
				f.Faults().Add(*tc.fault)
			}
			_, err := s.Create(t.Context(), backend.EntitySandboxes, backend.NewID(), backend.Attrs{"status": "creating"})
			checkContains(t, err, append(tc.parts, "INSTANT_APP_ADMIN_TOKEN", "INSTANT_APP_ID")...)
			checkNoToken(t, err, tc.token)
			if !errors.Is(err, ErrUnauthorized) {
				t.Errorf("errors.Is(err, ErrUnauthorized) = false for %v", err)
			}
			if errors.Is(err, backend.ErrNotFound) || errors.Is(err, backend.ErrConflict) {
				t.Errorf("an auth error wraps ErrNotFound or ErrConflict: %v", err)
			}
			if n := f.Count(instantdbfake.EndpointTransact); n != 1 {
				t.Errorf("transact requests = %d; want 1 (auth errors are not retried)", n)
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestDeadlineOnSlowServer(t *testing.T) {
	f := startFake(t)
	s := openStore(t, f, nil)
	f.Faults().Add(harness.Fault{Delay: 10 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Get(ctx, backend.EntitySandboxes, backend.NewID())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want one wrapping context.DeadlineExceeded", err)
	}
	checkNoToken(t, err)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %s; want promptly after the 300 ms deadline", d)
	}
}

func TestRetryAfterBeyondDeadline(t *testing.T) {
	f := startFake(t)
	s := openStore(t, f, nil)
	f.Faults().Add(harness.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30"})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := s.Query(ctx, backend.Query{Entity: backend.EntitySandboxes})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want one wrapping context.DeadlineExceeded", err)
	}
	checkContains(t, err, "HTTP 429", "rate-limited", "too many requests")
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %s; want at once (the Retry-After is past the deadline)", d)
	}
}

func TestCancelledContext(t *testing.T) {
	f := startFake(t)
	s := openStore(t, f, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Get(ctx, backend.EntitySandboxes, backend.NewID())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: err = %v; want context.Canceled", err)
	}

	// Cancelled while waiting for the server.
	f.Faults().Add(harness.Fault{Delay: 10 * time.Second})
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = s.Query(ctx, backend.Query{Entity: backend.EntitySandboxes})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Query cancelled in flight: err = %v; want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %s; want promptly after the cancel", d)
	}

	// Cancelled while backing off between retries.
	s.backoffBase, s.backoffCap = 5*time.Second, 5*time.Second
	f.Faults().Add(harness.Fault{Status: http.StatusInternalServerError})
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = s.Query(ctx, backend.Query{Entity: backend.EntitySandboxes})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Query cancelled in backoff: err = %v; want context.Canceled", err)
	}
	checkContains(t, err, "HTTP 500")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %s; want promptly after the cancel", d)
	}
}

func TestConnectionErrorsRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{AppID: testAppID, AdminToken: testToken, APIURL: "http://" + addr, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.backoffBase, s.backoffCap = 5*time.Millisecond, 20*time.Millisecond
	_, err = s.Get(t.Context(), backend.EntitySandboxes, backend.NewID())
	checkContains(t, err, "gave up after 3 attempts", "connection refused")
	checkNoToken(t, err)
}

// TestCreateRetryAfterLostResponse: the first create commits but its answer is lost (a 502 from a proxy);
// the retry's "Creating entities that exist" is recognised as that attempt's own success.
func TestCreateRetryAfterLostResponse(t *testing.T) {
	f := startFake(t)
	s := openStore(t, f, nil)
	ctx := t.Context()
	id := backend.NewID()
	attrs := backend.Attrs{"provider": "local", "status": "creating", "createdAt": 5, "ports": []int{3000}}
	f.Faults().Add(harness.Fault{Route: instantdbfake.RouteTransact, Status: http.StatusBadGateway, AfterApply: true})
	rec, err := s.Create(ctx, backend.EntitySandboxes, id, attrs)
	if err != nil {
		t.Fatalf("Create with a lost first response: %v", err)
	}
	if n, _ := rec.Int("createdAt"); n != 5 {
		t.Errorf("Create returned %v", rec.Attrs)
	}
	if n := f.Count(instantdbfake.EndpointTransact); n != 2 {
		t.Errorf("transact requests = %d; want 2", n)
	}
	// A genuine conflict after a lost response is still a conflict.
	f.Faults().Add(harness.Fault{Route: instantdbfake.RouteTransact, Status: http.StatusBadGateway})
	_, err = s.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"provider": "other"})
	if !errors.Is(err, backend.ErrConflict) {
		t.Errorf("Create of an existing id after a 502: err = %v; want ErrConflict", err)
	}
	checkContains(t, err, "HTTP 400", "validation-failed", "Creating entities that exist: "+id)
}

// TestTokenNeverInErrors drives every failure path with a token that the fake echoes in its error bodies.
func TestTokenNeverInErrors(t *testing.T) {
	tokens := []string{testToken, "11111111-2222-4333-8444-555555555555", "not-a-uuid-but-secret-3141592653"}
	faults := []*harness.Fault{
		nil,
		{Status: http.StatusTooManyRequests, RetryAfter: "0"},
		{Status: http.StatusInternalServerError},
		{Status: http.StatusBadGateway},
		{Status: http.StatusUnauthorized},
		{Status: http.StatusBadRequest, Body: `{"type":"record-not-found","message":"token TOKEN rejected","hint":{"args":[{"token":"TOKEN"}],"message":"TOKEN"}}`},
	}
	for _, tok := range tokens {
		for _, fault := range faults {
			f := startFake(t)
			s := openStore(t, f, func(c *Config) { c.AdminToken = tok; c.MaxRetries = -1 })
			if fault != nil {
				fc := *fault
				fc.Body = strings.ReplaceAll(fc.Body, "TOKEN", tok)
				for range 3 {
					f.Faults().Add(fc)
				}
			}
			ctx := t.Context()
			var errs []error
			_, err := s.Create(ctx, backend.EntitySandboxes, backend.NewID(), backend.Attrs{"status": "x"})
			errs = append(errs, err)
			_, err = s.Update(ctx, backend.EntitySandboxes, backend.NewID(), backend.Attrs{"status": "x"})
			errs = append(errs, err)
			_, err = s.Query(ctx, backend.Query{Entity: backend.EntitySandboxes, Where: []backend.Cond{{Field: "status", Op: backend.OpEq, Value: "x"}}})
			errs = append(errs, err)
			for _, err := range errs {
				checkNoToken(t, err, tok)
			}
		}
	}
	if _, err := New(Config{AppID: "nope", AdminToken: testToken}); err == nil {
		t.Error("New with a bad app id: err = nil")
	} else {
		checkNoToken(t, err)
	}
	if _, err := New(Config{AppID: testAppID, AdminToken: testToken, APIURL: "ftp://x/" + testToken}); err == nil {
		t.Error("New with a bad URL: err = nil")
	} else {
		checkNoToken(t, err)
	}
}
