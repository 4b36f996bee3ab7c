package sprites_test

import (
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
)

// newEngine returns an engine on the fake, with short backoffs so that fault tests stay fast.
func newEngine(t *testing.T, f *spritesfake.Fake, mutate ...func(*sprites.Config)) *sprites.Engine {
	t.Helper()
	cfg := sprites.Config{
		Token:      f.Token(),
		APIURL:     f.URL(),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond,
		KillGrace:  2 * time.Second,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	e, err := sprites.New(cfg)
	if err != nil {
		t.Fatalf("sprites.New: %v", err)
	}
	return e
}
