package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// needTool returns the path of the outside program name (chromium, oathtool,
// swaks, …) that a test drives. It looks on PATH, then in /usr/bin and
// /usr/local/bin (a CI job may run with a short PATH). When the program is
// missing the test is skipped with a clear message, or fails when the
// environment variable CI is "true": there a missing tool is a broken setup,
// not a reason to test less (.ci/run installs them).
func needTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/local/bin"} {
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found on PATH, in /usr/bin or in /usr/local/bin: install it (Debian: see the package list in .ci/run) to run this test", name)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a missing tool fails the test instead of skipping it)")
	}
	t.Skip(msg)
	return ""
}
