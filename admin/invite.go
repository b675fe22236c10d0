package admin

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/i18n"
)

// InviteRequest is one person to invite.
type InviteRequest struct {
	Login   string    // their caucus address, e.g. "anna@example-party.org"
	Name    string    // display name
	Role    auth.Role // "" means member
	Groups  []string
	Expires time.Time // account expiry; zero: never
	MailTo  string    // also mail the link to this personal address ("" for none)
}

// InviteResult is a created invite: a single-use enrolment link, valid
// for auth.Config.InviteTTL (72 hours by default).
type InviteResult struct {
	Account   auth.Account
	Link      string
	ExpiresAt time.Time // the link's end
	Mailed    bool      // the link was mailed to InviteRequest.MailTo
}

// Invite creates an account in state invited and returns its enrolment
// link; with MailTo set it also mails the link there through caucus's own
// submission path. A link that could not be mailed is still returned,
// with the error.
func (o *Ops) Invite(ctx context.Context, actor Actor, in InviteRequest) (InviteResult, error) {
	if err := o.checkInvite(&in); err != nil {
		return InviteResult{}, err
	}
	na := auth.NewAccount{Login: in.Login, DisplayName: in.Name, Role: in.Role, Groups: in.Groups, ExpiresAt: in.Expires}
	token, err := o.d.Auth.CreateInvite(ctx, actor.Login, na, actor.client())
	if err != nil {
		return InviteResult{}, err
	}
	inv, err := o.d.Auth.PeekInvite(ctx, token)
	if err != nil {
		return InviteResult{}, err
	}
	res := InviteResult{Account: inv.Account, Link: o.d.BaseURL + "/enrol/" + token, ExpiresAt: inv.ExpiresAt}
	if in.MailTo == "" {
		return res, nil
	}
	if err := o.mailInvite(ctx, in, res); err != nil {
		o.record(ctx, actor, in.Login, "invite.mail", audit.Fail, "to "+in.MailTo)
		return res, fmt.Errorf("admin: mailing the invite: %w", err)
	}
	res.Mailed = true
	o.record(ctx, actor, in.Login, "invite.mail", "", "to "+in.MailTo)
	return res, nil
}

// checkInvite normalises and checks a request without touching anything.
func (o *Ops) checkInvite(in *InviteRequest) error {
	in.Login = auth.NormalizeLogin(in.Login)
	in.Name = strings.TrimSpace(in.Name)
	in.MailTo = strings.TrimSpace(in.MailTo)
	if in.Role == "" {
		in.Role = auth.RoleMember
	}
	if err := auth.ValidateLogin(in.Login); err != nil {
		return err
	}
	if in.Role != auth.RoleMember && in.Role != auth.RoleAdmin {
		return fmt.Errorf("%w: role must be member or admin", auth.ErrInvalid)
	}
	if err := auth.ValidateDisplayName(in.Name); err != nil {
		return err
	}
	if !in.Expires.IsZero() && !in.Expires.After(o.d.Now()) {
		return fmt.Errorf("%w: the expiry date has passed", auth.ErrInvalid)
	}
	for _, g := range in.Groups {
		if err := auth.ValidateGroupName(g); err != nil {
			return err
		}
	}
	if in.MailTo != "" {
		a, err := mail.ParseAddress(in.MailTo)
		if err != nil || a.Name != "" || auth.ValidateLogin(a.Address) != nil {
			return fmt.Errorf("%w: personal address %q", auth.ErrInvalid, in.MailTo)
		}
		if o.d.Mailer == nil || o.d.MailFrom == "" {
			return fmt.Errorf("%w: mailing invites", ErrNotAvailable)
		}
	}
	return nil
}

// mailInvite writes the invite message (RFC 5322, text/plain in
// quoted-printable) and hands it to the Mailer. It is in the member's
// language if their account has one, else the party's, and signed with
// the party's name.
func (o *Ops) mailInvite(ctx context.Context, in InviteRequest, res InviteResult) error {
	l := i18n.Builtin().Localizer(cmp.Or(res.Account.Language, o.d.Language), o.d.TimeZone)
	party := cmp.Or(o.d.PartyName, "caucus")
	var b bytes.Buffer
	now := o.d.Now()
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("Date", now.Format(time.RFC1123Z))
	from := o.d.MailFrom
	if o.d.PartyName != "" {
		from = (&mail.Address{Name: o.d.PartyName, Address: o.d.MailFrom}).String()
	}
	h("From", from)
	h("To", in.MailTo)
	h("Subject", mime.QEncoding.Encode("utf-8", l.T("mail.invite.subject", "party", party)))
	domain := o.d.MailFrom[strings.LastIndexByte(o.d.MailFrom, '@')+1:]
	h("Message-ID", "<invite."+rand.Text()+"@"+domain+">") // unique (RFC 5322 section 3.6.4)
	h("Auto-Submitted", "auto-generated")                  // RFC 3834 section 5
	h("MIME-Version", "1.0")
	h("Content-Language", l.Lang()) // RFC 3282
	h("Content-Type", `text/plain; charset="utf-8"`)
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	body := l.T("mail.invite.body", "name", in.Name, "party", party, "login", in.Login,
		"link", res.Link, "until", l.DateTime(res.ExpiresAt))
	qp := quotedprintable.NewWriter(&b)
	if _, err := io.WriteString(qp, strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")); err != nil {
		return err
	}
	if err := qp.Close(); err != nil {
		return err
	}
	return o.d.Mailer.Send(ctx, o.d.MailFrom, []string{in.MailTo}, b.Bytes())
}

// Limits of a CSV import.
const (
	MaxCSVBytes = 256 << 10 // fits, URL-encoded in the confirmation form, in the web server's body limit
	MaxCSVRows  = 2000
)

// CSVRow is one person of a CSV import, with what is wrong with it.
type CSVRow struct {
	Line    int // line in the file, from 1
	Request InviteRequest
	Err     string // "" when the row is fine
	Link    string // after a commit: the enrolment link
	Mailed  bool
}

// CSVPreview is a CSV import: each row and its errors, and after a commit
// how many invites were created.
type CSVPreview struct {
	Rows    []CSVRow
	Errors  int // rows with errors
	Created int
}

// csvColumns are the columns of an import, in this order; a first line
// naming them is skipped.
var csvColumns = []string{"login", "name", "role", "groups", "expires", "mail_to"}

// ImportCSV reads people to invite from CSV (login, name, role, groups
// separated by ";", expiry date YYYY-MM-DD, personal address; the last four
// may be empty) and checks every row. Without commit it changes nothing.
// With commit it creates the invites only if no row has an error
// (ErrCSVInvalid otherwise), and reports each row's link.
func (o *Ops) ImportCSV(ctx context.Context, actor Actor, r io.Reader, commit bool) (CSVPreview, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxCSVBytes+1))
	if err != nil {
		return CSVPreview{}, err
	}
	if len(data) > MaxCSVBytes {
		return CSVPreview{}, ErrCSVTooBig
	}
	pv, err := o.parseCSV(ctx, data)
	if err != nil || !commit {
		return pv, err
	}
	if pv.Errors > 0 {
		return pv, ErrCSVInvalid
	}
	var errs []error
	for i := range pv.Rows {
		row := &pv.Rows[i]
		res, err := o.Invite(ctx, actor, row.Request)
		if res.Link != "" {
			row.Link, row.Mailed = res.Link, res.Mailed
			pv.Created++
		}
		if err != nil {
			row.Err = HumanError(err)
			pv.Errors++
			errs = append(errs, fmt.Errorf("line %d: %w", row.Line, err))
		}
	}
	o.record(ctx, actor, "", "invite.import", "", fmt.Sprintf("rows=%d created=%d errors=%d", len(pv.Rows), pv.Created, pv.Errors))
	return pv, errors.Join(errs...)
}

func (o *Ops) parseCSV(ctx context.Context, data []byte) (CSVPreview, error) {
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var pv CSVPreview
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return pv, fmt.Errorf("%w: %w", ErrCSVInvalid, err)
		}
		line, _ := cr.FieldPos(0)
		if len(pv.Rows) == 0 && pv.Errors == 0 && isHeader(rec) {
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(pv.Rows) >= MaxCSVRows {
			return pv, fmt.Errorf("%w: more than %d rows", ErrCSVTooBig, MaxCSVRows)
		}
		row := CSVRow{Line: line}
		row.Request, row.Err = o.csvRow(ctx, rec)
		if row.Err == "" {
			if first, dup := seen[row.Request.Login]; dup {
				row.Err = fmt.Sprintf("The address is also on line %d", first)
			} else {
				seen[row.Request.Login] = line
			}
		}
		if row.Err != "" {
			pv.Errors++
		}
		pv.Rows = append(pv.Rows, row)
	}
	return pv, nil
}

func isHeader(rec []string) bool {
	return len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), csvColumns[0])
}

// csvRow turns one record into a request and says what is wrong with it.
func (o *Ops) csvRow(ctx context.Context, rec []string) (InviteRequest, string) {
	if len(rec) < 2 || len(rec) > len(csvColumns) {
		return InviteRequest{}, fmt.Sprintf("Expected 2 to %d columns (%s), found %d", len(csvColumns), strings.Join(csvColumns, ", "), len(rec))
	}
	col := func(i int) string {
		if i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	in := InviteRequest{Login: col(0), Name: col(1), Role: auth.Role(strings.ToLower(col(2))), MailTo: col(5)}
	for _, g := range strings.Split(col(3), ";") {
		if g = strings.TrimSpace(g); g != "" {
			in.Groups = append(in.Groups, g)
		}
	}
	if s := col(4); s != "" {
		t, err := time.ParseInLocation(time.DateOnly, s, time.Local)
		if err != nil {
			return in, "The expiry date must look like 2027-06-30"
		}
		in.Expires = t.AddDate(0, 0, 1) // through the end of that day
	}
	if err := o.checkInvite(&in); err != nil {
		return in, HumanError(err)
	}
	if _, err := o.d.Auth.AccountByLogin(ctx, in.Login); err == nil {
		return in, in.Login + " already exists"
	} else if !errors.Is(err, auth.ErrNotFound) {
		return in, "Could not check the address"
	}
	return in, ""
}
