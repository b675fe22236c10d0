package db

import (
	"strconv"
	"strings"
	"testing"
)

// TestLockedBeginKey checks that the BEGIN message takes writeLockKey,
// the key writeLockKey documents (every node must take the same one).
func TestLockedBeginKey(t *testing.T) {
	want := "pg_advisory_xact_lock(" + strconv.FormatInt(writeLockKey, 10) + ")"
	if !strings.Contains(lockedBegin, want) {
		t.Errorf("lockedBegin is %q, want it to take %s", lockedBegin, want)
	}
}
