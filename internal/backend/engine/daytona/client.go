package daytona

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/httpapi"
)

// DefaultAPIURL is the main API of Daytona's hosted service (the SDK's default).
const DefaultAPIURL = "https://app.daytona.io/api"

// Defaults of the retry and wait policies.
const (
	DefaultMaxRetries    = 5
	DefaultRetryBase     = 500 * time.Millisecond
	DefaultRetryMax      = 10 * time.Second
	DefaultMaxRetryAfter = 2 * time.Minute
	DefaultPollInitial   = 250 * time.Millisecond
	DefaultPollMax       = 2 * time.Second
)

// maxResponse bounds a response body (command output and downloaded files included).
const maxResponse = 256 << 20

// ErrUnauthorized is wrapped by errors caused by a rejected API key or JWT.
var ErrUnauthorized = errors.New("daytona: credentials rejected")

// authHint names the settings to check after a 401, and the ones to set when none is given.
const authHint = "check DAYTONA_API_KEY (or DAYTONA_JWT_TOKEN with DAYTONA_ORGANIZATION_ID)"

// Config configures the Daytona engine. The provider block fills it; ConfigFromEnv reads the SDK's environment
// variables.
type Config struct {
	// APIKey is an organization-scoped API key (DAYTONA_API_KEY). It is sent as a bearer token and never
	// appears in errors.
	APIKey string
	// JWTToken is the alternative to APIKey (DAYTONA_JWT_TOKEN); it needs OrganizationID.
	JWTToken string
	// OrganizationID is sent as X-Daytona-Organization-ID (DAYTONA_ORGANIZATION_ID); required with JWTToken.
	OrganizationID string
	// APIURL is the main API's base URL (DAYTONA_API_URL); "" = DefaultAPIURL.
	APIURL string
	// Target is the region sandboxes are created in (DAYTONA_TARGET); "" = the organization's default. A
	// sandbox's target option overrides it.
	Target string
	// HTTPClient makes the requests; nil = a client without an overall timeout (every call is bounded by its
	// context instead).
	HTTPClient *http.Client

	// MaxRetries bounds the retries of one call after 429, 5xx and connection errors; 0 = DefaultMaxRetries,
	// negative = none.
	MaxRetries int
	// RetryBase and RetryMax shape the jittered exponential backoff between retries; 0 = the defaults.
	RetryBase, RetryMax time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a longer one fails the call at once.
	MaxRetryAfter time.Duration
	// PollInitial and PollMax shape the backoff of waits for a state (×1.5 per poll); 0 = the defaults.
	PollInitial, PollMax time.Duration
	// DefaultCommandTimeout is the timeout of a command when neither the request nor the sandbox sets one;
	// 0 = DefaultCommandTimeout.
	DefaultCommandTimeout time.Duration
}

// ConfigFromEnv returns the configuration the Daytona SDK reads from the environment: DAYTONA_API_KEY,
// DAYTONA_JWT_TOKEN, DAYTONA_ORGANIZATION_ID, DAYTONA_API_URL (or its deprecated alias DAYTONA_SERVER_URL) and
// DAYTONA_TARGET.
func ConfigFromEnv() Config {
	apiURL := os.Getenv("DAYTONA_API_URL")
	if apiURL == "" {
		apiURL = os.Getenv("DAYTONA_SERVER_URL")
	}
	return Config{
		APIKey:         os.Getenv("DAYTONA_API_KEY"),
		JWTToken:       os.Getenv("DAYTONA_JWT_TOKEN"),
		OrganizationID: os.Getenv("DAYTONA_ORGANIZATION_ID"),
		APIURL:         apiURL,
		Target:         os.Getenv("DAYTONA_TARGET"),
	}
}

// APIError is an error answer of the main API or of the toolbox proxy. Its message is the service's own, with
// the credentials redacted.
type APIError struct {
	Method  string // HTTP method
	Path    string // the path below the API or toolbox base, without the query
	Status  int    // HTTP status
	Code    string // the toolbox's error code (e.g. PROCESS_EXECUTION_TIMEOUT); "" for the main API
	Message string // the service's message
}

// Error reports the call, the HTTP status and the service's message.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "daytona: %s %s: HTTP %d", e.Method, e.Path, e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.Code != "" {
		b.WriteString(" [" + e.Code + "]")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Status == http.StatusUnauthorized {
		b.WriteString("; " + authHint)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrUnauthorized) hold for 401 answers.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusUnauthorized {
		return ErrUnauthorized
	}
	return nil
}

// statusOf returns the HTTP status of an APIError in err's chain, or 0.
func statusOf(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	return 0
}

// apiMessage returns the service's message of an APIError in err's chain, or err's text.
func apiMessage(err error) string {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Message
	}
	return err.Error()
}

// client is the typed HTTP client of the main API and the toolbox proxy, with the one retry policy.
type client struct {
	base        string // main API base URL, no trailing slash
	hc          *http.Client
	auth        string // Authorization header value
	org         string
	secrets     []string
	policy      httpapi.Policy
	pollInitial time.Duration
	pollMax     time.Duration
}

func newClient(cfg Config) (*client, error) {
	c := &client{hc: cfg.HTTPClient, org: cfg.OrganizationID}
	switch {
	case cfg.APIKey != "":
		c.auth = "Bearer " + cfg.APIKey
		c.secrets = append(c.secrets, cfg.APIKey)
	case cfg.JWTToken != "":
		if cfg.OrganizationID == "" {
			return nil, errors.New("daytona: a JWT token (DAYTONA_JWT_TOKEN) needs the organization id too: set DAYTONA_ORGANIZATION_ID")
		}
		c.auth = "Bearer " + cfg.JWTToken
		c.secrets = append(c.secrets, cfg.JWTToken)
	default:
		return nil, errors.New("daytona: no credentials: set DAYTONA_API_KEY (an API key), or DAYTONA_JWT_TOKEN together with DAYTONA_ORGANIZATION_ID")
	}
	base := strings.TrimRight(cfg.APIURL, "/")
	if base == "" {
		base = DefaultAPIURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("daytona: API URL %q is not an http(s) URL (DAYTONA_API_URL)", base)
	}
	c.base = base
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	c.policy = httpapi.Policy{MaxRetries: cfg.MaxRetries, MinBackoff: orDefault(cfg.RetryBase, DefaultRetryBase),
		MaxBackoff: orDefault(cfg.RetryMax, DefaultRetryMax), MaxRetryAfter: orDefault(cfg.MaxRetryAfter, DefaultMaxRetryAfter),
		Counter: httpapi.CounterFor("daytona")}
	if c.policy.MaxRetries == 0 {
		c.policy.MaxRetries = DefaultMaxRetries
	}
	c.pollInitial = orDefault(cfg.PollInitial, DefaultPollInitial)
	c.pollMax = orDefault(cfg.PollMax, DefaultPollMax)
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// request is one call. URL is either a path below the main API ("/sandbox") or, with toolbox set, a full
// toolbox URL.
type request struct {
	method      string
	path        string     // below the main API, or the toolbox path shown in errors
	fullURL     string     // set for toolbox calls
	query       url.Values // optional
	body        any        // JSON-encoded when not nil
	raw         []byte     // sent as is with contentType when not nil
	contentType string
	// idempotent calls are retried after 5xx answers and connection errors that may have reached the
	// service; others (running a command) only after 429 and errors that prove the request was not sent.
	idempotent bool
	out        any     // JSON-decoded from a 2xx answer when not nil
	rawOut     *[]byte // the 2xx answer's bytes when not nil
}

// do sends a call under the hosted clients' one retry policy (httpapi.Do): 429 answers are retried after
// the longest Retry-After* header (Retry-After, Retry-After-{throttler}) or the backoff, whichever is longer;
// 5xx answers and lost connections only for idempotent calls (others, running a command, only when the
// connection could not be made, so the request cannot have been applied); at most MaxRetries retries, never
// past the context deadline (the error then wraps context.DeadlineExceeded and the last failure). Other 4xx
// answers are returned at once as *APIError.
func (c *client) do(ctx context.Context, r request) error {
	var body []byte
	switch {
	case r.raw != nil:
		body = r.raw
	case r.body != nil:
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("daytona: %s %s: encoding the request: %w", r.method, r.path, err)
		}
		body = b
		if r.contentType == "" {
			r.contentType = "application/json"
		}
	}
	target := r.fullURL
	if target == "" {
		target = c.base + r.path
	}
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	return httpapi.Do(ctx, c.policy, httpapi.Call{Idempotent: r.idempotent}, func(ctx context.Context, _ int) httpapi.Attempt {
		status, header, respBody, err := c.send(ctx, r.method, target, r.contentType, body)
		switch {
		case err != nil:
			return httpapi.Attempt{Err: &httpapi.RedactedError{Prefix: fmt.Sprintf("daytona: %s %s: ", r.method, r.path), Err: err, Secrets: c.secrets}}
		case status >= 200 && status < 300:
			if r.rawOut != nil {
				*r.rawOut = respBody
			}
			if r.out != nil && len(bytes.TrimSpace(respBody)) > 0 {
				if err := json.Unmarshal(respBody, r.out); err != nil {
					return httpapi.Attempt{Status: status, Permanent: true, Err: fmt.Errorf("daytona: %s %s: decoding the answer: %w", r.method, r.path, err)}
				}
			}
			return httpapi.Attempt{Status: status}
		}
		return httpapi.Attempt{Status: status, Header: header, Err: c.apiError(r, status, respBody)}
	})
}

// send makes one attempt and reads the whole answer.
func (c *client) send(ctx context.Context, method, target, contentType string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Authorization", c.auth)
	if c.org != "" {
		req.Header.Set("X-Daytona-Organization-ID", c.org)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Daytona-Source", "terraform-provider-sandbox")
	req.Header.Set("User-Agent", "terraform-provider-sandbox")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(b) > maxResponse {
		return 0, nil, nil, fmt.Errorf("answer larger than %d bytes", maxResponse)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// errorBody is the error body of the main API (NestJS) and of the toolbox (daemon/proxy).
type errorBody struct {
	StatusCode int             `json:"statusCode"`
	Message    json.RawMessage `json:"message"` // a string, or a list of validation messages
	Error      string          `json:"error"`
	Code       string          `json:"code"`
}

func (c *client) apiError(r request, status int, body []byte) *APIError {
	e := &APIError{Method: r.method, Path: r.path, Status: status}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil && (len(eb.Message) > 0 || eb.Error != "") {
		e.Code = eb.Code
		var s string
		var list []string
		switch {
		case json.Unmarshal(eb.Message, &s) == nil:
			e.Message = s
		case json.Unmarshal(eb.Message, &list) == nil:
			e.Message = strings.Join(list, ", ")
		default:
			e.Message = eb.Error
		}
	} else {
		text := strings.TrimSpace(string(body))
		if len(text) > 512 {
			text = text[:512] + "..."
		}
		e.Message = text
	}
	e.Message = redact(e.Message, c.secrets)
	return e
}

// redact removes every secret from s.
func redact(s string, secrets []string) string { return httpapi.Redact(s, secrets...) }

// poll calls check until it reports done or fails, waiting between calls with a backoff from pollInitial
// (×1.5 per poll, capped at pollMax: the official client's cadence) and stopping at the context's end. what
// names the wait in errors; last is called for the error's description of the last state seen.
func (c *client) poll(ctx context.Context, what string, check func() (done bool, err error), last func() string) error {
	if err := httpapi.Poll(ctx, what, c.pollInitial, c.pollMax, check, last); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("daytona: %w", err)
		}
		return err
	}
	return nil
}
