package sprites

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/httpapi"
)

// DefaultAPIURL is the Sprites API base URL used when neither Config.APIURL nor the environment sets one.
const DefaultAPIURL = "https://api.sprites.dev"

// Environment variables read by New when Config leaves a value empty.
const (
	// EnvToken is the first variable the token is read from (the one @ekairos/sandbox reads).
	EnvToken = "SPRITES_API_TOKEN"
	// EnvTokenAlt and EnvTokenAlt2 are read next, in this order (names used by the Sprites docs and CLI).
	EnvTokenAlt  = "SPRITE_TOKEN"
	EnvTokenAlt2 = "SPRITES_TOKEN"
	// EnvAPIURL and EnvAPIURLAlt override the API URL, in this order (CLI and @ekairos/sandbox names).
	EnvAPIURL    = "SPRITES_API_URL"
	EnvAPIURLAlt = "SPRITES_API_BASE_URL"
)

// Retry defaults; see Config.
const (
	DefaultMaxRetries     = 5
	DefaultMinBackoff     = 250 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
	DefaultMaxRetryAfter  = 2 * time.Minute
	DefaultRequestTimeout = 60 * time.Second
	// createTimeout bounds one sprite-create attempt: with wait_for_capacity the API holds the request until a
	// VM is free (the official SDKs allow 120 s).
	createTimeout = 150 * time.Second
)

// maxErrorBody bounds how much of an error body is read; maxJSONBody bounds a JSON answer.
const (
	maxErrorBody = 64 << 10
	maxJSONBody  = 32 << 20
)

// tokenHint is appended to authentication errors. It names the variables, never the token.
var tokenHint = httpapi.AuthHint("the Sprites API token", "the provider setting", EnvToken, EnvTokenAlt, EnvTokenAlt2)

// Errors wrapped by APIError (see APIError.Unwrap) and by the client.
var (
	// ErrUnauthorized is wrapped by 401 and 403 answers: the hosted clients' one httpapi.ErrUnauthorized.
	ErrUnauthorized = httpapi.ErrUnauthorized
	// ErrConflict is wrapped by 409 answers (a name already taken).
	ErrConflict = errors.New("sprites: conflict")
	// ErrRateLimited is wrapped by 429 answers that retries could not get past.
	ErrRateLimited = errors.New("sprites: rate limited")
	// ErrMissingToken is returned by New when no token is configured.
	ErrMissingToken = errors.New("sprites: no API token: set the provider's sprites token, or " + EnvToken + " (also read: " + EnvTokenAlt + ", " + EnvTokenAlt2 + ")")
	// ErrOperationFailed is wrapped when a streamed operation (checkpoint, restore) reports an error inside its
	// 200 answer, or ends without saying it completed.
	ErrOperationFailed = errors.New("sprites: operation failed")
)

// Config configures the client and the engine.
type Config struct {
	// Token is the Sprites API token; "" = SPRITES_API_TOKEN, then SPRITE_TOKEN, then SPRITES_TOKEN. It is sent
	// only as a bearer header and never appears in errors.
	Token string
	// APIURL is the API base URL; "" = SPRITES_API_URL, then SPRITES_API_BASE_URL, then DefaultAPIURL.
	APIURL string
	// HTTPClient sends the REST calls; nil = a client with no overall timeout (every attempt has its own).
	// When its Transport is an *http.Transport, WebSocket dials reuse its TLS settings and proxy.
	HTTPClient *http.Client
	// MaxRetries is how many times a failed call is retried (429, 5xx, connection errors); 0 =
	// DefaultMaxRetries, negative = never. Retries never run past the context's deadline.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the jittered exponential backoff; 0 = the defaults.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest rate-limit delay waited for; a longer one ends the call at once. 0 =
	// DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// RequestTimeout bounds one attempt of a non-streaming call; 0 = DefaultRequestTimeout.
	RequestTimeout time.Duration
	// BaseEnv is the environment every command starts from (the exec API replaces the sprite's environment when
	// any variable is sent, so PATH and HOME must be sent too); nil = DefaultBaseEnv.
	BaseEnv map[string]string
	// DefaultTimeout is a command's timeout when neither the request nor the sandbox sets one; 0 =
	// DefaultCommandTimeout.
	DefaultTimeout time.Duration
	// SetupTimeout is a setup command's timeout when its spec sets none; 0 = DefaultSetupTimeout.
	SetupTimeout time.Duration
	// KillGrace is how long a timed-out command may take to report its exit code after it was sent SIGKILL;
	// 0 = 3s.
	KillGrace time.Duration
}

// Client is a small typed client of the Sprites REST and WebSocket API.
type Client struct {
	token      string
	base       *url.URL
	http       *http.Client   // also dials the exec WebSockets
	rest       httpapi.Client // the hosted clients' one client, for every REST call
	reqTimeout time.Duration
	killGrace  time.Duration
}

// resolveToken returns the configured token or the first one set in the environment.
func resolveToken(token string) string {
	if token != "" {
		return token
	}
	for _, k := range []string{EnvToken, EnvTokenAlt, EnvTokenAlt2} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	return ""
}

func resolveAPIURL(u string) string {
	if u != "" {
		return u
	}
	for _, k := range []string{EnvAPIURL, EnvAPIURLAlt} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	return DefaultAPIURL
}

// NewClient makes a client from cfg (with the environment fallbacks documented on Config).
func NewClient(cfg Config) (*Client, error) {
	token := resolveToken(cfg.Token)
	if token == "" {
		return nil, ErrMissingToken
	}
	if strings.ContainsAny(token, "\r\n") {
		return nil, errors.New("sprites: the API token contains a line break")
	}
	raw := resolveAPIURL(cfg.APIURL)
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("sprites: API URL %q is not an http(s) URL", raw)
	}
	if base.RawQuery != "" || base.Fragment != "" || base.User != nil {
		return nil, fmt.Errorf("sprites: API URL %q must not carry a query, fragment or user info", raw)
	}
	c := &Client{
		token:      token,
		base:       base,
		http:       cfg.HTTPClient,
		reqTimeout: cfg.RequestTimeout,
		killGrace:  cfg.KillGrace,
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	policy := httpapi.Policy{MaxRetries: cfg.MaxRetries, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
		MaxRetryAfter: cfg.MaxRetryAfter, Counter: httpapi.CounterFor("sprites")}
	if policy.MaxRetries == 0 {
		policy.MaxRetries = DefaultMaxRetries
	}
	if policy.MinBackoff <= 0 {
		policy.MinBackoff = DefaultMinBackoff
	}
	c.rest = httpapi.Client{Name: "sprites API", HTTP: c.http, Policy: policy, Secrets: []string{token}, MaxBody: maxJSONBody,
		MaxErrorBody: maxErrorBody, ErrorOf: apiError,
		Header: http.Header{"Authorization": {"Bearer " + token}, "User-Agent": {"terraform-provider-sandbox"}}}
	if c.reqTimeout <= 0 {
		c.reqTimeout = DefaultRequestTimeout
	}
	if c.killGrace <= 0 {
		c.killGrace = 3 * time.Second
	}
	return c, nil
}

// APIURL returns the base URL the client talks to.
func (c *Client) APIURL() string { return c.base.String() }

// APIError is an error answer of the Sprites API: its HTTP status and what its body says, in either of the
// API's shapes ({"error", "message"} or {"errors": [...]}), or the raw body when it is not JSON. The token is
// redacted from every text it holds.
type APIError struct {
	Method string // HTTP method
	Path   string // request path, without the query (which may hold env values)
	Status int    // HTTP status
	// Code is the body's "error" field (a machine code such as "sprite_creation_rate_limited", or a text).
	Code string
	// Message is the body's "message" field, the joined "errors" list, or the raw body.
	Message string
	// FSCode is the filesystem API's errno-like "code" (ENOENT, EISDIR, ...), "" elsewhere.
	FSCode string
	// RetryAfter is the delay the API asked for (retry_after_seconds, else the Retry-After header).
	RetryAfter time.Duration
	// Attempts is how many times the call was sent (the error's text says it through httpapi.RetryError).
	Attempts int
}

// Error reports the call, the HTTP status and the API's message.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sprites API %s %s: HTTP %d", e.Method, e.Path, e.Status)
	switch {
	case e.Code != "" && e.Message != "" && e.Code != e.Message:
		fmt.Fprintf(&b, ": %s: %s", e.Code, e.Message)
	case e.Code != "":
		b.WriteString(": " + e.Code)
	case e.Message != "":
		b.WriteString(": " + e.Message)
	default:
		b.WriteString(" " + http.StatusText(e.Status))
	}
	if e.FSCode != "" {
		fmt.Fprintf(&b, " (%s)", e.FSCode)
	}
	if e.Status == http.StatusTooManyRequests && e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		b.WriteString("; " + tokenHint)
	}
	return b.String()
}

// Unwrap maps the status to the errors callers test with errors.Is: backend.ErrNotFound for a 404 about an API
// object (a sprite, a checkpoint), fs.ErrNotExist for a 404 of the filesystem API (a missing file, which is not
// a missing sprite), ErrUnauthorized, ErrConflict and ErrRateLimited.
func (e *APIError) Unwrap() []error {
	switch {
	case e.FSCode == "ENOENT":
		return []error{fs.ErrNotExist}
	case e.Status == http.StatusNotFound && e.FSCode != "":
		return nil
	case e.Status == http.StatusConflict:
		return []error{ErrConflict}
	case e.Status == http.StatusTooManyRequests:
		return []error{ErrRateLimited}
	}
	if err := httpapi.StatusError(e.Status); err != nil {
		return []error{err}
	}
	return nil
}

// HTTPStatus is the answer's status (httpapi.StatusOf).
func (e *APIError) HTTPStatus() int { return e.Status }

// RetryAfterDelay is the delay the API asked for (httpapi.RetryAfterError).
func (e *APIError) RetryAfterDelay() time.Duration { return e.RetryAfter }

// transportError is a connection-level failure (no HTTP answer) of an exec WebSocket dial: retried.
type transportError struct {
	op  string
	err error
}

func (e *transportError) Error() string { return e.op + ": " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// parseAPIError reads an error answer. The body's shapes: {"error", "message", "retry_after_seconds", ...},
// {"errors": ["..."]}, the filesystem API's {"error", "code", "path"}, or plain text.
// The body comes with the secrets already redacted (httpapi.Client).
func apiError(r *httpapi.Request, status int, header http.Header, body []byte) error {
	e := &APIError{Method: r.Method, Path: r.Path, Status: status}
	var doc struct {
		Error             json.RawMessage `json:"error"`
		Message           string          `json:"message"`
		Errors            []any           `json:"errors"`
		Code              string          `json:"code"`
		RetryAfterSeconds float64         `json:"retry_after_seconds"`
	}
	text := strings.TrimSpace(string(body))
	if err := json.Unmarshal(body, &doc); err == nil && strings.HasPrefix(text, "{") {
		if len(doc.Error) > 0 {
			var s string
			if json.Unmarshal(doc.Error, &s) == nil {
				e.Code = s
			} else {
				e.Code = string(doc.Error)
			}
		}
		e.Message = doc.Message
		if len(doc.Errors) > 0 {
			parts := make([]string, 0, len(doc.Errors))
			for _, x := range doc.Errors {
				if s, ok := x.(string); ok {
					parts = append(parts, s)
				} else {
					b, _ := json.Marshal(x)
					parts = append(parts, string(b))
				}
			}
			if e.Message != "" {
				parts = append([]string{e.Message}, parts...)
			}
			e.Message = strings.Join(parts, "; ")
		}
		e.FSCode = doc.Code
		if doc.RetryAfterSeconds > 0 {
			e.RetryAfter = time.Duration(doc.RetryAfterSeconds * float64(time.Second))
		}
	} else if text != "" {
		e.Message = httpapi.Snippet(body, 512)
	}
	if e.RetryAfter <= 0 {
		e.RetryAfter = httpapi.RetryAfter(header, time.Now())
	}
	return e
}

// redact removes the token from a text that came from the network or from an error.
func (c *Client) redact(s string) string { return httpapi.Redact(s, c.token) }

// withRetry runs an exec WebSocket dial under the hosted clients' one retry policy (httpapi.Do), as
// httpapi.Client runs the REST calls.
func (c *Client) withRetry(ctx context.Context, hc httpapi.Call, attempt func(ctx context.Context) error) error {
	return httpapi.Do(ctx, c.rest.Policy, hc, func(ctx context.Context, n int) httpapi.Attempt {
		err := attempt(ctx)
		a := httpapi.Attempt{Err: err}
		var apiErr *APIError
		var tErr *transportError
		switch {
		case err == nil:
		case errors.As(err, &apiErr):
			apiErr.Attempts = n
			a.Status, a.RetryAfter = apiErr.Status, apiErr.RetryAfter
		case errors.As(err, &tErr):
		default:
			a.Permanent = true
		}
		return a
	})
}

// call is one REST call.
type call struct {
	method string
	path   string // already escaped
	query  url.Values
	body   []byte
	ctype  string
	accept string
	// timeout bounds each attempt; 0 = the client's RequestTimeout; negative = only the context (streams).
	timeout time.Duration
	// retry says when the call may be sent again (see httpapi.Call): reads, deletes and whole-state writes are
	// idempotent; a checkpoint is not.
	retry httpapi.Call
}

// do sends a call through the hosted clients' one client (httpapi.Client: retries, redaction, error bodies)
// and returns a 2xx answer, whose body the caller closes.
func (c *Client) do(ctx context.Context, cl call) (*http.Response, error) {
	u := *c.base
	unescaped, err := url.PathUnescape(cl.path)
	if err != nil {
		return nil, fmt.Errorf("sprites API %s %s: %w", cl.method, cl.path, err)
	}
	u.Path = c.base.Path + unescaped
	u.RawPath = c.base.EscapedPath() + cl.path
	u.RawQuery = cl.query.Encode()
	timeout := cl.timeout
	switch {
	case timeout == 0:
		timeout = c.reqTimeout
	case timeout < 0:
		timeout = 0
	}
	accept := cl.accept
	if accept == "" {
		accept = "application/json"
	}
	resp, err := c.rest.Send(ctx, httpapi.Request{Method: cl.method, URL: u.String(), Path: cl.path, Body: cl.body,
		ContentType: cl.ctype, Header: http.Header{"Accept": {accept}}, Call: cl.retry, Timeout: timeout, Stream: true})
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			apiErr.Attempts = httpapi.AttemptsOf(err)
		}
		return nil, err
	}
	if resp == nil {
		return nil, nil // the call's check found that a failed attempt went through
	}
	return resp.HTTP, nil
}

// scrubURLError drops the URL (whose query may hold file paths or env values) from a transport error.
func (c *Client) scrubURLError(err error) error {
	var uErr *url.Error
	if errors.As(err, &uErr) {
		return uErr.Err
	}
	return err
}

// doJSON sends a call and decodes a JSON answer into out (nil = discard the body).
func (c *Client) doJSON(ctx context.Context, cl call, in, out any) error {
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("sprites API %s %s: encoding the request: %w", cl.method, cl.path, err)
		}
		cl.body, cl.ctype = b, "application/json"
	}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody))
	if err != nil {
		return fmt.Errorf("sprites API %s %s: reading the answer: %w", cl.method, cl.path, c.scrubURLError(err))
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("sprites API %s %s: decoding the answer: %w", cl.method, cl.path, err)
	}
	return nil
}

// spritePath returns /v1/sprites/<escaped name><rest>.
func spritePath(name, rest string) string {
	return "/v1/sprites/" + url.PathEscape(name) + rest
}

// idempotent is the retry rule of a call that may be sent again after a 5xx or a lost connection: a read, a
// delete, a whole-state write (PUT, policy POST), a restore to a named checkpoint, and the create of a sprite
// by name (a second create of a name cannot make a second sprite: it answers 409, which CreateSandbox checks).
var idempotent = httpapi.Call{Idempotent: true}
