package notice

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
)

// handle turns one audit record into the notices it calls for, and
// reports whether it was one that may. later are the records after it
// that were read with it.
func (n *Notifier) handle(ctx context.Context, r audit.Record, later []audit.Record) bool {
	it := item{At: r.Time, Addr: r.Addr, UserAgent: r.UserAgent}
	if r.Kind == "admin.incident.on" {
		// Whatever the outcome: a step that failed for some accounts
		// does not undo what it did for the others.
		n.incident(ctx, it)
		return true
	}
	if r.Outcome != audit.OK {
		return false
	}
	switch {
	case strings.HasPrefix(r.Kind, "login.") && r.Detail == auth.DetailNewDevice:
		n.note(ctx, r.Subject, KindSignIn, "", it)
	case r.Kind == "apppassword.create":
		it.What = appPasswordName(r.Detail)
		n.note(ctx, r.Subject, KindAppPassword, "", it)
	case r.Kind == "factor.add":
		if !n.enrolling(ctx, r, later) {
			it.What, it.Name = factorOf(r.Detail)
			n.note(ctx, r.Subject, KindFactor, "", it)
		}
	case r.Kind == "factor.remove" || r.Kind == "factor.remove-all":
		it.Removed, it.All = true, r.Kind == "factor.remove-all"
		n.note(ctx, r.Subject, KindFactor, "", it)
	case r.Kind == "password.change":
		n.note(ctx, r.Subject, KindPassword, "", it)
	case r.Kind == "files.share":
		n.share(ctx, r, it)
	case r.Kind == "admin.cohort.reminder":
		var ok bool
		if it.ID, it.Count, it.Name, it.What, ok = cohortOf(r.Detail); ok {
			n.note(ctx, r.Subject, KindCohort, "", it)
		}
	default:
		return false
	}
	return true
}

// note coalesces one notice to login, or sends it at once.
func (n *Notifier) note(ctx context.Context, login string, kind Kind, sharer string, it item) {
	if login == "" {
		return
	}
	k := key{login: auth.NormalizeLogin(login), kind: kind, sharer: sharer}
	d := n.cfg.Window
	if kind == KindShare {
		d = n.cfg.ShareWindow
	}
	if n.co.add(k, it, n.d.Now(), d) {
		n.send(ctx, sendBatch{key: k, items: []item{it}})
	}
}

// enrolling reports whether a factor.add record is a member's first
// factor at enrolment: auth then records enrol.complete right after it,
// in the same transaction. The member is setting up the account at that
// moment; a mail about it would be noise.
func (n *Notifier) enrolling(ctx context.Context, r audit.Record, later []audit.Record) bool {
	if len(later) == 0 {
		var err error
		if later, err = n.d.Audit.List(ctx, audit.Filter{AfterID: r.ID, Limit: 1}); err != nil {
			n.d.Log.Warn("notices: reading the audit log", "err", err)
			return false
		}
	}
	return len(later) > 0 && later[0].ID == r.ID+1 && later[0].Kind == "enrol.complete" && later[0].Subject == r.Subject
}

// incident tells every active member that the admins signed everyone out.
func (n *Notifier) incident(ctx context.Context, it item) {
	accts, err := n.d.Accounts.Accounts(ctx)
	if err != nil {
		n.d.Log.Warn("notices: incident: listing accounts", "err", err)
		return
	}
	it.Addr, it.UserAgent = "", "" // the admin's, not the member's
	for _, a := range accts {
		if ctx.Err() != nil {
			return
		}
		if n.active(a) {
			n.note(ctx, a.Login, KindIncident, "", it)
		}
	}
}

// share tells the member, or each member of the group, something was
// shared with that files recorded as "files.share" with the detail
// "path=P group=G write=W" (subject: the member; "" for a group).
func (n *Notifier) share(ctx context.Context, r audit.Record, it item) {
	it.What, it.Group = shareOf(r.Detail)
	it.Addr, it.UserAgent = "", ""
	if it.Group == "" {
		if !strings.EqualFold(r.Subject, r.Actor) {
			n.note(ctx, r.Subject, KindShare, r.Actor, it)
		}
		return
	}
	ids, _, err := n.d.Accounts.GroupMembers(ctx, it.Group)
	if err != nil {
		n.d.Log.Warn("notices: share: group members", "err", err)
		return
	}
	for _, id := range ids {
		a, err := n.d.Accounts.Account(ctx, id)
		if err != nil || strings.EqualFold(a.Login, r.Actor) {
			continue
		}
		n.note(ctx, a.Login, KindShare, r.Actor, it)
	}
}

// appPasswordName reads the name from apppassword.create's detail
// `id=N name="…" scope=S`; "" if there is none.
func appPasswordName(detail string) string {
	_, rest, ok := strings.Cut(detail, "name=")
	if !ok {
		return ""
	}
	q, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return ""
	}
	name, err := strconv.Unquote(q)
	if err != nil {
		return ""
	}
	return name
}

// factorOf reads factor.add's detail: "totp", or a WebAuthn kind and the
// name the member gave it ("passkey Anna's phone").
func factorOf(detail string) (kind, name string) {
	kind, name, _ = strings.Cut(detail, " ")
	switch auth.FactorKind(kind) {
	case auth.KindTOTP, auth.KindPasskey, auth.KindSecurityKey:
		return kind, name
	}
	return "", ""
}

// shareOf reads the item's name and the group from files.share's detail
// "path=P group=G write=W". The path may hold anything, a group name only
// a-z, 0-9, '-', '_' and '.', so the fields are found from the right. A
// detail cut short by the audit log's field limit gives no name.
func shareOf(detail string) (name, group string) {
	rest, ok := strings.CutPrefix(detail, "path=")
	i := strings.LastIndex(rest, " write=")
	if !ok || i < 0 {
		return "", ""
	}
	rest = rest[:i]
	j := strings.LastIndex(rest, " group=")
	if j < 0 {
		return "", ""
	}
	p, group := rest[:j], rest[j+len(" group="):]
	if group != "" && auth.ValidateGroupName(group) != nil {
		return "", ""
	}
	if p = strings.TrimRight(p, "/"); p == "" {
		return "", group
	}
	return path.Base(p), group
}

// cohortOf reads admin.cohort.reminder's detail
// `cohort=ID people=N last=YYYY-MM-DD name="…"`: the cohort, its
// volunteers, its last day and its name.
func cohortOf(detail string) (id int64, people int, last, name string, ok bool) {
	var rest string
	if _, err := fmt.Sscanf(detail, "cohort=%d people=%d last=%s", &id, &people, &last); err != nil {
		return 0, 0, "", "", false
	}
	if _, err := time.Parse(time.DateOnly, last); err != nil || id <= 0 || people < 0 {
		return 0, 0, "", "", false
	}
	if _, rest, ok = strings.Cut(detail, " name="); !ok {
		return 0, 0, "", "", false
	}
	q, err := strconv.QuotedPrefix(rest)
	if err != nil || q != rest {
		return 0, 0, "", "", false
	}
	if name, err = strconv.Unquote(q); err != nil {
		return 0, 0, "", "", false
	}
	return id, people, last, name, true
}
