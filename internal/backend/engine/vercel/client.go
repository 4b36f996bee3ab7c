package vercel

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	token     string
	teamID    string
	teamSlug  string
	projectID string
	base      *url.URL
	hc        *http.Client
	policy    httpapi.Policy
	userAgent string
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
		token: token, teamID: team, teamSlug: cfg.TeamSlug, projectID: project, base: base, hc: cfg.HTTPClient,
		userAgent: cfg.UserAgent,
		policy: httpapi.Policy{MaxRetries: cfg.MaxRetries, MinBackoff: cfg.RetryBaseDelay, MaxBackoff: cfg.RetryMaxDelay,
			MaxRetryAfter: cfg.MaxRetryAfter, Counter: httpapi.CounterFor("vercel")},
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.policy.MaxRetries == 0 {
		c.policy.MaxRetries = DefaultMaxRetries
	}
	if c.policy.MinBackoff <= 0 {
		c.policy.MinBackoff = DefaultRetryBaseDelay
	}
	if c.policy.MaxBackoff <= 0 {
		c.policy.MaxBackoff = DefaultRetryMaxDelay
	}
	if c.userAgent == "" {
		c.userAgent = "terraform-provider-sandbox (vercel engine)"
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
	Method   string // the request's method
	Path     string // the request's path, without the query
	Status   int
	Code     string // error.code ("" when the body had none)
	Message  string // error.message, or the start of a body that was not the API's error shape
	Attempts int    // how many times the request was sent
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
	if e.Status == http.StatusForbidden || e.Status == http.StatusUnauthorized {
		fmt.Fprintf(&b, "; check the token (%s or %s) and that it can access the team and project", EnvToken, EnvOIDCToken)
	}
	return b.String()
}

// StatusOf returns the HTTP status of an APIError in err's chain, 0 when there is none.
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

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

// do sends a request with the retry policy and returns a successful response, whose body the caller closes.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
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

	var out *http.Response
	err := httpapi.Do(ctx, c.policy, httpapi.Call{Idempotent: r.idempotent}, func(ctx context.Context, attempt int) httpapi.Attempt {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, u.String(), rd)
		if err != nil {
			return httpapi.Attempt{Err: fmt.Errorf("vercel: %s %s: %w", r.method, r.path, err), Permanent: true}
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("User-Agent", c.userAgent)
		if body != nil {
			ct := r.contentType
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
		}
		for k, v := range r.headers {
			req.Header.Set(k, v)
		}
		resp, err := c.hc.Do(req)
		switch {
		case err != nil:
			return httpapi.Attempt{Err: fmt.Errorf("vercel: %s %s: %w", r.method, r.path, c.scrubErr(err, r.secrets))}
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			out = resp
			return httpapi.Attempt{Status: resp.StatusCode}
		}
		return httpapi.Attempt{Status: resp.StatusCode, Header: resp.Header, Err: c.apiError(r, resp, attempt)}
	})
	return out, err
}

// apiError reads an error answer. It closes the body.
func (c *Client) apiError(r request, resp *http.Response, attempts int) *APIError {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ae := &APIError{Method: r.method, Path: r.path, Status: resp.StatusCode, Attempts: attempts}
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error != nil {
		ae.Code, ae.Message = body.Error.Code, body.Error.Message
	} else if len(b) > 0 {
		s := strings.TrimSpace(string(b))
		if len(s) > 300 {
			s = s[:300] + "..."
		}
		ae.Message = s
	}
	ae.Message = c.scrub(ae.Message, r.secrets)
	ae.Code = c.scrub(ae.Code, r.secrets)
	return ae
}

// scrub removes the token and the given secrets from a text.
func (c *Client) scrub(s string, secrets []string) string {
	if c.token != "" {
		s = strings.ReplaceAll(s, c.token, "[redacted]")
	}
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// scrubErr keeps an error's chain but scrubs its text.
func (c *Client) scrubErr(err error, secrets []string) error {
	msg := err.Error()
	if clean := c.scrub(msg, secrets); clean != msg {
		return &scrubbed{msg: clean, err: err}
	}
	return err
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

// doJSON sends a request and decodes the JSON answer into out (when not nil).
func (c *Client) doJSON(ctx context.Context, r request, out any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("vercel: %s %s: reading the answer: %w", r.method, r.path, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("vercel: %s %s: the answer is not the expected JSON: %w", r.method, r.path, err)
	}
	return nil
}
