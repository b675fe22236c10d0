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
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/headertext"
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
	if err := o.notARole(ctx, in.Login); err != nil { // roles.go
		return InviteResult{}, err
	}
	if err := o.groupsFree(ctx, in.Groups); err != nil { // taken.go: joining makes the group
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
	if err := checkLogin(in.Login); err != nil {
		return err
	}
	if err := checkRole(in.Role); err != nil {
		return err
	}
	if err := checkName(in.Name); err != nil {
		return err
	}
	if !in.Expires.IsZero() && !in.Expires.After(o.d.Now()) {
		return problem(auth.ErrInvalid, i18n.Key("admin.err.last_day_passed"))
	}
	for _, g := range in.Groups {
		if err := checkGroup(g); err != nil {
			return err
		}
	}
	if in.MailTo != "" {
		a, err := mail.ParseAddress(in.MailTo)
		if err != nil || a.Name != "" || auth.ValidateLogin(a.Address) != nil {
			return problem(auth.ErrInvalid, i18n.Key("admin.err.mail_to"), "addr", in.MailTo)
		}
		if o.d.Mailer == nil || o.d.MailFrom == "" {
			return problem(ErrNotAvailable, i18n.Key("admin.err.no_mailer"))
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
		from = headertext.Mailbox(o.d.PartyName, o.d.MailFrom)
	}
	h("From", from)
	h("To", in.MailTo)
	h("Subject", headertext.Unstructured("Subject", l.T("mail.invite.subject", "party", party)))
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
	Why     []Words  // every error of the row; none when it is fine
	Errs    []string // Why in English
	Err     string   // Errs in one sentence ("" when the row is fine)
	Link    string   // after a commit: the enrolment link
	Mailed  bool
}

// addErr adds a sentence to the row's errors.
func (row *CSVRow) addErr(w Words) {
	row.Why = append(row.Why, w)
	row.Errs = append(row.Errs, w.English())
}

// words is err's sentence: a Problem's own, else err in English.
func words(err error) Words {
	var p *Problem
	if errors.As(err, &p) {
		return p.Words
	}
	return say(i18n.Key("admin.err.general"), "why", HumanError(err))
}

// CSVPreview is a CSV import: each row and its errors, and after a commit
// how many invites were created.
type CSVPreview struct {
	Rows    []CSVRow
	Errors  int // rows with errors
	Created int
}

// The columns of an import. Without a header row they come in this order.
const (
	colLogin = iota
	colName
	colRole
	colGroups
	colExpires
	colMailTo
	numCols
)

// csvColumns are the columns' names, as the sample file's header writes
// them.
var csvColumns = [numCols]string{"address", "name", "role", "groups", "last day", "personal address"}

// csvHeaders are the names a header row may give each column, compared
// without case, spaces, "-" and "_": what the console's instructions say,
// the sample file's names, caucus's own field names, and what address
// books and spreadsheets usually call them.
var csvHeaders = map[string]int{
	"address": colLogin, "login": colLogin, "email": colLogin, "emailaddress": colLogin, "mail": colLogin,
	"caucusaddress": colLogin, "account": colLogin, "user": colLogin, "username": colLogin,
	"name": colName, "displayname": colName, "fullname": colName,
	"role":   colRole,
	"groups": colGroups, "group": colGroups,
	"expires": colExpires, "expiry": colExpires, "expirydate": colExpires, "accessenddate": colExpires, "accessends": colExpires,
	"accessend": colExpires, "accessuntil": colExpires, "until": colExpires, "lastday": colExpires, "enddate": colExpires,
	"mailto": colMailTo, "personaladdress": colMailTo, "personalemail": colMailTo, "personalmail": colMailTo,
	"privateaddress": colMailTo, "privateemail": colMailTo, "homeaddress": colMailTo,
}

func headerKey(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '_', '.', '\t':
			return -1
		}
		return unicode.ToLower(r)
	}, strings.TrimSpace(s))
}

// csvLayout is where each column is in the records of a file.
type csvLayout struct {
	at    [numCols]int // index of each column in a record; -1: absent
	width int          // how many cells a record may have
	comma rune
}

// defaultLayout is the columns in their fixed order, for a file without
// a header row.
func defaultLayout(comma rune) csvLayout {
	l := csvLayout{width: numCols, comma: comma}
	for i := range l.at {
		l.at[i] = i
	}
	return l
}

// headerLayout reads rec as a header row: ok is false when it is not one
// (no cell names a column). A header that names a column twice or names
// one caucus does not know is an error, naming it.
func headerLayout(rec []string, comma rune) (l csvLayout, ok bool, err error) {
	l = csvLayout{width: len(rec), comma: comma}
	for i := range l.at {
		l.at[i] = -1
	}
	var unknown []string
	for i, cell := range rec {
		if strings.TrimSpace(cell) == "" {
			continue
		}
		c, known := csvHeaders[headerKey(cell)]
		switch {
		case !known:
			unknown = append(unknown, strconv.Quote(strings.TrimSpace(cell)))
		case l.at[c] >= 0:
			return l, true, problem(ErrCSVInvalid, i18n.Key("admin.csv.twice"), "col", csvColumns[c])
		default:
			l.at[c], ok = i, true
		}
	}
	switch {
	case !ok:
		return l, false, nil
	case len(unknown) > 0:
		return l, true, problem(ErrCSVInvalid, i18n.Key("admin.csv.unknown"), "cols", strings.Join(unknown, ", "), "known", strings.Join(csvColumns[:], ", "))
	case l.at[colLogin] < 0:
		return l, true, problem(ErrCSVInvalid, i18n.Key("admin.csv.no_address"))
	}
	return l, true, nil
}

// sniffComma returns the separator of a CSV file: ";" when its first line
// has more of them than commas (as spreadsheets write CSV where the comma
// is the decimal mark), else ",".
func sniffComma(data []byte) rune {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		return ';'
	}
	return ','
}

// CSVSample is a CSV file to start an import from: the header row and two
// example people at domain.
func CSVSample(domain string) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(csvColumns[:])
	w.Write([]string{"anna.rossi@" + domain, "Anna Rossi", "member", "campaign;press", "", ""})
	w.Write([]string{"luca.bianchi@" + domain, "Luca Bianchi", "admin", "", "2030-06-30", ""})
	w.Flush()
	return b.String()
}

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
			row.addErr(words(err))
			row.Err = HumanError(err)
			pv.Errors++
			errs = append(errs, fmt.Errorf("line %d: %w", row.Line, err))
		}
	}
	o.record(ctx, actor, "", "invite.import", "", fmt.Sprintf("rows=%d created=%d errors=%d", len(pv.Rows), pv.Created, pv.Errors))
	return pv, errors.Join(errs...)
}

func (o *Ops) parseCSV(ctx context.Context, data []byte) (CSVPreview, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	comma := sniffComma(data)
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var pv CSVPreview
	layout, first := defaultLayout(comma), true
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return pv, &Problem{Words: say(i18n.Key("admin.csv.unreadable"), "line", pe.Line), Err: fmt.Errorf("%w: %w", ErrCSVInvalid, err)}
			}
			return pv, fmt.Errorf("%w: %w", ErrCSVInvalid, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if first {
			first = false
			l, isHeader, err := headerLayout(rec, comma)
			if err != nil {
				return pv, err
			}
			if isHeader {
				layout = l
				continue
			}
		}
		if len(pv.Rows) >= MaxCSVRows {
			return pv, fmt.Errorf("%w: more than %d rows", ErrCSVTooBig, MaxCSVRows)
		}
		row := CSVRow{Line: line}
		o.csvRow(ctx, layout, rec, &row)
		if len(row.Errs) == 0 {
			if first, dup := seen[row.Request.Login]; dup {
				row.addErr(say(i18n.Key("admin.csv.duplicate"), "line", first))
			} else {
				seen[row.Request.Login] = line
			}
		}
		if len(row.Errs) > 0 {
			row.Err = strings.Join(row.Errs, "; ")
			pv.Errors++
		}
		pv.Rows = append(pv.Rows, row)
	}
	return pv, nil
}

// csvRow turns one record into the row's request and says everything
// that is wrong with it.
func (o *Ops) csvRow(ctx context.Context, l csvLayout, rec []string, row *CSVRow) {
	if len(rec) > l.width || len(rec) < 2 && l.at[colName] >= 0 {
		row.addErr(say(i18n.Key("admin.csv.columns"), "max", l.width, "cols", strings.Join(csvColumns[:], ", "), "n", len(rec)))
		return
	}
	col := func(c int) string {
		if i := l.at[c]; i >= 0 && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	in := InviteRequest{Login: auth.NormalizeLogin(col(colLogin)), Name: col(colName), Role: auth.Role(strings.ToLower(col(colRole))), MailTo: col(colMailTo)}
	if in.Role == "" {
		in.Role = auth.RoleMember
	}
	// Groups are separated by ";", or by "," in a file separated by ";".
	sep := ";"
	if l.comma == ';' {
		sep = ","
	}
	for g := range strings.SplitSeq(col(colGroups), sep) {
		if g = strings.TrimSpace(g); g != "" {
			in.Groups = append(in.Groups, g)
		}
	}
	if s := col(colExpires); s != "" {
		t, err := ParseLastDay(s, o.zone())
		if err != nil {
			row.addErr(words(err))
		}
		in.Expires = t
	}
	for _, err := range o.inviteErrors(in) {
		row.addErr(words(err))
	}
	if auth.ValidateLogin(in.Login) == nil {
		if _, err := o.d.Auth.AccountByLogin(ctx, in.Login); err == nil {
			row.addErr(say(i18n.Key("admin.csv.exists"), "addr", in.Login))
		} else if !errors.Is(err, auth.ErrNotFound) {
			row.addErr(say(i18n.Key("admin.csv.check_failed")))
		}
	}
	row.Request = in
}

// inviteErrors is every error checkInvite finds one at a time.
func (o *Ops) inviteErrors(in InviteRequest) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(checkLogin(in.Login))
	add(checkName(in.Name))
	add(checkRole(in.Role))
	if !in.Expires.IsZero() && !in.Expires.After(o.d.Now()) {
		add(problem(auth.ErrInvalid, i18n.Key("admin.err.last_day_passed")))
	}
	for _, g := range in.Groups {
		add(checkGroup(g))
	}
	if in.MailTo != "" {
		one := in
		one.Login, one.Name, one.Role, one.Groups, one.Expires = "x@example.org", "X", auth.RoleMember, nil, time.Time{}
		add(o.checkInvite(&one))
	}
	return errs
}

// Domain is the party's mail domain: the first of its own domains, else
// the host of the public web address; "" when neither is known.
func (o *Ops) Domain() string {
	if o.d.Route != nil {
		if ds := o.d.Route.OwnDomains(); len(ds) > 0 {
			return ds[0]
		}
	}
	if u, err := url.Parse(o.d.BaseURL); err == nil {
		return u.Hostname()
	}
	return ""
}

// FullLogin is login with the party's domain added when it has none
// ("anna.rossi" is "anna.rossi@example-party.org").
func (o *Ops) FullLogin(login string) string {
	login = strings.TrimSpace(login)
	if d := o.Domain(); login != "" && d != "" && !strings.Contains(login, "@") {
		return login + "@" + d
	}
	return login
}

// NameFromLogin makes a display name from an address's local part, for
// an invite given no name: "anna.rossi@…" is "Anna Rossi". The person and
// the admins may change it later.
func NameFromLogin(login string) string {
	local, _, _ := strings.Cut(login, "@")
	words := strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '_' || r == '-' || r == '+' })
	for i, w := range words {
		r, n := utf8.DecodeRuneInString(w)
		words[i] = string(unicode.ToUpper(r)) + w[n:]
	}
	return strings.Join(words, " ")
}
