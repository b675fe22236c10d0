package main

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// TestSecondSignal: with the first phase of the shutdown held up by an
// SMTP client that stays after its 421, a second SIGTERM makes caucus exit
// at once, with status 1, before the shutdown completes.
func TestSecondSignal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "serve", "--dev", "--data", filepath.Join(dir, "data"), "--free-ports")
	cmd.Env = append(os.Environ(), "CAUCUS_TEST_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	waitFor := func(substr string) string {
		t.Helper()
		for sc.Scan() {
			if strings.Contains(sc.Text(), substr) {
				return sc.Text()
			}
		}
		t.Fatalf("caucus ended its log before %q", substr)
		return ""
	}
	serving := waitFor("caucus serving")
	addr := regexp.MustCompile(`submission=(\S+)`).FindStringSubmatch(serving)
	if addr == nil {
		t.Fatalf("no submission address in %q", serving)
	}
	c, err := net.Dial("tcp", addr[1])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard only
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220 ") {
		t.Fatalf("greeting %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor("shutting down")
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "421 ") {
		t.Fatalf("after SIGTERM the SMTP client read %q, %v; want 421", line, err)
	}
	// The client stays: phase 1 waits for it.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for sc.Scan() {
		rest = append(rest, sc.Text())
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("caucus ended with %v after the second SIGTERM, want exit status 1", err)
	}
	log := strings.Join(rest, "\n")
	if !strings.Contains(log, "second signal: exiting at once") || strings.Contains(log, "shutdown complete") {
		t.Errorf("log after the second SIGTERM:\n%s\nwant the exit at once, before the shutdown completes", log)
	}
}
