package ctl

import (
	"testing"

	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// TestMain runs the package's tests on SQLite, then on PostgreSQL.
func TestMain(m *testing.M) { dbtest.Main(m) }
