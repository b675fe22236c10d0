package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCLI runs a caucus command line and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestAdminAuditOverSocket: `caucus admin audit` reads the running
// server's audit log through the control socket.
func TestAdminAuditOverSocket(t *testing.T) {
	t.Parallel()
	_, dir := startMailDev(t)
	code, out, errOut := runCLI(t, "admin", "audit", "--data", dir, "--kind", "invite.")
	if code != 0 || !strings.Contains(out, "invite.create") || !strings.Contains(out, "admin@") {
		t.Fatalf("admin audit: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "admin", "audit", "--data", dir, "--kind", "nothing.like.this"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("admin audit with no match: exit %d\n%s", code, out)
	}
}
