package postgres

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// SQLSTATE codes the store maps to backend errors.
const codeUniqueViolation = "23505"

// classify maps driver errors to the backend's: no row to backend.ErrNotFound, a unique violation to
// backend.ErrConflict. A server error keeps its own message and SQLSTATE (pgconn.PgError.Error) and gains its
// detail and hint, which PgError.Error leaves out.
func classify(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return backend.ErrNotFound
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	var extra strings.Builder
	if pe.Detail != "" {
		extra.WriteString("; detail: " + pe.Detail)
	}
	if pe.Hint != "" {
		extra.WriteString("; hint: " + pe.Hint)
	}
	if pe.Code == codeUniqueViolation {
		return fmt.Errorf("%w: %w%s", backend.ErrConflict, err, extra.String())
	}
	if extra.Len() == 0 {
		return err
	}
	return fmt.Errorf("%w%s", err, extra.String())
}

// scrubbedError is an error whose message had the connection password cut out. It still unwraps to the
// original so that errors.Is and errors.As keep working.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub removes password, and its URL-escaped forms, from err's message.
func scrub(err error, password string) error {
	if err == nil || password == "" {
		return err
	}
	msg := err.Error()
	out := msg
	for _, p := range []string{password, url.QueryEscape(password), url.PathEscape(password)} {
		out = strings.ReplaceAll(out, p, "xxxxx")
	}
	if out == msg {
		return err
	}
	return &scrubbedError{msg: out, err: err}
}

var kvPassword = regexp.MustCompile(`(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// passwordOf extracts the password of a connection string that pgx could not parse, best effort, so that it
// can be scrubbed from the parse error.
func passwordOf(connString string) string {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		if u, err := url.Parse(connString); err == nil && u.User != nil {
			p, _ := u.User.Password()
			return p
		}
		// An unparsable URL: take what sits between the first ':' after the scheme and the last '@'.
		rest := connString[strings.Index(connString, "://")+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				return rest[colon+1 : at]
			}
		}
		return ""
	}
	m := kvPassword.FindStringSubmatch(connString)
	if m == nil {
		return ""
	}
	p := m[1]
	if strings.HasPrefix(p, "'") {
		p = strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(strings.Trim(p, "'"))
	}
	return p
}
