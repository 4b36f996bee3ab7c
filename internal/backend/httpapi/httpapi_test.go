package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var fast = Policy{MaxRetries: 3, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}

func fail(status int, h http.Header) Attempt {
	return Attempt{Status: status, Header: h, Err: errors.New(http.StatusText(status))}
}

func TestDoRetriesIdempotentAfter5xx(t *testing.T) {
	n := 0
	err := Do(context.Background(), fast, Call{Idempotent: true}, func(context.Context, int) Attempt {
		n++
		if n < 3 {
			return fail(502, nil)
		}
		return Attempt{Status: 200}
	})
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d sends; want success on the third", err, n)
	}
}

func TestDoNeverRetriesNonIdempotentAfter5xxWithoutCheck(t *testing.T) {
	n := 0
	err := Do(context.Background(), fast, Call{}, func(context.Context, int) Attempt { n++; return fail(500, nil) })
	if n != 1 || err == nil || !strings.Contains(err.Error(), "not idempotent") {
		t.Fatalf("sent %d times, err %v; want one send and an error saying why it was not retried", n, err)
	}
	// A lost connection after sending is not retried either; a refused one is (nothing was sent).
	n = 0
	_ = Do(context.Background(), fast, Call{}, func(context.Context, int) Attempt {
		n++
		return Attempt{Err: errors.New("connection reset by peer")}
	})
	if n != 1 {
		t.Errorf("a non-idempotent request was sent %d times after a lost connection, want 1", n)
	}
	n = 0
	_ = Do(context.Background(), fast, Call{}, func(context.Context, int) Attempt {
		n++
		return Attempt{Err: syscall.ECONNREFUSED}
	})
	if n != 4 {
		t.Errorf("a refused connection was tried %d times, want 4 (1 + 3 retries)", n)
	}
}

func TestDoChecksBeforeRetryingNonIdempotent(t *testing.T) {
	// The request took effect: the check says so and nothing is sent again.
	n, checks := 0, 0
	err := Do(context.Background(), fast, Call{Check: func(context.Context) (bool, error) { checks++; return true, nil }},
		func(context.Context, int) Attempt { n++; return fail(503, nil) })
	if err != nil || n != 1 || checks != 1 {
		t.Fatalf("err %v, %d sends, %d checks; want success after one send and one check", err, n, checks)
	}
	// It did not: sent again.
	n = 0
	err = Do(context.Background(), fast, Call{Check: func(context.Context) (bool, error) { return false, nil }},
		func(context.Context, int) Attempt {
			n++
			if n == 1 {
				return fail(500, nil)
			}
			return Attempt{Status: 200}
		})
	if err != nil || n != 2 {
		t.Fatalf("err %v, %d sends; want a second send after the check", err, n)
	}
}

func TestDoRetryAfter(t *testing.T) {
	// A delay longer than MaxRetryAfter ends the call at once.
	p := fast
	p.MaxRetryAfter = time.Second
	n := 0
	err := Do(context.Background(), p, Call{Idempotent: true}, func(context.Context, int) Attempt {
		n++
		return fail(429, http.Header{"Retry-After": {"3600"}})
	})
	if n != 1 || err == nil || !strings.Contains(err.Error(), "asks to wait 1h0m0s") {
		t.Fatalf("sent %d, err %v; want one send and the cap named", n, err)
	}
	// A delay past the deadline ends it at once too, wrapping DeadlineExceeded.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n = 0
	err = Do(ctx, Policy{}, Call{Idempotent: true}, func(context.Context, int) Attempt {
		n++
		return fail(429, http.Header{"Retry-After": {time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)}})
	})
	if n != 1 || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "after the deadline") {
		t.Fatalf("sent %d, err %v; want one send and a deadline error", n, err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"2":                             2 * time.Second,
		"1.5":                           1500 * time.Millisecond,
		"-1":                            0,
		"soon":                          0,
		"Fri, 02 Jan 2026 03:04:35 GMT": 30 * time.Second,
		"Fri, 02 Jan 2026 03:00:00 GMT": 0,
	} {
		if got := ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
	h := http.Header{"Retry-After": {"1"}, "Retry-After-Sandbox": {"4"}}
	if got := RetryAfter(h, now); got != 4*time.Second {
		t.Errorf("RetryAfter = %s, want the longest, 4s", got)
	}
}

func TestStatusErrorAndRedact(t *testing.T) {
	if !errors.Is(StatusError(404), backend.ErrNotFound) || !errors.Is(StatusError(403), ErrUnauthorized) || StatusError(500) != nil {
		t.Error("status mapping")
	}
	if got := Redact("token abcd1234 here", "abcd1234", "ab"); got != "token [redacted] here" {
		t.Errorf("Redact = %q", got)
	}
}

func TestCounterCountsAttempts(t *testing.T) {
	p := fast
	p.Counter = &Counter{}
	_ = Do(context.Background(), p, Call{Idempotent: true}, func(context.Context, int) Attempt { return fail(500, nil) })
	if got := p.Counter.Load(); got != 4 {
		t.Errorf("counted %d, want 4", got)
	}
}
