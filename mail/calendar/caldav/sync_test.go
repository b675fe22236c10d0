package caldav_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

func syncReport(token string) string {
	return `<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:sync-token>` + token +
		`</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`
}

var tokenRE = regexp.MustCompile(`<sync-token[^>]*>([^<]*)</sync-token>`)

func tokenOf(t *testing.T, body string) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no sync-token in\n%s", body)
	}
	return m[1]
}

// TestSyncCollection runs RFC 6578's sync-collection REPORT: an initial
// sync, one with no change, one after an edit and a deletion, and tokens
// the calendar never gave.
func TestSyncCollection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	cal := alice.home() + "personal/"
	for _, uid := range []string{"a", "b", "c"} {
		if code, _, _ := e.do(t, alice, "PUT", cal+uid+".ics", event(uid, "20260610T090000Z", "20260610T100000Z", "")); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d", uid, code)
		}
	}
	code, body, _ := e.do(t, alice, "PROPFIND", cal, `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:sync-token/><D:supported-report-set/></D:prop></D:propfind>`, "Depth", "0")
	if code != http.StatusMultiStatus || !strings.Contains(body, "sync-collection") {
		t.Fatalf("PROPFIND sync-token: %d\n%s", code, body)
	}
	propToken := tokenOf(t, body)

	code, body, _ = e.do(t, alice, "REPORT", cal, syncReport(""))
	if code != http.StatusMultiStatus || strings.Count(body, "<response") != 3 {
		t.Fatalf("initial sync: %d\n%s", code, body)
	}
	tok := tokenOf(t, body)
	if tok != propToken {
		t.Errorf("REPORT's token %s, the property's %s", tok, propToken)
	}
	code, body, _ = e.do(t, alice, "REPORT", cal, syncReport(tok))
	if code != http.StatusMultiStatus || strings.Contains(body, "<response") || tokenOf(t, body) != tok {
		t.Fatalf("sync without changes: %d\n%s", code, body)
	}
	if code, _, _ := e.do(t, alice, "PUT", cal+"a.ics", event("a", "20260611T090000Z", "20260611T100000Z", "")); code != http.StatusCreated && code != http.StatusNoContent {
		t.Fatalf("PUT a again: %d", code)
	}
	if code, _, _ := e.do(t, alice, "DELETE", cal+"b.ics", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE b: %d", code)
	}
	code, body, _ = e.do(t, alice, "REPORT", cal, syncReport(tok))
	if code != http.StatusMultiStatus || strings.Count(body, "<response") != 2 || !strings.Contains(body, "a.ics") ||
		!regexp.MustCompile(`b\.ics</href><status>HTTP/1.1 404`).MatchString(body) || strings.Contains(body, "c.ics") {
		t.Fatalf("sync after an edit and a deletion: %d\n%s", code, body)
	}
	if tokenOf(t, body) == tok {
		t.Fatal("the token did not change")
	}
	for _, bad := range []string{"data:,caucus-calendar-1-99", "data:,caucus-calendar-2-1", "http://example.org/sync/1", "data:,caucus-calendar-1-1x"} {
		code, body, _ := e.do(t, alice, "REPORT", cal, syncReport(bad))
		if code != http.StatusForbidden || !strings.Contains(body, "valid-sync-token") {
			t.Errorf("token %s: %d %s, want 403 valid-sync-token", bad, code, body)
		}
	}
	limited := strings.Replace(syncReport(""), "<D:sync-level>", "<D:limit><D:nresults>1</D:nresults></D:limit><D:sync-level>", 1)
	if code, body, _ := e.do(t, alice, "REPORT", cal, limited); code != http.StatusInsufficientStorage || !strings.Contains(body, "number-of-matches-within-limits") {
		t.Errorf("limit 1: %d %s", code, body)
	}
}
