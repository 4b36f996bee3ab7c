package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// DefaultMaxBody bounds an answer's body that Client.Send reads (command output and downloaded files
// included).
const DefaultMaxBody = 256 << 20

// Client is the one HTTP client of the hosted engines and the InstantDB store: it sends a Request under the
// retry Policy (Do), with the client's headers (credentials, user agent), reads the answer, keeps every
// secret out of errors, and turns an answer that is not a success into the service's own error through
// ErrorOf. What stays in a service's package is its API's shapes: paths, bodies, and ErrorOf.
type Client struct {
	// Name names the client in errors ("daytona", "vercel", ...).
	Name string
	// HTTP sends the requests; nil = a client without an overall timeout (every call is bounded by its
	// context, and each attempt by Request.Timeout).
	HTTP *http.Client
	// Policy is the retry policy (its Counter counts the attempts for make bench).
	Policy Policy
	// Header is sent with every request (Authorization, User-Agent, ...).
	Header http.Header
	// Secrets are redacted from every error the client returns (the credentials, at least).
	Secrets []string
	// ErrorOf makes the error of an answer that is not a 2xx from its status, header and body (at most
	// MaxErrorBody bytes, the secrets already redacted from it), with the service's message. nil = a
	// *StatusText error with the body's start.
	ErrorOf func(r *Request, status int, header http.Header, body []byte) error
	// MaxBody bounds a 2xx answer's body that is read; 0 = DefaultMaxBody.
	MaxBody int64
	// MaxErrorBody bounds an error answer's body that is read; 0 = 64 KiB.
	MaxErrorBody int64
}

// Request is one call of a Client.
type Request struct {
	Method string
	// URL is the full URL; Path is what errors show of it (without the query, which may hold secrets).
	URL  string
	Path string
	// Body is sent as is with ContentType (nil = no body).
	Body        []byte
	ContentType string
	// Header holds headers of this request only.
	Header http.Header
	// Secrets are redacted from errors besides the client's (credentials sent in this request's body).
	Secrets []string
	// Call says when the request may be sent again (idempotency, Check).
	Call Call
	// Timeout bounds each attempt (0 = only the context). A streamed answer's attempt ends when its body is
	// closed.
	Timeout time.Duration
	// Attempted, when set, is told the outcome of every attempt (status 0: no answer; err nil: a success),
	// for a caller that must know whether a failed attempt may have been applied.
	Attempted func(status int, err error)
	// Stream returns the 2xx answer open (Response.HTTP; the caller closes its Body) instead of reading it.
	Stream bool
}

// Response is a 2xx answer.
type Response struct {
	Status int
	Header http.Header
	// Body is the answer's body (nil with Request.Stream).
	Body []byte
	// HTTP is the open answer with Request.Stream.
	HTTP *http.Response
}

// RetryAfterError is implemented by a service error whose body asks for a delay (besides Retry-After).
type RetryAfterError interface {
	RetryAfterDelay() time.Duration
}

// StatusText is the error of an answer that is not a success when Client.ErrorOf is nil.
type StatusText struct {
	Name, Method, Path string
	Status             int
	Text               string
}

func (e *StatusText) Error() string {
	return fmt.Sprintf("%s: %s %s: HTTP %d: %s", e.Name, e.Method, e.Path, e.Status, e.Text)
}

// Unwrap maps the status (StatusError).
func (e *StatusText) Unwrap() error { return StatusError(e.Status) }

// Send sends r under the client's policy until it succeeds or the policy stops, and returns the 2xx
// answer, or nil and no error when r.Call.Check found that a failed attempt had gone through. The error is the service's (ErrorOf) for an error answer, a transport error with the secrets
// redacted, or the last of them wrapped in a *RetryError (see Do).
func (c *Client) Send(ctx context.Context, r Request) (*Response, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	prefix := fmt.Sprintf("%s: %s %s: ", c.Name, r.Method, r.Path)
	secrets := append(append([]string(nil), c.Secrets...), r.Secrets...)
	var out *Response
	err := Do(ctx, c.Policy, r.Call, func(ctx context.Context, _ int) Attempt {
		a := c.attempt(ctx, hc, &r, prefix, secrets, &out)
		if r.Attempted != nil {
			r.Attempted(a.Status, a.Err)
		}
		return a
	})
	return out, err
}

// attempt sends r once.
func (c *Client) attempt(ctx context.Context, hc *http.Client, r *Request, prefix string, secrets []string, out **Response) Attempt {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if r.Timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, r.Timeout)
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(actx, r.Method, r.URL, body)
	if err != nil {
		cancel()
		return Attempt{Permanent: true, Err: &RedactedError{Prefix: prefix, Err: err, Secrets: secrets}}
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if r.Body != nil && r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		var uErr *url.Error
		if errors.As(err, &uErr) {
			err = uErr.Err // the URL's query may hold secrets or env values; Path says which call it was
		}
		return Attempt{Err: &RedactedError{Prefix: prefix, Err: err, Secrets: secrets}}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		max := c.MaxErrorBody
		if max <= 0 {
			max = 64 << 10
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, max))
		b = []byte(Redact(string(b), secrets...))
		_ = resp.Body.Close()
		cancel()
		a := Attempt{Status: resp.StatusCode, Header: resp.Header, Err: c.errorOf(r, resp.StatusCode, resp.Header, b)}
		var ra RetryAfterError
		if errors.As(a.Err, &ra) {
			a.RetryAfter = ra.RetryAfterDelay()
		}
		return a
	}
	if r.Stream {
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		*out = &Response{Status: resp.StatusCode, Header: resp.Header, HTTP: resp}
		return Attempt{Status: resp.StatusCode}
	}
	defer cancel()
	defer func() { _ = resp.Body.Close() }()
	max := c.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	switch {
	case err != nil:
		return Attempt{Err: &RedactedError{Prefix: prefix + "reading the answer: ", Err: err, Secrets: secrets}}
	case int64(len(b)) > max:
		return Attempt{Permanent: true, Err: fmt.Errorf("%sanswer larger than %d bytes", prefix, max)}
	}
	*out = &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	return Attempt{Status: resp.StatusCode}
}

func (c *Client) errorOf(r *Request, status int, header http.Header, body []byte) error {
	if c.ErrorOf != nil {
		return c.ErrorOf(r, status, header, body)
	}
	return &StatusText{Name: c.Name, Method: r.Method, Path: r.Path, Status: status, Text: Snippet(body, 512)}
}

// Snippet is the start of a body that is not the API's error shape, for an error's text: at most n bytes
// of its trimmed text, "..." marking a cut.
func Snippet(body []byte, n int) string {
	s := string(bytes.TrimSpace(body))
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// cancelOnClose ends a streamed attempt's context once its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// HTTPStatusError is implemented by a service's error answer.
type HTTPStatusError interface {
	HTTPStatus() int
}

// StatusOf returns the HTTP status of the service's error answer in err's chain, 0 when there is none.
func StatusOf(err error) int {
	var se HTTPStatusError
	if errors.As(err, &se) {
		return se.HTTPStatus()
	}
	return 0
}

// HTTPStatus makes StatusText an HTTPStatusError.
func (e *StatusText) HTTPStatus() int { return e.Status }
