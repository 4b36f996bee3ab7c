package sprites

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// MaxReadBytes caps ReadFile.
const MaxReadBytes = 256 << 20

// HomeDir is the sprite user's home: the server's default working directory, and the directory relative
// sandbox paths are resolved against.
const HomeDir = "/home/sprite"

// ReadFile reads a file through the filesystem API (GET fs/read). path is absolute, or relative to HomeDir. A
// missing file is an error wrapping fs.ErrNotExist; a missing sprite one wrapping backend.ErrNotFound.
func (c *Client) ReadFile(ctx context.Context, name, path string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	q := url.Values{"path": {path}, "workingDir": {HomeDir}}
	resp, err := c.do(ctx, call{retry: idempotent, method: http.MethodGet, path: spritePath(name, "/fs/read"), query: q, accept: "application/octet-stream"})
	var apiErr *APIError
	if errors.Is(err, backend.ErrNotFound) && errors.As(err, &apiErr) {
		// In-sprite endpoints may answer plain text, without the errno code: a 404 is a missing file if the
		// sprite exists, and a missing sprite otherwise.
		if _, gerr := c.GetSprite(ctx, name); gerr == nil {
			apiErr.FSCode = "ENOENT"
		}
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxReadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("sprites API GET %s: reading the answer: %w", spritePath(name, "/fs/read"), c.scrubURLError(err))
	}
	if len(b) > MaxReadBytes {
		return nil, fmt.Errorf("sprites API GET %s: the file is larger than the %d bytes that can be read", spritePath(name, "/fs/read"), MaxReadBytes)
	}
	return b, nil
}

// WriteFile writes a file through the filesystem API (PUT fs/write), making missing parent directories.
// path is absolute, or relative to HomeDir.
func (c *Client) WriteFile(ctx context.Context, name, path string, data []byte, mode fs.FileMode) error {
	if err := checkName(name); err != nil {
		return err
	}
	q := url.Values{
		"path":         {path},
		"workingDir":   {HomeDir},
		"mode":         {fmt.Sprintf("%04o", mode.Perm())},
		"mkdirParents": {"true"},
	}
	if data == nil {
		data = []byte{}
	}
	return c.doJSON(ctx, call{retry: idempotent, method: http.MethodPut, path: spritePath(name, "/fs/write"), query: q, body: data, ctype: "application/octet-stream"}, nil, nil)
}
