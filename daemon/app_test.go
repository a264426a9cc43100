package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ezdfsd/ezdfsd/config"
)

// TestNewFailureReturnsTheCause: when a component cannot be built after others were opened (here
// the mount point, after the SQLite store), New returns that cause and closes what it opened. It
// used to panic in Close on a nil App, and the cause was lost.
func TestNewFailureReturnsTheCause(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "not-mounted")
	cfg, err := config.Load([]string{"--metadata=sqlite", "--sqlite=" + filepath.Join(dir, "db.sqlite"),
		"--mount-point=" + missing}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, nil, "test")
	if err == nil || a != nil {
		t.Fatalf("New = %v, %v; want nil and an error", a, err)
	}
	if !strings.Contains(err.Error(), "mount point") || !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q does not name the mount point %s", err, missing)
	}
	var nilApp *App
	nilApp.Close(context.Background()) // must not panic
}
