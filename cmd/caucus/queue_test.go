package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/mail/queue"
)

func TestQueueCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	d, err := db.Open(ctx, filepath.Join(dir, "caucus.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx, queue.Component()); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs", "queue"))
	if err != nil {
		t.Fatal(err)
	}
	q := queue.New(queue.Config{Hostname: "mail.example-party.org", Resolver: &dns.Mock{}}, d, blobs, nil)
	id, err := q.Enqueue(ctx, "alice@example-party.org", []string{"bob@example.org"}, strings.NewReader("Subject: x\r\n\r\nhi\r\n"))
	if err != nil {
		t.Fatal(err)
	}

	cmd := func(wantCode int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"queue"}, args...), &stdout, &stderr); code != wantCode {
			t.Fatalf("caucus queue %q: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
	ids := fmt.Sprint(id)
	out := cmd(0, "list", "--data", dir)
	t.Logf("caucus queue list:\n%s", out)
	if !strings.Contains(out, "bob@example.org") || !strings.Contains(out, "alice@example-party.org") {
		t.Errorf("list:\n%s", out)
	}
	if out := cmd(0, "--data", dir, "retry", ids); !strings.Contains(out, "due now") {
		t.Errorf("retry: %s", out)
	}
	cmd(0, "drop", ids, "--data", dir)
	if out := cmd(1, "drop", ids, "--data", dir); !strings.Contains(out, "no such message") {
		t.Errorf("second drop: %s", out)
	}
	if out := cmd(0, "list", "--data", dir); !strings.Contains(out, "empty") {
		t.Errorf("list after drop:\n%s", out)
	}
	cmd(1, "retry", "x", "--data", dir)
	cmd(1, "frobnicate", "--data", dir)
	cmd(1, "--data", dir)
	cmd(1, "list", "--config", filepath.Join(dir, "missing.toml"))
}
