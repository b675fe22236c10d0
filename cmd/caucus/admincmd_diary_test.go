package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestAdminGroupDiaryLine: `caucus admin group diary GROUP read-only|read-write`
// checks its arguments before it calls the server, and is listed in help
// with them.
func TestAdminGroupDiaryLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"admin", "group", "--data", dir}, "group takes 3 arguments: diary GROUP read-only|read-write"},
		{[]string{"admin", "group", "diary", "press", "--data", dir}, "takes 3 arguments"},
		{[]string{"admin", "group", "diary", "press", "read-only", "extra", "--data", dir}, "takes 3 arguments"},
		{[]string{"admin", "group", "diary", "press", "readonly", "--data", dir}, "say read-only or read-write"},
		{[]string{"admin", "group", "list", "press", "read-only", "--data", dir}, "the only one is diary"},
		{[]string{"admin", "group", "diary", "press", "read-only", "--data", dir}, "not running"},
		{[]string{"admin", "group", "diary", "press", "read-write", "--data", dir}, "not running"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"admin", "help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "  group diary GROUP read-only|read-write\n") {
		t.Errorf("admin help: exit %d\n%s", code, out.String())
	}
}
