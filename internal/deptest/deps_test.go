// Package deptest holds the test that keeps caucus's direct dependencies to
// the list the README names and explains (tailscale's tstest/deptest idea).
package deptest

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// allowed are the direct dependencies, each chosen on purpose; README.md
// says why. Adding one means adding it here and there.
var allowed = []string{
	"github.com/BurntSushi/toml",
	"github.com/chromedp/cdproto",
	"github.com/chromedp/chromedp",
	"github.com/emersion/go-imap/v2",
	"github.com/emersion/go-message",
	"github.com/emersion/go-msgauth",
	"github.com/emersion/go-sasl",
	"github.com/emersion/go-smtp",
	"github.com/emersion/go-webdav", // CalDAV and CardDAV servers
	"github.com/emersion/go-ical",
	"github.com/emersion/go-vcard",
	"github.com/teambition/rrule-go", // go-ical's recurrences, bounded by mail/calendar
	"blitiri.com.ar/go/spf",
	"github.com/go-webauthn/webauthn",
	"github.com/letsencrypt/pebble/v2", // tests only: in-process ACME server
	"github.com/pquerna/otp",
	"github.com/boombuler/barcode",
	"golang.org/x/crypto",
	"golang.org/x/net",
	"golang.org/x/text",
	"modernc.org/sqlite",
	"modernc.org/libc", // sqlite's C runtime: internal/db sets a connection option the driver has no setting for
	"filippo.io/age",
	"github.com/goreleaser/nfpm/v2",
	"github.com/minio/minio-go/v7", // the S3 blob store's client: far fewer modules than the AWS SDK
	"github.com/jackc/pgx/v5",      // PostgreSQL, the engine of several nodes: the Go driver PostgreSQL users run, through database/sql

	"github.com/klauspost/compress", // inflates Takeout archives (ZIP, .tgz) in two thirds of compress/flate's CPU; in the build already through minio-go
}

// direct returns the module paths go.mod requires without "// indirect".
func direct(t *testing.T, gomod string) []string {
	f, err := os.Open(gomod)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	inBlock := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "require (":
			inBlock = true
			continue
		case inBlock && line == ")":
			inBlock = false
			continue
		case strings.HasPrefix(line, "require "):
			line = strings.TrimPrefix(line, "require ")
		case !inBlock:
			continue
		}
		if line == "" || strings.HasPrefix(line, "//") || strings.Contains(line, "// indirect") {
			continue
		}
		out = append(out, strings.Fields(line)[0])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDirectDependencies(t *testing.T) {
	deps := direct(t, "../../go.mod")
	if len(deps) == 0 {
		t.Fatal("found no direct dependencies in go.mod; the parser is wrong")
	}
	for _, d := range deps {
		if !slices.Contains(allowed, d) {
			t.Errorf("direct dependency %s is not on the allowed list: choose it on purpose, add it to README.md (with why) and to this list", d)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps {
		if !strings.Contains(string(readme), d) {
			t.Errorf("README.md does not name direct dependency %s and why it was chosen", d)
		}
	}
}
