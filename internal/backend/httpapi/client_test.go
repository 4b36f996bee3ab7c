package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

const secret = "tok-very-secret-42"

func testClient(t *testing.T, h http.HandlerFunc) (*Client, string) {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &Client{Name: "svc", Secrets: []string{secret}, Header: http.Header{"Authorization": {"Bearer " + secret}},
		Policy: Policy{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Counter: &Counter{}}}, ts.URL
}

// An error answer that echoes the credential never shows it; a 404 is backend.ErrNotFound, a 401 and a 403
// ErrUnauthorized; every attempt is counted.
func TestSendMapsStatusAndRedacts(t *testing.T) {
	var seenAuth atomic.Value
	c, base := testClient(t, func(w http.ResponseWriter, r *http.Request) {
		seenAuth.Store(r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/gone":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "no such thing; you sent "+r.Header.Get("Authorization"))
		case "/auth":
			w.WriteHeader(http.StatusForbidden)
		default:
			_, _ = io.WriteString(w, `{"ok":true}`)
		}
	})
	_, err := c.Send(t.Context(), Request{Method: "GET", URL: base + "/gone", Path: "/gone", Call: Call{Idempotent: true}})
	if !errors.Is(err, backend.ErrNotFound) || StatusOf(err) != http.StatusNotFound {
		t.Errorf("404 = %v, want backend.ErrNotFound", err)
	}
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "no such thing") {
		t.Errorf("error %q: want the service's message without the secret", err)
	}
	if seenAuth.Load() != "Bearer "+secret {
		t.Errorf("the client's header was not sent: %v", seenAuth.Load())
	}
	if _, err := c.Send(t.Context(), Request{Method: "GET", URL: base + "/auth", Path: "/auth"}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("403 = %v, want ErrUnauthorized", err)
	}
	resp, err := c.Send(t.Context(), Request{Method: "GET", URL: base + "/ok", Path: "/ok"})
	if err != nil || string(resp.Body) != `{"ok":true}` {
		t.Errorf("ok = %v, %v", resp, err)
	}
	if n := c.Policy.Counter.Load(); n != 3 {
		t.Errorf("counted %d requests, want 3", n)
	}
}

// A transport error does not show the URL's query (env values, tokens) nor the secrets.
func TestSendTransportErrorRedacted(t *testing.T) {
	c := &Client{Name: "svc", Secrets: []string{secret}, Policy: Policy{MaxRetries: -1}}
	_, err := c.Send(t.Context(), Request{Method: "GET", URL: "http://127.0.0.1:1/x?env=" + secret, Path: "/x"})
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "svc: GET /x: ") {
		t.Errorf("transport error %v: want the call named, no secret", err)
	}
}

// A request that is not idempotent is sent once after a 5xx unless its check says it did not take effect;
// when the check finds it applied, Send returns no answer and no error. Attempted sees every attempt.
func TestSendCheckAndAttempted(t *testing.T) {
	var n atomic.Int32
	c, base := testClient(t, func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	})
	var statuses []int
	resp, err := c.Send(t.Context(), Request{Method: "POST", URL: base, Path: "/", Body: []byte("{}"),
		Call:      Call{Check: func(context.Context) (bool, error) { return true, nil }},
		Attempted: func(status int, _ error) { statuses = append(statuses, status) }})
	if err != nil || resp != nil || n.Load() != 1 {
		t.Errorf("applied by the check: resp %v, err %v, sent %d; want nil, nil, 1", resp, err, n.Load())
	}
	if len(statuses) != 1 || statuses[0] != http.StatusBadGateway {
		t.Errorf("Attempted saw %v", statuses)
	}
	_, err = c.Send(t.Context(), Request{Method: "POST", URL: base, Path: "/", Body: []byte("{}")})
	if n.Load() != 2 || AttemptsOf(err) != 1 {
		t.Errorf("a POST without a check was sent %d times in all (want 2), attempts %d", n.Load(), AttemptsOf(err))
	}
}

// A streamed answer stays open until its body is closed, even with a per-attempt timeout.
func TestSendStream(t *testing.T) {
	c, base := testClient(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "line1\n")
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(w, "line2\n")
	})
	resp, err := c.Send(t.Context(), Request{Method: "GET", URL: base, Path: "/", Stream: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.HTTP.Body)
	_ = resp.HTTP.Body.Close()
	if err != nil || string(b) != "line1\nline2\n" {
		t.Errorf("stream = %q, %v", b, err)
	}
}

// An answer larger than MaxBody is an error, not a silent cut.
func TestSendMaxBody(t *testing.T) {
	c, base := testClient(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "0123456789") })
	c.MaxBody = 5
	if _, err := c.Send(t.Context(), Request{Method: "GET", URL: base, Path: "/"}); err == nil || !strings.Contains(err.Error(), "larger than 5 bytes") {
		t.Errorf("oversized answer = %v", err)
	}
}
