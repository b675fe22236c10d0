package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
)

// TestAuditVerify: `caucus audit verify` passes an intact chain and fails,
// naming the record, when one was edited in the database.
func TestAuditVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"audit", "verify", "--data", dir}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no database") {
		t.Errorf("without a database: exit %d, %q", code, stderr.String())
	}
	d, err := db.Open(t.Context(), filepath.Join(dir, "caucus.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(t.Context(), audit.Component()); err != nil {
		t.Fatal(err)
	}
	log := audit.New(d, time.Now, nil)
	for _, who := range []string{"anna@example-party.org", "bob@example-party.org", "carla@example-party.org"} {
		if err := log.Record(t.Context(), audit.Event{Actor: "admin@example-party.org", Subject: who, Kind: "offboard"}); err != nil {
			t.Fatal(err)
		}
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"audit", "verify", "--data", dir}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "3 records verified") {
		t.Fatalf("intact chain: exit %d, %q %q", code, stdout.String(), stderr.String())
	}
	// Someone with the database hides who offboarded bob.
	if _, err := d.ExecContext(t.Context(), `UPDATE audit_log SET actor = 'nobody' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"audit", "verify", "--data", dir}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "BROKEN at record 2") {
		t.Errorf("edited record: exit %d, %q", code, stderr.String())
	}
}

// TestAdminCommandLine: usage errors and a server that is not running are
// told clearly, with a failing exit code; help is not an error.
func TestAdminCommandLine(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run([]string{"admin", "--help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "offboard LOGIN") {
		t.Errorf("admin --help: exit %d, %q", code, out.String())
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"admin"}, "missing command"},
		{[]string{"admin", "frobnicate"}, "unknown command"},
		{[]string{"admin", "suspend", "--data", dir}, "takes one login"},
		{[]string{"admin", "list", "extra", "--data", dir}, "takes no argument"},
		{[]string{"admin", "list", "--data", dir}, "not running"},
		{[]string{"admin", "suspend", "anna@example-party.org", "--data", dir}, "not running"},
		{[]string{"audit"}, "verify"},
		{[]string{"audit", "verify", "--config", "/nonexistent/caucus.toml"}, "nonexistent"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestAdminHelpFromTable: `caucus admin help` lists every command of the
// table with its help line, `caucus admin help COMMAND` shows that
// command's own flags, and a flag of one command is refused by another.
func TestAdminHelpFromTable(t *testing.T) {
	t.Parallel()
	cmds := adminCommands()
	if len(cmds) < 6 {
		t.Fatalf("only %d admin commands", len(cmds))
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"admin", "help"}, &out, &errOut); code != 0 {
		t.Fatalf("admin help: exit %d, %q", code, errOut.String())
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		if seen[c.name] {
			t.Errorf("command %s twice in the table", c.name)
		}
		seen[c.name] = true
		if !strings.Contains(out.String(), "  "+c.synopsis()+"\n        "+c.help+"\n") {
			t.Errorf("admin help lacks %s and its help:\n%s", c.name, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"admin", "help", "offboard"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "-successor LOGIN") || strings.Contains(out.String(), "-mail-to") {
		t.Errorf("admin help offboard: exit %d\n%s", code, out.String())
	}
	errOut.Reset()
	if code := run([]string{"admin", "list", "--successor", "x@example-party.org", "--data", t.TempDir()}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "flag provided but not defined: -successor") {
		t.Errorf("list with offboard's flag: exit %d, %q", code, errOut.String())
	}
}
