package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/caucus-org/caucus/internal/config"
)

// TestServeConfigFreePorts checks serve's flags with a configuration file:
// --dev --free-ports keeps each listener's host and frees its port (nodes
// of a test on 127.0.0.2); --free-ports without --dev is refused, and a
// file alone keeps its ports.
func TestServeConfigFreePorts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Dev(dir)
	cfg.Listen.SMTP = "127.0.0.2:2525"
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "caucus.toml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	got, err := serveFlags{cfgFile: file, dev: true, freePorts: true}.config()
	if err != nil {
		t.Fatal(err)
	}
	if got.Listen.SMTP != "127.0.0.2:0" || got.Listen.HTTPS != "127.0.0.1:0" || got.Listen.HTTP != "" {
		t.Errorf("--dev --config --free-ports: listeners %+v; want each host kept, port 0, none added", got.Listen)
	}
	if got, err := (serveFlags{cfgFile: file}).config(); err != nil || got.Listen.SMTP != "127.0.0.2:2525" {
		t.Errorf("--config alone: smtp %q, %v; want the file's 127.0.0.2:2525", got.Listen.SMTP, err)
	}
	if _, err := (serveFlags{cfgFile: file, freePorts: true}).config(); err == nil {
		t.Error("--config --free-ports without --dev was accepted")
	}
	if _, err := (serveFlags{cfgFile: file, dev: true, data: dir}).config(); err == nil {
		t.Error("--dev --data --config was accepted")
	}
}
