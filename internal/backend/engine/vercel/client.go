package vercel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/httpapi"
)

// DefaultAPIURL is the Vercel REST API's base URL. (The official SDK uses https://vercel.com/api, which fronts
// the same API.)
const DefaultAPIURL = "https://api.vercel.com"

// Environment variables a provider reads for this engine. The engine itself reads none: the provider passes
// their values in Config.
const (
	EnvToken     = "VERCEL_TOKEN"      // a Vercel access token
	EnvOIDCToken = "VERCEL_OIDC_TOKEN" // a Vercel OIDC token (JWT); its claims give the team and project
	EnvTeamID    = "VERCEL_TEAM_ID"
	EnvProjectID = "VERCEL_PROJECT_ID"
)

// Defaults of Config.
const (
	DefaultMaxRetries     = 4
	DefaultRetryBaseDelay = 400 * time.Millisecond
	DefaultRetryMaxDelay  = 10 * time.Second
	DefaultPollInterval   = 500 * time.Millisecond
)

// Config configures the client and the engine.
type Config struct {
	// Token is a Vercel access token or a Vercel OIDC token (required). It is sent as a bearer token and never
	// appears in errors.
	Token string
	// TeamID scopes every request (query teamId). With an OIDC token it defaults to the token's owner_id claim.
	TeamID string
	// TeamSlug scopes every request (query slug) when TeamID is empty.
	TeamSlug string
	// ProjectID owns the sandboxes (required). With an OIDC token it defaults to the token's project_id claim.
	ProjectID string
	// APIURL is the API's base URL; "" = DefaultAPIURL.
	APIURL string
	// HTTPClient sends the requests; nil = a client without an overall timeout (command streams and waits can
	// be long: every call is bounded by its context instead).
	HTTPClient *http.Client
	// MaxRetries is how many times a failed request is retried (429, 5xx, connection errors); 0 =
	// DefaultMaxRetries, negative = never.
	MaxRetries int
	// RetryBaseDelay is the first backoff; it doubles at every retry, with jitter; 0 = DefaultRetryBaseDelay.
	RetryBaseDelay time.Duration
	// RetryMaxDelay caps one backoff; 0 = DefaultRetryMaxDelay.
	RetryMaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After (seconds, fractions accepted, or an HTTP date) waited for; a
	// longer one, or one that ends after the context's deadline, ends the retries at once. 0 =
	// httpapi.DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// PollInterval is how often the engine polls a sandbox that is starting or stopping; 0 =
	// DefaultPollInterval.
	PollInterval time.Duration
	// UserAgent is sent with every request; "" = "terraform-provider-sandbox (vercel engine)".
	UserAgent string
}

// Client is a small typed client of the Vercel Sandbox REST API (named sandboxes with sessions: /v2 and /v3).
// Every request carries the bearer token and the team (teamId or slug); the project goes where the API wants
// it. Failed requests are retried by the hosted clients' one policy (httpapi.Do): 429 (honouring Retry-After,
// capped), 5xx and connection errors, with jittered exponential backoff, never past the context's deadline;
// requests that are not idempotent (running a command, taking a snapshot, extending a timeout) are retried
// only when they cannot have reached the API (a 429, or a connection that could not be made).
type Client struct {
	teamID    string
	teamSlug  string
	projectID string
	base      *url.URL
	http      httpapi.Client
}

// ErrMissingToken is returned (wrapped) by NewClient and New when Config.Token is empty.
var ErrMissingToken = errors.New("no Vercel token: set " + EnvToken + " (an access token) or " + EnvOIDCToken + " (an OIDC token), or the provider's token attribute")

// NewClient checks the configuration and makes a client. With an OIDC token (a JWT) and no team or project,
// they are taken from its owner_id and project_id claims, as the official SDK does.
func NewClient(cfg Config) (*Client, error) {
	token := strings.TrimSpace(cfg.Token)
	if token == "" {
		return nil, fmt.Errorf("vercel: %w", ErrMissingToken)
	}
	team, project := cfg.TeamID, cfg.ProjectID
	if owner, proj, ok := oidcClaims(token); ok {
		if team == "" && cfg.TeamSlug == "" {
			team = owner
		}
		if project == "" {
			project = proj
		}
	}
	if team == "" && cfg.TeamSlug == "" {
		return nil, fmt.Errorf("vercel: no team: set %s (or the provider's team_id), or use an OIDC token (%s), whose owner_id claim names the team", EnvTeamID, EnvOIDCToken)
	}
	if project == "" {
		return nil, fmt.Errorf("vercel: no project: set %s (or the provider's project_id), or use an OIDC token (%s), whose project_id claim names the project", EnvProjectID, EnvOIDCToken)
	}
	raw := cfg.APIURL
	if raw == "" {
		raw = DefaultAPIURL
	}
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("vercel: the API URL %q is not an http(s) URL", raw)
	}
	c := &Client{
		teamID: team, teamSlug: cfg.TeamSlug, projectID: project, base: base,
		http: httpapi.Client{Name: "vercel", HTTP: cfg.HTTPClient, Secrets: []string{token}, MaxBody: 32 << 20, ErrorOf: apiError,
			Header: http.Header{"Authorization": {"Bearer " + token}, "User-Agent": {cfg.UserAgent}},
			Policy: httpapi.Policy{MaxRetries: cfg.MaxRetries, MinBackoff: cfg.RetryBaseDelay, MaxBackoff: cfg.RetryMaxDelay,
				MaxRetryAfter: cfg.MaxRetryAfter, Counter: httpapi.CounterFor("vercel")}},
	}
	if c.http.Policy.MaxRetries == 0 {
		c.http.Policy.MaxRetries = DefaultMaxRetries
	}
	if c.http.Policy.MinBackoff <= 0 {
		c.http.Policy.MinBackoff = DefaultRetryBaseDelay
	}
	if c.http.Policy.MaxBackoff <= 0 {
		c.http.Policy.MaxBackoff = DefaultRetryMaxDelay
	}
	if cfg.UserAgent == "" {
		c.http.Header.Set("User-Agent", "terraform-provider-sandbox (vercel engine)")
	}
	return c, nil
}

// TeamID is the team the client scopes its requests to ("" when it uses a slug).
func (c *Client) TeamID() string { return c.teamID }

// ProjectID is the project the client works in.
func (c *Client) ProjectID() string { return c.projectID }

// oidcClaims reads the owner_id and project_id claims of a JWT without verifying it (the API does).
func oidcClaims(token string) (owner, project string, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", "", false
	}
	var claims struct {
		OwnerID   string `json:"owner_id"`
		ProjectID string `json:"project_id"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.OwnerID == "" {
		return "", "", false
	}
	return claims.OwnerID, claims.ProjectID, true
}

// APIError is an answer of the API that is not a success: the HTTP status with the {error:{code,message}}
// body. Its message never holds the token.
type APIError struct {
	Method  string // the request's method
	Path    string // the request's path, without the query
	Status  int
	Code    string // error.code ("" when the body had none)
	Message string // error.message, or the start of a body that was not the API's error shape
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vercel: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if errors.Is(e, httpapi.ErrUnauthorized) {
		b.WriteString("; " + httpapi.AuthHint("the token", EnvToken, EnvOIDCToken) + " and that it can access the team and project")
	}
	return b.String()
}

// Unwrap maps the status (httpapi.StatusError): 401 and 403 are httpapi.ErrUnauthorized, and a 404 of one
// sandbox or snapshot is backend.ErrNotFound. A 404 of a collection (a list, a create: the project is
// missing) or under a session (a session that ended, a missing file: the sandbox may be there) is not.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusNotFound && !oneObject(e.Path) {
		return nil
	}
	return httpapi.StatusError(e.Status)
}

// oneObject reports whether a path names one sandbox or one snapshot.
func oneObject(path string) bool {
	rest, ok := strings.CutPrefix(path, "/v2/sandboxes/")
	if !ok || rest == "" || strings.HasPrefix(rest, "sessions/") {
		return false
	}
	if id, ok := strings.CutPrefix(rest, "snapshots/"); ok {
		return id != "" && !strings.Contains(id, "/")
	}
	return rest != "snapshots" && !strings.Contains(rest, "/")
}

// HTTPStatus is the answer's status (httpapi.StatusOf).
func (e *APIError) HTTPStatus() int { return e.Status }

// StatusOf returns the HTTP status of the service's answer in err's chain, 0 when there is none.
func StatusOf(err error) int { return httpapi.StatusOf(err) }

// CodeOf returns the error code of an APIError in err's chain, "" when there is none.
func CodeOf(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// StreamError is an error line of an ndjson stream: the session went away while the command ran.
type StreamError struct {
	Code, Message string
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("vercel: the command stream ended with %s: %s", e.Code, e.Message)
}

// request is one API call.
type request struct {
	method      string
	path        string
	query       url.Values
	body        any    // encoded as JSON when raw is nil
	raw         []byte // a body sent as is
	contentType string
	headers     map[string]string
	idempotent  bool
	secrets     []string // values scrubbed from errors besides the token (credentials in a policy)
}

// send sends a request under the hosted clients' one client (httpapi.Client), streamed or read whole.
func (c *Client) send(ctx context.Context, r request, stream bool) (*httpapi.Response, error) {
	body := r.raw
	if body == nil && r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("vercel: encoding the body of %s %s: %w", r.method, r.path, err)
		}
		body = b
	}
	q := url.Values{}
	for k, v := range r.query {
		q[k] = v
	}
	if c.teamID != "" {
		q.Set("teamId", c.teamID)
	} else {
		q.Set("slug", c.teamSlug)
	}
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + r.path
	u.RawQuery = q.Encode()
	ct := r.contentType
	if ct == "" {
		ct = "application/json"
	}
	var h http.Header
	for k, v := range r.headers {
		if h == nil {
			h = http.Header{}
		}
		h.Set(k, v)
	}
	return c.http.Send(ctx, httpapi.Request{Method: r.method, URL: u.String(), Path: r.path, Body: body, ContentType: ct,
		Header: h, Secrets: r.secrets, Call: httpapi.Call{Idempotent: r.idempotent}, Stream: stream})
}

// do sends a request and returns the successful response open; the caller closes its body.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	resp, err := c.send(ctx, r, true)
	if err != nil || resp == nil {
		return nil, err
	}
	return resp.HTTP, nil
}

// apiError reads an error answer: {error:{code,message}}, or the start of another body.
func apiError(r *httpapi.Request, status int, _ http.Header, b []byte) error {
	ae := &APIError{Method: r.Method, Path: r.Path, Status: status}
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error != nil {
		ae.Code, ae.Message = body.Error.Code, body.Error.Message
	} else {
		ae.Message = httpapi.Snippet(b, 300)
	}
	return ae
}

// scrub removes the token and the given secrets from a text.
func (c *Client) scrub(s string, secrets []string) string {
	return httpapi.Redact(s, append(secrets, c.http.Secrets...)...)
}

// scrubErr keeps an error's chain but scrubs its text.
func (c *Client) scrubErr(err error, secrets []string) error {
	return &httpapi.RedactedError{Err: err, Secrets: append(secrets, c.http.Secrets...)}
}

// doJSON sends a request and decodes the JSON answer into out (when not nil).
func (c *Client) doJSON(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r, false)
	if err != nil || resp == nil || out == nil {
		return err
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return fmt.Errorf("vercel: %s %s: the answer is not the expected JSON: %w", r.method, r.path, err)
	}
	return nil
}
