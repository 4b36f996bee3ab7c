package sprites

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// Sprite status values (the API documents these three; others are treated as "exists, not known ready").
const (
	StatusCold    = "cold"    // VM stopped, memory dropped; wakes on the next request (1-2 s)
	StatusWarm    = "warm"    // VM suspended with its memory; wakes in 100-500 ms
	StatusRunning = "running" // active
)

// URL authentication modes (url_settings.auth).
const (
	URLAuthSprite = "sprite" // the URL needs an org token or an org member's browser session
	URLAuthPublic = "public" // anyone can reach the URL
)

// Sprite is a sprite as the API returns it. The environment field is deliberately not decoded.
type Sprite struct {
	ID           string       `json:"id,omitempty"`
	Name         string       `json:"name"`
	Organization string       `json:"organization,omitempty"`
	OrgSlug      string       `json:"org_slug,omitempty"`
	Status       string       `json:"status,omitempty"`
	URL          string       `json:"url,omitempty"`
	URLSettings  *URLSettings `json:"url_settings,omitempty"`
	Labels       []string     `json:"labels,omitempty"`
	CreatedAt    string       `json:"created_at,omitempty"`
	UpdatedAt    string       `json:"updated_at,omitempty"`
	// labelsKnown is false for minimal list entries that carry no labels field.
	labelsKnown bool
}

// UnmarshalJSON records whether the labels field was present (list entries may be minimal).
func (s *Sprite) UnmarshalJSON(b []byte) error {
	type plain Sprite
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var probe struct {
		Labels json.RawMessage `json:"labels"`
	}
	_ = json.Unmarshal(b, &probe)
	*s = Sprite(p)
	s.labelsKnown = len(probe.Labels) > 0
	return nil
}

// Created returns CreatedAt parsed, or the zero time.
func (s *Sprite) Created() time.Time {
	t, err := time.Parse(time.RFC3339Nano, s.CreatedAt)
	if err != nil {
		return time.Time{}
	}
	return t
}

// URLSettings is a sprite's url_settings.
type URLSettings struct {
	Auth          string `json:"auth,omitempty"`
	PrivateAccess string `json:"private_access,omitempty"`
}

// CreateSpriteRequest is the body of POST /v1/sprites.
type CreateSpriteRequest struct {
	Name            string       `json:"name"`
	URLSettings     *URLSettings `json:"url_settings,omitempty"`
	Labels          []string     `json:"labels,omitempty"`
	WaitForCapacity *bool        `json:"wait_for_capacity,omitempty"`
	Runtime         string       `json:"runtime,omitempty"`
}

// UpdateSpriteRequest is the body of PUT /v1/sprites/{name} (a partial update).
type UpdateSpriteRequest struct {
	URLSettings *URLSettings `json:"url_settings,omitempty"`
	Labels      []string     `json:"labels,omitempty"`
}

// nameRE is the conservative name rule: DNS-label-safe lowercase letters, digits and inner hyphens. The API
// documents no rule; every example follows this one, and the name starts the DNS label
// <name>-<org-id>.sprites.app.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// MaxNameLength is the longest name accepted (a DNS label; the real limit may be lower, since "-<org-id>"
// shares the label).
const MaxNameLength = 63

// ValidateName checks a sprite name against the conservative rule.
func ValidateName(name string) error {
	if len(name) > MaxNameLength {
		return fmt.Errorf("sprite name %q is %d characters long; at most %d are allowed", name, len(name), MaxNameLength)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("sprite name %q is not valid: use lowercase letters, digits and hyphens, starting and ending with a letter or digit", name)
	}
	return nil
}

// checkName is the lenient check of a name that already exists: the API may have accepted names that the
// conservative rule of ValidateName refuses (it names no rule), so only what no path can carry is refused here;
// the name is path-escaped in every call.
func checkName(name string) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("sprite name %q is empty or too long", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '/' {
			return fmt.Errorf("sprite name %q contains a control character or a slash", name)
		}
	}
	return nil
}

// CreateSprite creates a sprite (201). A taken name is an error wrapping ErrConflict.
func (c *Client) CreateSprite(ctx context.Context, req CreateSpriteRequest) (*Sprite, error) {
	if err := ValidateName(req.Name); err != nil {
		return nil, err
	}
	var s Sprite
	if err := c.doJSON(ctx, call{retry: idempotent, method: http.MethodPost, path: "/v1/sprites", timeout: createTimeout}, req, &s); err != nil {
		return nil, err
	}
	if s.Name == "" {
		s.Name = req.Name
	}
	return &s, nil
}

// GetSprite reads a sprite; a missing one is an error wrapping backend.ErrNotFound.
func (c *Client) GetSprite(ctx context.Context, name string) (*Sprite, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var s Sprite
	if err := c.doJSON(ctx, call{retry: idempotent, method: http.MethodGet, path: spritePath(name, "")}, nil, &s); err != nil {
		return nil, err
	}
	if s.Name == "" {
		s.Name = name
	}
	return &s, nil
}

// ListSprites lists every sprite whose name starts with prefix ("" = all), following the pages. Entries may be
// minimal (name only); GetSprite gives the whole object.
func (c *Client) ListSprites(ctx context.Context, prefix string) ([]*Sprite, error) {
	var out []*Sprite
	token := ""
	for page := 0; ; page++ {
		if page > 10000 {
			return nil, fmt.Errorf("sprites API GET /v1/sprites: more than %d pages; giving up", page)
		}
		q := url.Values{"max_results": {strconv.Itoa(50)}}
		if prefix != "" {
			q.Set("prefix", prefix)
		}
		if token != "" {
			q.Set("continuation_token", token)
		}
		var doc struct {
			Sprites   []*Sprite `json:"sprites"`
			HasMore   bool      `json:"has_more"`
			NextToken *string   `json:"next_continuation_token"`
		}
		if err := c.doJSON(ctx, call{retry: idempotent, method: http.MethodGet, path: "/v1/sprites", query: q}, nil, &doc); err != nil {
			return nil, err
		}
		out = append(out, doc.Sprites...)
		if !doc.HasMore || doc.NextToken == nil || *doc.NextToken == "" {
			return out, nil
		}
		if *doc.NextToken == token {
			return nil, fmt.Errorf("sprites API GET /v1/sprites: the continuation token did not advance")
		}
		token = *doc.NextToken
	}
}

// UpdateSprite changes a sprite's url_settings and/or labels.
func (c *Client) UpdateSprite(ctx context.Context, name string, req UpdateSpriteRequest) (*Sprite, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var s Sprite
	if err := c.doJSON(ctx, call{retry: idempotent, method: http.MethodPut, path: spritePath(name, "")}, req, &s); err != nil {
		return nil, err
	}
	if s.Name == "" {
		s.Name = name
	}
	return &s, nil
}

// DeleteSprite deletes a sprite and its checkpoints (204). A missing sprite is an error wrapping
// backend.ErrNotFound; callers that want idempotence test for it.
func (c *Client) DeleteSprite(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return c.doJSON(ctx, call{retry: idempotent, method: http.MethodDelete, path: spritePath(name, "")}, nil, nil)
}
