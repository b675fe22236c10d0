package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/internal/config"
)

func TestInitWritesValidConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "etc", "caucus.toml")
	var stdout, stderr bytes.Buffer
	args := []string{"init", "--config", path, "--hostname", "mail.example-party.org", "--domain", "example-party.org", "--data", filepath.Join(dir, "data"), "--acme-contact", "admin@example-party.org"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("init exit %d: %s", code, stderr.String())
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("written config does not load: %v", err)
	}
	for _, want := range []string{"example-party.org.\t3600\tIN\tMX\t10 mail.example-party.org.", "_dmarc.example-party.org.", "p=reject", "._domainkey.example-party.org.", "k=ed25519", "k=rsa", "_mta-sts.example-party.org.", "_smtp._tls.example-party.org."} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("init output lacks %q:\n%s", want, stdout.String())
		}
	}
	// caucus dns prints the same records with the same keys.
	initOut := stdout.String()
	stdout.Reset()
	if code := run([]string{"dns", "--config", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("dns: exit %d: %s", code, stderr.String())
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.Contains(line, "_domainkey") && !strings.Contains(initOut, line) {
			t.Errorf("caucus dns shows another DKIM key than init made: %s", line)
		}
	}
	if cfg.Hostname != "mail.example-party.org" || cfg.MailDomains[0] != "example-party.org" || cfg.ACMEContact != "admin@example-party.org" {
		t.Errorf("config values: %+v", cfg)
	}
	stderr.Reset()
	if code := run(args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "not overwriting") {
		t.Errorf("second init: exit %d, %q; want a refusal to overwrite", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"init", "--config", filepath.Join(dir, "x.toml"), "--hostname", "not a host", "--domain", "example-party.org", "--acme-contact", "a@b.org"}, &stdout, &stderr); code == 0 {
		t.Error("init accepted an invalid host name")
	}
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "caucus ") {
		t.Errorf("version: exit %d, %q", code, stdout.String())
	}
	for _, args := range [][]string{nil, {"bogus"}, {"serve"}, {"serve", "--dev"}, {"serve", "--dev", "--data", "x", "--config", "y"}} {
		stdout.Reset()
		stderr.Reset()
		if code := run(args, &stdout, &stderr); code == 0 {
			t.Errorf("%q: exit 0, want failure", args)
		}
	}
}
