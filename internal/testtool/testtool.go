// Package testtool finds the outside programs that caucus's tests drive as a
// real user would (Chromium, oathtool, swaks, litmus, rclone, mbsync …).
// A missing program skips the test with a clear message, except under CI
// (CI=true), where it fails: CI installs every program the tests need.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Need returns the path of the named program, looking it up on PATH, or
// skips (fails under CI=true) when it is not installed.
func Need(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but was not found on PATH (install it in .ci/run): %v", name, err)
	}
	t.Skipf("%s not installed; skipping (install it, or run bash .ci/run)", name)
	return ""
}
