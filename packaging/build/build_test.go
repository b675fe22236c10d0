package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/internal/testtool"
)

// caucusBinary builds cmd/caucus once for the tests of this package.
func caucusBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "caucus")
	cmd := exec.Command(testtool.Need(t, "go"), "build", "-o", bin, "github.com/caucus-org/caucus/cmd/caucus")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// wantFiles are what both packages install.
var wantFiles = []string{
	"/usr/bin/caucus",
	"/usr/lib/systemd/system/caucus.service",
	"/usr/lib/sysusers.d/caucus.conf",
	"/usr/lib/tmpfiles.d/caucus.conf",
}

// TestPackages builds the .deb and .rpm from a real binary and checks
// their contents and scripts with dpkg-deb and rpm, and the unit with
// systemd-analyze.
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds caucus and its .deb and .rpm; go test without -short runs it")
	}
	t.Parallel()
	bin := caucusBinary(t)
	out := t.TempDir()
	o := Options{Binary: bin, Src: "..", Version: "0.1.0", Arch: "amd64", Out: out}
	check := func(t *testing.T, pkg string, list, scripts []string) {
		t.Helper()
		for _, args := range [][]string{list, scripts} {
			args = slices.Clone(args)
			if args[len(args)-1] != "postinst" {
				args = append(args, pkg)
			} else {
				args = slices.Insert(args, len(args)-1, pkg)
			}
			b, err := exec.Command(args[0], args[1:]...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
			}
			text := string(b)
			if args[0] == list[0] && args[1] == list[1] {
				for _, f := range wantFiles {
					if !strings.Contains(text, f) {
						t.Errorf("%s does not install %s:\n%s", filepath.Base(pkg), f, text)
					}
				}
				if !strings.Contains(text, "rwxr-xr-x") && !strings.Contains(text, "0755") && strings.HasSuffix(pkg, ".deb") {
					t.Errorf("binary not executable:\n%s", text)
				}
			} else if !strings.Contains(text, "systemd-sysusers") {
				t.Errorf("%s: no post-install script creating the user:\n%s", filepath.Base(pkg), text)
			}
		}
	}
	t.Run("deb", func(t *testing.T) {
		p, err := Package(o, "deb")
		if err != nil {
			t.Fatal(err)
		}
		dpkg := testtool.Need(t, "dpkg-deb")
		check(t, p, []string{dpkg, "-c"}, []string{dpkg, "-I", "postinst"})
	})
	t.Run("rpm", func(t *testing.T) {
		p, err := Package(o, "rpm")
		if err != nil {
			t.Fatal(err)
		}
		rpm := testtool.Need(t, "rpm")
		check(t, p, []string{rpm, "-qlp"}, []string{rpm, "-qp", "--scripts"})
	})
	t.Run("unit", func(t *testing.T) {
		sa := testtool.Need(t, "systemd-analyze")
		unit, err := os.ReadFile("../caucus.service")
		if err != nil {
			t.Fatal(err)
		}
		// The unit names the installed binary; point it at the one built.
		text := strings.Replace(string(unit), "ExecStart=/usr/bin/caucus", "ExecStart="+bin, 1)
		p := filepath.Join(t.TempDir(), "caucus.service")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := exec.Command(sa, "verify", "--man=no", p).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(b))) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, b)
		}
		for _, d := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
			"CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "PrivateTmp=yes", "ProtectHome=yes", "SystemCallFilter=@system-service",
			"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "ReadWritePaths=/var/lib/caucus", "User=caucus"} {
			if !strings.Contains(text, "\n"+d+"\n") {
				t.Errorf("unit lacks %s", d)
			}
		}
	})
}
