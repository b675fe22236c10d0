package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/admin"
)

// TestCohortCommandLine: `caucus admin cohort` asks for what it needs,
// refuses a list over the limit before calling the server, and otherwise
// reaches for the server; the other cohort commands want their --id.
func TestCohortCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	list := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(list, []byte("ann@example-party.org, Ann\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big.txt")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), admin.MaxCohortListBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	full := []string{"admin", "cohort", "--name", "Stand", "--sponsor", "sam", "--last-day", "2027-01-31", "--data", dir}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"admin", "cohort", "--data", dir}, "are required"},
		{append(full, "--file", filepath.Join(dir, "missing.txt")), "no such file"},
		{append(full, "--file", big), "over 128 KB"},
		{append(full, "--file", list), "not running"},
		{[]string{"admin", "cohort-extend", "--last-day", "2027-02-28", "--data", dir}, "--id and --last-day are required"},
		{[]string{"admin", "cohort-end", "--data", dir}, "--id is required"},
		{[]string{"admin", "cohorts", "--data", dir}, "not running"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
