package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as caucus itself, so that the signal
// test runs the real main in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("CAUCUS_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestSignalShutdown starts caucus serve --dev as a process, waits for it to
// serve, sends SIGTERM, and expects a clean exit with the first phase of the
// shutdown logged.
func TestSignalShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "serve", "--dev", "--data", filepath.Join(dir, "data"), "--free-ports")
	cmd.Env = append(os.Environ(), "CAUCUS_TEST_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitFor := func(substr string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("caucus exited before logging %q", substr)
				}
				t.Log(l)
				if strings.Contains(l, substr) {
					return
				}
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("timed out waiting for %q", substr)
			}
		}
	}
	waitFor("caucus serving")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor("shutting down")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("caucus exited with %v after SIGTERM, want a clean exit", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("caucus did not exit within 20 s of SIGTERM")
	}
	if !strings.HasPrefix(stdout.String(), "enrol: https://localhost:") {
		t.Errorf("stdout %q, want the enrol: line", stdout.String())
	}
}
