package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/internal/config"
)

// start builds a server and serves it, as `caucus serve` does.
func start(ctx context.Context, cfg config.Config, deps Deps) (*Server, error) {
	s, err := New(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	if err := s.Serve(ctx); err != nil {
		s.Shutdown(ctx)
		return nil, err
	}
	return s, nil
}

// caucusBin is the caucus command, built once for the tests that run it as
// an administrator or a service manager would (the command line against a
// running server, signals, crashes).
var caucusBin struct {
	once      sync.Once
	dir, path string
	err       error
}

// caucusBinary builds cmd/caucus into a temporary directory, once.
func caucusBinary() (string, error) {
	caucusBin.once.Do(func() {
		caucusBin.dir, caucusBin.err = os.MkdirTemp("", "caucus-bin-")
		if caucusBin.err != nil {
			return
		}
		caucusBin.path = filepath.Join(caucusBin.dir, "caucus")
		gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gotool); err != nil {
			gotool = "go"
		}
		out, err := exec.Command(gotool, "build", "-o", caucusBin.path, "github.com/caucus-org/caucus/cmd/caucus").CombinedOutput()
		if err != nil {
			caucusBin.err = fmt.Errorf("go build cmd/caucus: %w\n%s", err, out)
		}
	})
	return caucusBin.path, caucusBin.err
}

// caucusCommand is the built caucus command with args.
func caucusCommand(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := caucusBinary()
	if err != nil {
		t.Fatal(err)
	}
	return exec.Command(bin, args...)
}

// run runs the caucus command line with args and returns its exit code,
// like cmd/caucus's own run.
func run(args []string, stdout, stderr io.Writer) int {
	bin, err := caucusBinary()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return -1
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode()
	case err != nil:
		fmt.Fprintln(stderr, err)
		return -1
	}
	return 0
}

func TestMain(m *testing.M) {
	code := m.Run()
	if caucusBin.dir != "" {
		os.RemoveAll(caucusBin.dir)
	}
	os.Exit(code)
}
