package console

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/i18n"
)

// FuzzAuditWords: the audit page's reading of stored records (words.go)
// takes any kind, outcome, reason and detail without panicking, keeps a
// detail it does not know as stored, and never loses a report's id.
func FuzzAuditWords(f *testing.F) {
	for _, s := range [][4]string{
		{"admin.offboard", "ok", "", "report=12 steps=7"},
		{"admin.offboard.step", "ok", "", "skipped removed from groups: in no group"},
		{"admin.offboard.step", "fail", "", "files (error: boom)"},
		{"login.password", "fail", "bad-credentials", "count=3 first=2026-06-30T10:00:00Z last=2026-06-30T10:05:00Z (repeated failures, aggregated)"},
		{"login.password", "fail", "throttled", "count=3 first=x last=y (repeated failures, aggregated)"},
		{"revoke", "", "", "sessions=1 app_passwords=0 connections=99999999999999999999"},
		{"account.state", "ok", "", "active -> gone"},
		{"factor.add", "ok", "", "security-key "},
		{"invite.mail", "fail", "", "to "},
		{"x", "weird", "unknown-reason", "report=99999999999999999999 steps=1"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	l := i18n.Builtin().Localizer("it", time.UTC)
	f.Fuzz(func(t *testing.T, kind, outcome, reason, detail string) {
		row := auditRow{Record: audit.Record{Event: audit.Event{Kind: kind, Outcome: outcome, Reason: reason, Detail: detail}}}
		auditWordsOf(l, &row)
		if detail != "" && row.DetailWords == "" {
			t.Errorf("detail %q shown as nothing", detail)
		}
		if reason != "" && row.ReasonWords == "" {
			t.Errorf("reason %q shown as nothing", reason)
		}
		if row.Report != 0 && !strings.HasPrefix(detail, "report="+strconv.FormatInt(row.Report, 10)+" ") {
			t.Errorf("detail %q read as report %d", detail, row.Report)
		}
		if row.Report == 0 && strings.Contains(row.DetailWords, "resoconto") && !strings.Contains(detail, "resoconto") {
			t.Errorf("detail %q shown as a report with no id: %q", detail, row.DetailWords)
		}
	})
}
