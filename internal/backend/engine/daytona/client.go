package daytona

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// ErrUnauthorized is wrapped by errors caused by a rejected API key or JWT (401 and 403 answers): the hosted
// clients' one httpapi.ErrUnauthorized.
var ErrUnauthorized = httpapi.ErrUnauthorized

// authHint names the settings to check after a 401 or 403.
var authHint = httpapi.AuthHint("the Daytona credentials", "DAYTONA_API_KEY", "DAYTONA_JWT_TOKEN with DAYTONA_ORGANIZATION_ID")

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
	Toolbox bool   // an answer of the toolbox proxy, whose 404 is a missing file or process, not a missing sandbox
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
	if errors.Is(e, ErrUnauthorized) {
		b.WriteString("; " + authHint)
	}
	return b.String()
}

// Unwrap maps the status (httpapi.StatusError): a 404 of the main API is backend.ErrNotFound, 401 and 403
// are ErrUnauthorized. A toolbox 404 is not mapped: the sandbox may be there (toolboxErr asks).
func (e *APIError) Unwrap() error {
	if e.Toolbox && e.Status == http.StatusNotFound {
		return nil
	}
	return httpapi.StatusError(e.Status)
}

// HTTPStatus is the answer's status (httpapi.StatusOf).
func (e *APIError) HTTPStatus() int { return e.Status }

// statusOf returns the HTTP status of the service's answer in err's chain, or 0.
func statusOf(err error) int { return httpapi.StatusOf(err) }

// apiMessage returns the service's message of an APIError in err's chain, or err's text.
func apiMessage(err error) string {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Message
	}
	return err.Error()
}

// client is the typed HTTP client of the main API and the toolbox proxy: the hosted clients' one client
// (httpapi.Client) with Daytona's paths and error bodies.
type client struct {
	base        string // main API base URL, no trailing slash
	http        httpapi.Client
	pollInitial time.Duration
	pollMax     time.Duration
}

func newClient(cfg Config) (*client, error) {
	c := &client{}
	h := http.Header{"Accept": {"application/json"}, "X-Daytona-Source": {"terraform-provider-sandbox"},
		"User-Agent": {"terraform-provider-sandbox"}}
	if cfg.OrganizationID != "" {
		h.Set("X-Daytona-Organization-ID", cfg.OrganizationID)
	}
	var secret string
	switch {
	case cfg.APIKey != "":
		secret = cfg.APIKey
	case cfg.JWTToken != "":
		if cfg.OrganizationID == "" {
			return nil, errors.New("daytona: a JWT token (DAYTONA_JWT_TOKEN) needs the organization id too: set DAYTONA_ORGANIZATION_ID")
		}
		secret = cfg.JWTToken
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
	h.Set("Authorization", "Bearer "+secret)
	c.http = httpapi.Client{Name: "daytona", HTTP: cfg.HTTPClient, Header: h, Secrets: []string{secret}, MaxBody: maxResponse,
		Policy: httpapi.Policy{MaxRetries: cfg.MaxRetries, MinBackoff: orDefault(cfg.RetryBase, DefaultRetryBase),
			MaxBackoff: orDefault(cfg.RetryMax, DefaultRetryMax), MaxRetryAfter: orDefault(cfg.MaxRetryAfter, DefaultMaxRetryAfter),
			Counter: httpapi.CounterFor("daytona")},
		ErrorOf: apiError}
	if c.http.Policy.MaxRetries == 0 {
		c.http.Policy.MaxRetries = DefaultMaxRetries
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
	resp, err := c.http.Send(ctx, httpapi.Request{Method: r.method, URL: target, Path: r.path, Body: body,
		ContentType: r.contentType, Call: httpapi.Call{Idempotent: r.idempotent}})
	if err != nil || resp == nil {
		return err
	}
	if r.rawOut != nil {
		*r.rawOut = resp.Body
	}
	if r.out != nil && len(bytes.TrimSpace(resp.Body)) > 0 {
		if err := json.Unmarshal(resp.Body, r.out); err != nil {
			return fmt.Errorf("daytona: %s %s: decoding the answer: %w", r.method, r.path, err)
		}
	}
	return nil
}

// errorBody is the error body of the main API (NestJS) and of the toolbox (daemon/proxy).
type errorBody struct {
	StatusCode int             `json:"statusCode"`
	Message    json.RawMessage `json:"message"` // a string, or a list of validation messages
	Error      string          `json:"error"`
	Code       string          `json:"code"`
}

// apiError reads an error answer of the main API or the toolbox.
func apiError(r *httpapi.Request, status int, _ http.Header, body []byte) error {
	e := &APIError{Method: r.Method, Path: r.Path, Status: status, Toolbox: strings.HasPrefix(r.Path, "toolbox/")}
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
		e.Message = httpapi.Snippet(body, 512)
	}
	return e
}

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
