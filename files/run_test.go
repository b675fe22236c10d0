package files_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/blob"
)

// TestRunEndsQuietly: the housekeeping loop stopped by its context (the
// server shutting down) is a normal end, not an error: it logged
// "files: purging trash … context canceled" and "files: blob gc …" at
// ERROR on every shutdown.
func TestRunEndsQuietly(t *testing.T) {
	t.Parallel()
	ae := authtest.New(t, auth.Config{}, files.Component())
	bs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st := files.New(ae.DB, bs, files.Options{Now: ae.Clock.Now}, files.Deps{Auth: ae.Auth, Audit: ae.Audit, Log: log})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	st.Run(ctx)
	if strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a housekeeping loop ended by its context logged:\n%s", logs.String())
	}
}
