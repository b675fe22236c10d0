package console

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/i18n"
)

// This file puts into the reader's words what the operations and the
// audit log keep in the code's: CSV row errors, DNS checks, reports and
// the audit log's outcomes, reasons and details. The raw values stay
// available: in the saved report's JSON, in a title on the audit page,
// and in the audit log's CSV export.

// localizeCSV puts the row errors of an import in l's words.
func localizeCSV(l *i18n.Localizer, pv *admin.CSVPreview) {
	for i := range pv.Rows {
		row := &pv.Rows[i]
		if len(row.Why) == 0 {
			continue
		}
		row.Errs = make([]string, len(row.Why))
		for j, w := range row.Why {
			row.Errs[j] = w.In(l)
		}
	}
}

// dnsRow is a DNS check in the reader's words.
type dnsRow struct {
	admin.DNSCheck
	Why, Fix string
}

func dnsRows(l *i18n.Localizer, checks []admin.DNSCheck) []dnsRow {
	out := make([]dnsRow, len(checks))
	for i, c := range checks {
		out[i] = dnsRow{DNSCheck: c, Why: c.Purpose.In(l), Fix: c.Advice.In(l)}
	}
	return out
}

// reportText is a report as plain text in l's words, one line per step,
// times in l's time zone: the report's download.
func reportText(l *i18n.Localizer, rep admin.Report) string {
	var b strings.Builder
	b.WriteString(l.T("admin.report.title", "title", reportTitle(l, rep.Kind), "id", rep.ID) + "\n")
	if rep.Subject != "" {
		b.WriteString(l.T("admin.report.account", "login", rep.Subject) + "\n")
	}
	b.WriteString(l.T("admin.report.by", "actor", rep.Actor) + "\n")
	b.WriteString(l.T("admin.report.started", "when", l.DateTime(rep.Started)) + "\n\n")
	for _, s := range localSteps(l, rep.Steps) {
		at := l.DateTime(s.At)
		fmt.Fprintf(&b, "%s  %s  %s", at, outcomeWord(l, s.Outcome), s.Name)
		if s.Detail != "" {
			b.WriteString(": " + s.Detail)
		}
		if s.Err != "" {
			b.WriteString(" (" + l.T("admin.report.error", "err", s.Err) + ")")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// auditOutcomes are the message keys of the audit log's outcomes.
var auditOutcomes = map[string]string{
	audit.OK: i18n.Key("admin.audit.ok"), audit.Fail: i18n.Key("admin.audit.fail"), audit.Refused: i18n.Key("admin.audit.refused"),
}

// auditReasons are the message keys of the audit log's reasons.
var auditReasons = map[string]string{
	"bad-credentials": i18n.Key("admin.reason.bad-credentials"), "bad-password": i18n.Key("admin.reason.bad-password"),
	"bad-code": i18n.Key("admin.reason.bad-code"), "bad-response": i18n.Key("admin.reason.bad-response"),
	"rejected": i18n.Key("admin.reason.rejected"), "inactive": i18n.Key("admin.reason.inactive"),
	"no-factor": i18n.Key("admin.reason.no-factor"), "oversized": i18n.Key("admin.reason.oversized"),
	"scope": i18n.Key("admin.reason.scope"), "throttled": i18n.Key("admin.reason.throttled"),
	"throttled-address": i18n.Key("admin.reason.throttled-address"), "invalid": i18n.Key("admin.reason.invalid"),
	"sign-count": i18n.Key("admin.reason.sign-count"), "wrong-user": i18n.Key("admin.reason.wrong-user"),
	"failed": i18n.Key("admin.reason.failed"), "mail-from": i18n.Key("admin.reason.mail-from"),
	"from-header": i18n.Key("admin.reason.from-header"), "display-name-address": i18n.Key("admin.reason.display-name-address"),
	"display-name-member": i18n.Key("admin.reason.display-name-member"), "hourly-limit": i18n.Key("admin.reason.hourly-limit"),
	"recipient-limit": i18n.Key("admin.reason.recipient-limit"),
}

var (
	// reportDetailRE is the detail of an admin action's record (run.finish).
	reportDetailRE = regexp.MustCompile(`^report=(\d+) steps=(\d+)$`)
	// repeatedDetailRE is the detail of aggregated failures (audit's aggregator).
	repeatedDetailRE = regexp.MustCompile(`^count=(\d+) first=(\S+) last=(\S+) \(repeated failures, aggregated\)$`)
	// revokeDetailRE is the detail of a revocation (auth.RevokeReport).
	revokeDetailRE = regexp.MustCompile(`^sessions=(\d+) app_passwords=(\d+) connections=(\d+)$`)
	// stateDetailRE is the detail of a change of an account's state.
	stateDetailRE = regexp.MustCompile(`^([a-z]+) -> ([a-z]+)$`)
)

// stateWords are the message keys of the accounts' states.
var stateWords = map[string]string{
	"active": i18n.Key("console.state.active"), "invited": i18n.Key("console.state.invited"),
	"suspended": i18n.Key("console.state.suspended"), "offboarded": i18n.Key("console.state.offboarded"),
}

// factorWords are the message keys of the factor kinds a factor's
// record starts with.
var factorWords = map[string]string{
	"passkey": i18n.Key("account.kind.passkey"), "security-key": i18n.Key("account.kind.security_key"), "totp": i18n.Key("account.kind.totp"),
}

// auditWordsOf fills in row's outcome, reason and detail in l's words; a
// detail with no words of its own (data, a stored sentence) is shown as
// stored.
func auditWordsOf(l *i18n.Localizer, row *auditRow) {
	rec := row.Record
	if key, ok := auditOutcomes[cmpOK(rec.Outcome)]; ok {
		row.OutcomeWords = l.T(key) // i18n:keyed
	} else {
		row.OutcomeWords = rec.Outcome
	}
	if key, ok := auditReasons[rec.Reason]; ok {
		row.ReasonWords = l.T(key) // i18n:keyed
	} else {
		row.ReasonWords = rec.Reason
	}
	row.DetailWords = rec.Detail
	if m := reportDetailRE.FindStringSubmatch(rec.Detail); m != nil {
		id, err1 := strconv.ParseInt(m[1], 10, 64)
		n, err2 := strconv.Atoi(m[2])
		if err1 == nil && err2 == nil {
			row.DetailWords, row.Report = l.T("admin.audit.report", "id", id, "n", n), id
		}
		return
	}
	if m := repeatedDetailRE.FindStringSubmatch(rec.Detail); m != nil {
		n, _ := strconv.Atoi(m[1])
		first, err1 := time.Parse(time.RFC3339Nano, m[2])
		last, err2 := time.Parse(time.RFC3339Nano, m[3])
		if err1 == nil && err2 == nil {
			row.DetailWords = l.T("admin.audit.repeated", "n", n, "first", l.DateTime(first), "last", l.DateTime(last))
		}
		return
	}
	if strings.HasPrefix(rec.Kind, "admin.") && strings.HasSuffix(rec.Kind, ".step") {
		row.DetailWords = stepRecordWords(l, rec.Detail)
		return
	}
	row.DetailWords = dataWords(l, rec.Kind, rec.Detail)
}

// dataWords is the detail of a record the domain packages write as data
// (counts, states, a factor's kind) in l's words; other details as they
// are.
func dataWords(l *i18n.Localizer, kind, detail string) string {
	if m := revokeDetailRE.FindStringSubmatch(detail); m != nil {
		n := make([]int, 3)
		for i := range n {
			var err error
			if n[i], err = strconv.Atoi(m[i+1]); err != nil {
				return detail
			}
		}
		return l.T("admin.step.revoked", "sessions", n[0], "apppw", n[1], "live", n[2])
	}
	if m := stateDetailRE.FindStringSubmatch(detail); m != nil && kind == "account.state" {
		from, ok1 := stateWords[m[1]]
		to, ok2 := stateWords[m[2]]
		if ok1 && ok2 {
			return l.T(from) + " → " + l.T(to) // i18n:keyed
		}
	}
	if strings.HasPrefix(kind, "factor.") {
		k, name, _ := strings.Cut(detail, " ")
		if key, ok := factorWords[k]; ok {
			return strings.TrimSpace(l.T(key) + " " + name) // i18n:keyed
		}
	}
	if addr, ok := strings.CutPrefix(detail, "to "); ok && kind == "invite.mail" {
		return l.T("admin.audit.mailed_to", "addr", addr)
	}
	return detail
}

// cmpOK is an outcome with the empty one read as OK.
func cmpOK(outcome string) string {
	if outcome == "" {
		return audit.OK
	}
	return outcome
}

// stepRecordWords is the step named by a step's audit record ("skipped
// name: detail", run.finish) in l's words; its English detail stays in
// the report and the record.
func stepRecordWords(l *i18n.Localizer, detail string) string {
	name, _, _ := strings.Cut(detail, ": ")
	name, _, _ = strings.Cut(name, " (error: ")
	skipped := strings.HasPrefix(name, "skipped ")
	name = strings.TrimPrefix(name, "skipped ")
	key, ok := stepWords[name]
	if !ok {
		return detail
	}
	s := l.T(key) // i18n:keyed
	if skipped {
		s += " (" + l.T("admin.audit.skipped") + ")"
	}
	return s
}
