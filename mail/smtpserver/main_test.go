package smtpserver

import (
	"testing"

	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
