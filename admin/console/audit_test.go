package console

import (
	"encoding/csv"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/internal/audit"
)

// href returns the target of the link with id in a page, as a browser
// reads it (the attribute's HTML escapes undone).
func href(t *testing.T, body, id string) string {
	t.Helper()
	re := regexp.MustCompile(`<a [^>]*href="([^"]*)"[^>]*id="` + regexp.QuoteMeta(id) + `"|<a [^>]*id="` + regexp.QuoteMeta(id) + `"[^>]*href="([^"]*)"`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link #%s in the page", id)
	}
	return html.UnescapeString(m[1] + m[2])
}

// fillAudit writes n records about who, kinds "test.a" and "test.b" in turn.
func fillAudit(t *testing.T, c *console, n int, who string) {
	t.Helper()
	for i := range n {
		kind := []string{"test.a", "test.b"}[i%2]
		if err := c.env.Audit.Record(t.Context(), audit.Event{Actor: "boss@example.org", Subject: who, Kind: kind, Detail: fmt.Sprintf("n=%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuditOlderLink: the audit page's "Older" link, followed as a browser
// follows it, leads to the older records (issue 16 bug 2: it was
// HTML-escaped to "before%3d…" and led back to the newest).
func TestAuditOlderLink(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	fillAudit(t, c, auditPageSize+50, "vol@example.org")
	code, _, body := c.do(t, admin, "GET", "/admin/audit", nil)
	if code != http.StatusOK {
		t.Fatalf("audit page: %d", code)
	}
	first := regexp.MustCompile(`n=(\d+)`).FindStringSubmatch(body)
	older := href(t, body, "older")
	code, _, body2 := c.do(t, admin, "GET", older, nil)
	if code != http.StatusOK {
		t.Fatalf("older page %s: %d", older, code)
	}
	again := regexp.MustCompile(`n=(\d+)`).FindStringSubmatch(body2)
	if first == nil || again == nil || again[1] == first[1] {
		t.Fatalf("the Older link %q shows the same newest record (n=%v), not older ones", older, again)
	}
	if !strings.Contains(body2, "n=0<") {
		t.Errorf("the Older page lacks the oldest record")
	}
}

// TestAuditCSVKeepsFilter: "Export CSV" of a filtered audit log, followed
// as a browser follows it, holds only the filtered records (issue 16 bug 3:
// it handed out the whole log).
func TestAuditCSVKeepsFilter(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	fillAudit(t, c, 10, "vol@example.org")
	fillAudit(t, c, 10, "other@example.org")
	_, _, body := c.do(t, admin, "GET", "/admin/audit?account=vol%40example.org&kind=test.a", nil)
	link := href(t, body, "auditcsv")
	code, _, text := c.do(t, admin, "GET", link, nil)
	if code != http.StatusOK {
		t.Fatalf("CSV %s: %d", link, code)
	}
	recs, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+5 {
		t.Errorf("CSV export %s has %d records, want the 5 the filter selects", link, len(recs)-1)
	}
	for _, r := range recs[1:] {
		if line := strings.Join(r, ","); !strings.Contains(line, "vol@example.org") || !strings.Contains(line, "test.a") {
			t.Errorf("CSV export has a record outside the filter: %s", line)
		}
	}
}

// TestAuditSearchAndPaging: the audit log's free-text search, its pages
// both ways, and its export, all keeping the search.
func TestAuditSearchAndPaging(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	fillAudit(t, c, 2*auditPageSize+20, "vol@example.org")
	fillAudit(t, c, 5, "other@example.org")
	_, _, body := c.do(t, admin, "GET", "/admin/audit?q=VOL%40example", nil)
	if strings.Contains(body, "other@example.org") || strings.Contains(body, `id="newer"`) {
		t.Errorf("search for vol@: shows others' records or a Newer link")
	}
	first := regexp.MustCompile(`n=(\d+)`).FindStringSubmatch(body)[1]
	older := href(t, body, "older")
	_, _, body = c.do(t, admin, "GET", older, nil)
	if !strings.Contains(older, "q=VOL%40example") || strings.Contains(body, "other@example.org") {
		t.Errorf("the Older link %q loses the search", older)
	}
	_, _, body = c.do(t, admin, "GET", href(t, body, "older"), nil)
	if !strings.Contains(body, "n=0<") {
		t.Errorf("the third page lacks the oldest record")
	}
	_, _, body = c.do(t, admin, "GET", href(t, body, "newer"), nil)
	_, _, body = c.do(t, admin, "GET", href(t, body, "newer"), nil)
	if got := regexp.MustCompile(`n=(\d+)`).FindStringSubmatch(body)[1]; got != first {
		t.Errorf("back twice toward newer records: the page starts at n=%s, want n=%s", got, first)
	}
	_, _, text := c.do(t, admin, "GET", href(t, body, "auditcsv"), nil)
	if n := strings.Count(text, "\n"); n != 1+2*auditPageSize+20 || strings.Contains(text, "other@example.org") {
		t.Errorf("the export of the search has %d lines, want the header and %d records of vol@", n, 2*auditPageSize+20)
	}
}
