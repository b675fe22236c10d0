package ctl

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/caucus-org/caucus/internal/testtool"
)

// TestOtherUserRefused: even when the file modes let another user reach
// the socket (an admin's mistake), the server checks the peer's user id
// and refuses. It needs root, to connect as nobody.
func TestOtherUserRefused(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Skip("needs root to connect as another user")
	}
	// The system's interpreter: one under root's home (pyenv) is not
	// executable by nobody.
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		python = testtool.Need(t, "python3")
	}
	_, dir := start(t, Config{}, map[string]Handler{"echo": echo})
	sock := filepath.Join(dir, SocketName)
	for path, mode := range map[string]os.FileMode{filepath.Dir(dir): 0o755, dir: 0o755, sock: 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	script := `import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"op":"echo","args":{"say":"hi"}}\n')
except BrokenPipeError:
    pass  # the server answered and closed before reading
print(s.makefile().readline())`
	cmd := exec.CommandContext(t.Context(), python, "-c", script, sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "not allowed") || strings.Contains(string(out), `"ok":true`) {
		t.Errorf("answer to nobody: %s", out)
	}
}
