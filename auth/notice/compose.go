package notice

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/headertext"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
)

// active reports whether a is a member who gets notices: active and not
// past their last day.
func (n *Notifier) active(a auth.Account) bool {
	return a.State == auth.StateActive && (a.ExpiresAt.IsZero() || n.d.Now().Before(a.ExpiresAt))
}

// send mails one notice, if its member still gets notices (and, for a
// share, has not turned share mails off). A failure is logged: a notice
// is not worth stopping the others for.
func (n *Notifier) send(ctx context.Context, b sendBatch) {
	log := n.d.Log.With("kind", string(b.key.kind), "account", b.key.login)
	acct, err := n.d.Accounts.AccountByLogin(ctx, b.key.login)
	if err != nil {
		log.Info("notice not sent", "why", err)
		return
	}
	if !n.active(acct) {
		log.Debug("notice not sent: account not active", "state", string(acct.State))
		return
	}
	if b.key.kind == KindShare {
		on, err := n.d.Accounts.ShareMail(ctx, acct.ID)
		if err != nil {
			log.Warn("notice not sent", "err", err)
			return
		}
		if !on {
			return
		}
	}
	sharer := auth.Account{Login: b.key.sharer}
	if b.key.sharer != "" {
		if a, err := n.d.Accounts.AccountByLogin(ctx, b.key.sharer); err == nil {
			sharer = a
		}
	}
	if b.key.kind == KindIncident && n.d.Prepared != nil {
		lang := cmp.Or(acct.Language, n.cfg.Party.Language)
		if b.prep.lang, b.prep.subject, b.prep.body, err = n.d.Prepared.PreparedIncidentMessage(ctx, lang); err != nil {
			// The standard notice is sent: members must hear of it.
			log.Warn("incident notice without the prepared message", "err", err)
			b.prep = prepared{}
		}
	}
	msg, err := n.compose(acct, sharer, b)
	if err != nil {
		log.Warn("notice not composed", "err", err)
		return
	}
	if err := n.d.Mailer.Send(ctx, n.cfg.From, []string{acct.Login}, msg); err != nil {
		log.Warn("notice not sent", "err", err)
		return
	}
	log.Info("notice sent", "events", len(b.items)+b.more)
}

// compose writes the message of one notice (RFC 5322, text/plain in
// quoted-printable) in the member's language, else the party's.
func (n *Notifier) compose(acct, sharer auth.Account, b sendBatch) ([]byte, error) {
	p := n.cfg.Party
	l := i18n.Builtin().Localizer(cmp.Or(b.prep.lang, acct.Language, p.Language), p.TimeZone)
	party := p.DisplayName()
	subject, body := n.text(l, party, acct, sharer, b)

	var buf bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	now := n.d.Now()
	if p.TimeZone != nil {
		now = now.In(p.TimeZone)
	}
	h("Date", now.Format(time.RFC1123Z))
	h("From", headertext.Mailbox(oneLine(party), n.cfg.From))
	h("To", headertext.Mailbox(oneLine(acct.DisplayName), acct.Login))
	h("Subject", headertext.Unstructured("Subject", oneLine(subject)))
	domain := n.cfg.From[strings.LastIndexByte(n.cfg.From, '@')+1:]
	h("Message-ID", "<notice."+rand.Text()+"@"+domain+">") // RFC 5322 section 3.6.4
	h("Auto-Submitted", "auto-generated")                  // RFC 3834 section 5
	h("MIME-Version", "1.0")
	h("Content-Language", l.Lang()) // RFC 3282
	h("Content-Type", `text/plain; charset="utf-8"`)
	h("Content-Transfer-Encoding", "quoted-printable")
	buf.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&buf)
	if _, err := io.WriteString(qp, strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// oneLine is s with every control character (line breaks among them) a
// space: what a header field, or a line of a notice, may hold of a name
// someone chose (a file, an app password, a display name).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// text is the subject and body of a notice: a greeting, what happened
// (one line per event), what to do, and who sent it.
func (n *Notifier) text(l *i18n.Localizer, party string, acct, sharer auth.Account, b sendBatch) (subject, body string) {
	acct.DisplayName, sharer.DisplayName = oneLine(acct.DisplayName), oneLine(sharer.DisplayName)
	b.items = slices.Clone(b.items)
	for i := range b.items {
		it := &b.items[i]
		it.What, it.Name, it.Group = oneLine(it.What), oneLine(it.Name), oneLine(it.Group)
	}
	count := len(b.items) + b.more
	account := n.link("/account")
	name := cmp.Or(acct.DisplayName, acct.Login)
	var intro, closing string
	switch b.key.kind {
	case KindSignIn:
		subject = l.T("notice.signin.subject", "n", count, "party", party)
		intro = l.T("notice.signin.intro", "n", count, "login", acct.Login)
		closing = l.T("notice.if_you") + "\n\n" + l.T("notice.not_you", "link", account)
	case KindAppPassword:
		subject = l.T("notice.apppassword.subject", "n", count, "party", party)
		intro = l.T("notice.apppassword.intro", "n", count, "login", acct.Login)
		closing = l.T("notice.if_you") + "\n\n" + l.T("notice.not_you", "link", account)
	case KindFactor:
		subject = l.T("notice.factor.subject", "n", count, "party", party)
		intro = l.T("notice.factor.intro", "n", count, "login", acct.Login)
		closing = l.T("notice.if_you") + "\n\n" + l.T("notice.not_you", "link", account)
	case KindPassword:
		subject = l.T("notice.password.subject", "party", party)
		intro = l.T("notice.password.intro", "n", count, "login", acct.Login)
		closing = l.T("notice.if_you") + "\n\n" + l.T("notice.not_you", "link", account)
	case KindIncident:
		subject = l.T("notice.incident.subject", "party", party)
		intro = l.T("notice.incident.intro", "party", party)
		closing = l.T("notice.incident.closing", "link", n.link("/login"))
		if b.prep.lang != "" {
			// The admins' own words first; the standard text follows.
			subject, intro = b.prep.subject, b.prep.body+"\n\n"+intro
		}
	case KindCohort:
		if count == 1 && len(b.items) == 1 {
			subject = l.T("notice.cohort.subject_one", "name", b.items[0].What, "day", lastDay(l, b.items[0].Name), "party", party)
		} else {
			subject = l.T("notice.cohort.subject", "n", count, "party", party)
		}
		intro = l.T("notice.cohort.intro", "n", count, "party", party)
		closing = l.T("notice.cohort.closing", "party", party)
	case KindShare:
		who := cmp.Or(sharer.DisplayName, sharer.Login)
		first := ""
		if len(b.items) > 0 {
			first = b.items[0].What
		}
		if count == 1 && first != "" {
			subject = l.T("notice.share.subject_one", "sharer", who, "name", first)
		} else {
			subject = l.T("notice.share.subject", "n", count, "sharer", who)
		}
		intro = l.T("notice.share.intro", "n", count, "sharer", who, "sharer_login", sharer.Login, "party", party)
		closing = l.T("notice.share.closing", "link", n.link("/account#sharemail"))
	}
	var sb strings.Builder
	sb.WriteString(l.T("notice.greeting", "name", name) + "\n\n" + intro + "\n\n")
	for _, it := range b.items {
		sb.WriteString("- " + n.line(l, b.key, it) + "\n")
	}
	if b.more > 0 {
		sb.WriteString(l.T("notice.more", "n", b.more) + "\n")
	}
	sb.WriteString("\n" + closing + "\n\n-- \n" + l.T("notice.footer", "party", party, "login", acct.Login) + "\n")
	return subject, sb.String()
}

// line is one event of a notice.
func (n *Notifier) line(l *i18n.Localizer, k key, it item) string {
	when := l.DateTime(it.At)
	device := ui.ParseUserAgent(it.UserAgent).Describe(l)
	network := networkOf(it.Addr)
	if network == "" {
		network = l.T("notice.network_unknown")
	}
	switch k.kind {
	case KindAppPassword:
		return l.T("notice.apppassword.line", "name", it.What, "when", when, "device", device, "network", network)
	case KindFactor:
		switch {
		case it.All:
			return l.T("notice.factor.removed_all", "when", when)
		case it.Removed:
			return l.T("notice.factor.removed", "when", when, "device", device, "network", network)
		}
		return l.T("notice.factor.added", "what", factorName(l, it.What, it.Name), "when", when, "device", device, "network", network)
	case KindIncident:
		return l.T("notice.incident.line", "when", when)
	case KindCohort:
		return l.T("notice.cohort.line", "name", it.What, "n", it.Count, "day", lastDay(l, it.Name), "link", n.link("/admin/cohorts/"+strconv.FormatInt(it.ID, 10)))
	case KindShare:
		link := n.link("/files/item/Shared/" + url.PathEscape(k.sharer) + "/" + url.PathEscape(it.What))
		if it.What == "" {
			link = n.link("/files/p/Shared")
		}
		if it.Group != "" {
			return l.T("notice.share.line_group", "name", it.What, "group", it.Group, "link", link)
		}
		return l.T("notice.share.line", "name", it.What, "link", link)
	}
	return l.T("notice.signin.line", "when", when, "device", device, "network", network)
}

// factorName names a factor that was added: its kind, and the name the
// member gave a passkey or security key.
func factorName(l *i18n.Localizer, kind, name string) string {
	switch auth.FactorKind(kind) {
	case auth.KindPasskey:
		return l.T("notice.factor.passkey", "name", name)
	case auth.KindSecurityKey:
		return l.T("notice.factor.security_key", "name", name)
	case auth.KindTOTP:
		return l.T("notice.factor.totp")
	}
	return l.T("notice.factor.some")
}

// lastDay is a last day of access written YYYY-MM-DD, as a date in l's
// words.
func lastDay(l *i18n.Localizer, day string) string {
	t, err := time.ParseInLocation(time.DateOnly, day, l.Location())
	if err != nil {
		return day
	}
	return l.Date(t)
}

// link is the address of a page of caucus.
func (n *Notifier) link(p string) string {
	return strings.TrimRight(n.cfg.BaseURL, "/") + p
}

// networkOf is the network an address is in, as much of it as a notice
// shows: the /24 of an IPv4 address, the /48 of an IPv6 one; "" if addr
// is not an address.
func networkOf(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return ""
	}
	a = a.Unmap().WithZone("")
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}
