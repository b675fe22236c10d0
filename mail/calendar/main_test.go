package calendar_test

import (
	"testing"

	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// TestMain runs the package's tests on SQLite and again on PostgreSQL.
func TestMain(m *testing.M) { dbtest.Main(m) }
