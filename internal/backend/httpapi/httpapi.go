// Package httpapi is the one HTTP retry policy, status mapping, secret redaction, request count and state
// poller of the hosted engines (daytona, vercel, sprites) and the InstantDB store. Each client keeps its own
// API's shapes (paths, bodies, error bodies) and sends its requests through Do, so that every hosted client
// retries by the same rule:
//
//   - 429 is always retried (the service refused the request, so it did not take effect), after the delay
//     it asks for (Retry-After in seconds or as an HTTP date) or the backoff, whichever is longer;
//   - a 5xx answer or a connection lost after the request was sent is retried only for an idempotent
//     request; a request that is not idempotent is retried only when Call.Check says that it did not take
//     effect (and not at all without a Check), so that a retry never makes a second object;
//   - a connection that could not be made (dial or DNS failure) is retried for every request (nothing was
//     sent); certificate errors are never retried;
//   - waits grow exponentially with jitter; a Retry-After longer than Policy.MaxRetryAfter, or a wait that
//     would end after the context's deadline (the operation's timeout), ends the call at once with the last
//     error, saying why.
package httpapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Defaults of Policy.
const (
	DefaultMaxRetries    = 4
	DefaultMinBackoff    = 400 * time.Millisecond
	DefaultMaxBackoff    = 10 * time.Second
	DefaultMaxRetryAfter = 2 * time.Minute
)

// ErrUnauthorized is wrapped by 401 and 403 answers (see StatusError).
var ErrUnauthorized = errors.New("credentials rejected")

// Policy is the retry policy of one client. The zero value is the defaults.
type Policy struct {
	// MaxRetries is how many times a call is sent again; 0 = DefaultMaxRetries, negative = never.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the jittered exponential backoff; 0 = the defaults.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest delay asked by the service that is waited for; 0 = DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// Counter, when set, counts every attempt sent (make bench's requests per resource).
	Counter *Counter
}

func (p Policy) normal() Policy {
	switch {
	case p.MaxRetries == 0:
		p.MaxRetries = DefaultMaxRetries
	case p.MaxRetries < 0:
		p.MaxRetries = 0
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = DefaultMinBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = p.MinBackoff
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return p
}

// Backoff is the jittered exponential wait before retry number n (0-based): in [d/2, d] with d =
// MinBackoff·2^n capped at MaxBackoff.
func (p Policy) Backoff(n int) time.Duration {
	p = p.normal()
	d := p.MinBackoff << min(n, 20)
	if d <= 0 || d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Attempt is the outcome of sending a request once.
type Attempt struct {
	// Status is the HTTP status of the answer; 0 when there was none (Err is then the transport error).
	Status int
	// Header is the answer's header (for Retry-After).
	Header http.Header
	// RetryAfter is a delay the answer's body asked for (some APIs put it there); the header is read too and
	// the longer wins.
	RetryAfter time.Duration
	// Err is nil for a success, else the error to return if the call ends with this attempt.
	Err error
	// Permanent marks an error that no retry can fix (a request that could not be built, an answer that
	// could not be read as the API's): returned at once.
	Permanent bool
}

// Call describes a request to Do.
type Call struct {
	// Idempotent requests (reads, deletes, puts of a whole state) may be sent again after a 5xx or a lost
	// connection.
	Idempotent bool
	// Check, for a request that is not idempotent, tells after a 5xx or a lost connection whether the request
	// took effect anyway. applied = true ends the call with success (Check records what the request would
	// have answered); false sends it again. Without Check such a request is not retried.
	Check func(ctx context.Context) (applied bool, err error)
}

// Do sends a request by calling send (with the attempt number, from 1) until it succeeds or the policy says
// stop; see the package documentation for the rules. The error returned is the last attempt's Err, wrapped in
// a *RetryError when the call was sent more than once or a retry was refused.
func Do(ctx context.Context, p Policy, c Call, send func(ctx context.Context, n int) Attempt) error {
	p = p.normal()
	for n := 1; ; n++ {
		if p.Counter != nil {
			p.Counter.add()
		}
		a := send(ctx, n)
		if a.Err == nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return &RetryError{Err: a.Err, Attempts: n, Reason: "interrupted", cause: ctxErr}
		}
		retry, why := false, ""
		switch {
		case a.Permanent:
		case a.Status == http.StatusTooManyRequests:
			retry = true
		case a.Status >= 500 || (a.Status == 0 && Retryable(a.Err)):
			switch {
			case c.Idempotent || (a.Status == 0 && NeverSent(a.Err)):
				retry = true
			case c.Check != nil:
				applied, err := c.Check(ctx)
				if err != nil {
					return &RetryError{Err: a.Err, Attempts: n, Reason: "not retried: checking whether the request took effect failed: " + err.Error()}
				}
				if applied {
					return nil
				}
				retry = true
			default:
				why = "not retried: the request is not idempotent and may have taken effect"
			}
		}
		if !retry {
			if why != "" || n > 1 {
				return &RetryError{Err: a.Err, Attempts: n, Reason: why}
			}
			return a.Err
		}
		if n > p.MaxRetries {
			return &RetryError{Err: a.Err, Attempts: n}
		}
		after := max(a.RetryAfter, RetryAfter(a.Header, time.Now()))
		if after > p.MaxRetryAfter {
			return &RetryError{Err: a.Err, Attempts: n, Reason: fmt.Sprintf("not retried: the service asks to wait %s, more than the %s this client waits", after.Round(time.Millisecond), p.MaxRetryAfter)}
		}
		wait := max(p.Backoff(n-1), after)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return &RetryError{Err: a.Err, Attempts: n, cause: context.DeadlineExceeded,
				Reason: fmt.Sprintf("not retried: the next attempt, in %s, would start after the deadline", wait.Round(time.Millisecond))}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &RetryError{Err: a.Err, Attempts: n, Reason: "interrupted", cause: ctx.Err()}
		case <-t.C:
		}
	}
}

// RetryError is the last error of a call that was retried, or whose retry was refused.
type RetryError struct {
	Err      error
	Attempts int
	Reason   string // why no further attempt was made ("" = the retries ran out)
	cause    error  // context.DeadlineExceeded or context.Canceled when the context ended the call
}

func (e *RetryError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	var parts []string
	if e.Attempts > 1 {
		parts = append(parts, fmt.Sprintf("gave up after %d attempts", e.Attempts))
	}
	if e.Reason != "" {
		r := e.Reason
		if e.cause != nil && r == "interrupted" {
			r = "interrupted: " + e.cause.Error()
		}
		parts = append(parts, r)
	}
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, "; ") + ")")
	}
	return b.String()
}

// Unwrap returns the last attempt's error and, when the context ended the call, the context's error.
func (e *RetryError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Err, e.cause}
	}
	return []error{e.Err}
}

// AttemptsOf returns how many times the call that returned err was sent (1 when err is not a *RetryError).
func AttemptsOf(err error) int {
	var re *RetryError
	if errors.As(err, &re) {
		return re.Attempts
	}
	return 1
}

// Retryable reports whether a transport error may go away on retry: certificate problems do not.
func Retryable(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	return !errors.As(err, &certErr) && !errors.As(err, &unknownAuth) && !errors.As(err, &hostErr)
}

// NeverSent reports whether a transport error means that the request cannot have reached the service (the
// connection was never made), so that even a request that is not idempotent may be sent again.
func NeverSent(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// RetryAfter returns the longest delay asked by a Retry-After or Retry-After-<name> header (delay-seconds,
// fractions accepted, or an HTTP date), 0 when there is none.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	var longest time.Duration
	for k, vs := range h {
		if !strings.HasPrefix(strings.ToLower(k), "retry-after") {
			continue
		}
		for _, v := range vs {
			longest = max(longest, ParseRetryAfter(v, now))
		}
	}
	return longest
}

// ParseRetryAfter reads one Retry-After value: seconds (a fraction accepted) or an HTTP date; 0 when it is
// absent, past or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 1e9 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// StatusError maps an HTTP status to the error callers test with errors.Is: backend.ErrNotFound for 404,
// ErrUnauthorized for 401 and 403, nil otherwise.
func StatusError(status int) error {
	switch status {
	case http.StatusNotFound:
		return backend.ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	}
	return nil
}

// AuthHint is the text appended to a 401/403 error: it names the environment variables the credential is
// read from, never the credential.
func AuthHint(what string, envs ...string) string {
	return "check " + what + " (" + strings.Join(envs, " or ") + ")"
}

// Redact replaces every secret (of at least 4 characters, so that short values do not blank out the text)
// in s by [redacted].
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// RedactedError keeps an error for errors.Is and errors.As but never prints a secret.
type RedactedError struct {
	Prefix  string
	Err     error
	Secrets []string
}

func (e *RedactedError) Error() string { return e.Prefix + Redact(e.Err.Error(), e.Secrets...) }
func (e *RedactedError) Unwrap() error { return e.Err }

// Counter counts the requests a client sends.
type Counter struct{ n atomic.Int64 }

func (c *Counter) add() { c.n.Add(1) }

// Load returns the number of requests counted.
func (c *Counter) Load() int64 { return c.n.Load() }

var (
	countersMu sync.Mutex
	counters   = map[string]*Counter{}
)

// CounterFor returns the process-wide counter of one client kind ("daytona", "vercel", "sprites",
// "instantdb"), made on first use.
func CounterFor(name string) *Counter {
	countersMu.Lock()
	defer countersMu.Unlock()
	c := counters[name]
	if c == nil {
		c = &Counter{}
		counters[name] = c
	}
	return c
}

// Poll calls check until it reports done or fails, waiting first `first` and then 1.5 times longer each
// time up to `most` (the official clients' cadence: start fast, back off), and stops at the context's end
// with an error naming what was awaited and, through last (may be nil), the last state seen.
func Poll(ctx context.Context, what string, first, most time.Duration, check func() (done bool, err error), last func() string) error {
	wait := first
	for {
		done, err := check()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			seen := ""
			if last != nil {
				seen = " (last seen: " + last() + ")"
			}
			return fmt.Errorf("waiting for %s%s: %w", what, seen, ctx.Err())
		case <-t.C:
		}
		wait = min(time.Duration(float64(wait)*1.5), most)
	}
}
