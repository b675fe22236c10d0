package webmail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"mime"
	"mime/quotedprintable"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caucus-org/caucus/internal/headertext"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/message"
)

// Bounds of what the compose form takes.
const (
	maxSubject = 250      // runes
	maxBody    = 2 << 20  // bytes of text
	maxRcpts   = 200      // addresses in To, Cc and Bcc together
	maxAddrs   = 16 << 10 // bytes of one address field
	maxAttach  = 100      // attachments of one message
	maxName    = 200      // runes of an attachment's name
	maxIDs     = 4 << 10  // bytes of In-Reply-To or References
)

// errCompose is a form error shown to the member: a message of the
// catalogue (its key marked with i18n.Key) with its arguments, and for an
// error in an address field the key of the field's label, written in as
// {field}.
type errCompose struct {
	key   string
	args  []any
	field string
}

// formError is the form error of the message key with its arguments.
func formError(key string, args ...any) errCompose { return errCompose{key: key, args: args} }

func (e errCompose) Error() string { return "webmail: form error " + e.key }

// text is the error's sentence in l's language.
func (e errCompose) text(l *i18n.Localizer) string {
	args := e.args
	if e.field != "" {
		args = append(slices.Clip(args), "field", l.T(e.field)) // i18n:keyed
	}
	return l.T(e.key, args...) // i18n:keyed
}

// draft is a message being written.
type draft struct {
	From       string // the address chosen in From
	FromName   string // the account's display name
	To, Cc     string // address lists as typed
	Bcc        string
	Subject    string
	Body       string
	InReplyTo  string // "<id>" of the message answered
	References string // "<id1> <id2> …"
	Attach     []attachment
}

// attachment is a file attached to a draft.
type attachment struct {
	Name string
	Type string // media type; message/rfc822 for a forwarded message
	Data []byte
}

// recipients parses To, Cc and Bcc (RFC 5322 section 3.4) and returns
// their mailboxes' addresses, or an error naming the field that does not
// parse.
func (d *draft) recipients() ([]string, error) {
	var out []string
	for _, f := range []struct{ name, v string }{
		{i18n.Key("webmail.compose.to"), d.To}, {i18n.Key("webmail.compose.cc"), d.Cc}, {i18n.Key("webmail.compose.bcc"), d.Bcc},
	} {
		list, err := parseAddrs(f.name, f.v)
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			out = append(out, a.Addr())
		}
	}
	if len(out) > maxRcpts {
		return nil, formError(i18n.Key("webmail.err.too_many_rcpts"), "max", maxRcpts)
	}
	return out, nil
}

// parseAddrs parses one address field of the form (field is the message
// key of its label); names are what the member typed (comma separated).
func parseAddrs(field, v string) ([]message.Address, error) {
	v = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(v, "\r", " "), "\n", " "))
	v = strings.Trim(v, ", ")
	if v == "" {
		return nil, nil
	}
	if len(v) > maxAddrs {
		return nil, errCompose{key: i18n.Key("webmail.err.field_too_long"), field: field}
	}
	list, err := message.ParseAddressList(v)
	if err != nil {
		return nil, errCompose{key: i18n.Key("webmail.err.field_invalid"), field: field}
	}
	list = message.Mailboxes(list)
	for _, a := range list {
		if a.Host == "" || strings.HasPrefix(a.Host, "[") || a.Route != "" {
			return nil, errCompose{key: i18n.Key("webmail.err.address_invalid"), args: []any{"address", cleanText(a.Addr())}, field: field}
		}
	}
	return list, nil
}

// formatAddress writes a mailbox for a header ([headertext.Mailbox]).
func formatAddress(name, addr string) string {
	return headertext.Mailbox(oneLine(name), addr)
}

// formatList writes the mailboxes of an address field typed by the member.
func formatList(field, v string) (string, error) {
	list, err := parseAddrs(field, v)
	if err != nil || len(list) == 0 {
		return "", err
	}
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = formatAddress(a.Name, a.Addr())
	}
	return strings.Join(parts, ",\r\n "), nil
}

// oneLine removes line breaks and other control characters, so that a
// value cannot start a new header field.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}

// msgIDs keeps the message ids of an In-Reply-To or References value
// ("<a@b> <c@d>"), dropping anything else.
func msgIDs(v string) string {
	if len(v) > maxIDs {
		v = v[len(v)-maxIDs:]
	}
	var ids []string
	for _, f := range strings.Fields(oneLine(v)) {
		if strings.HasPrefix(f, "<") && strings.HasSuffix(f, ">") && strings.Count(f, "@") == 1 && !strings.ContainsAny(f[1:len(f)-1], "<>") {
			ids = append(ids, f)
		}
	}
	return strings.Join(ids, " ")
}

// newMessageID makes a Message-ID (RFC 5322 section 3.6.4) in host.
func newMessageID(host string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return "<" + hex.EncodeToString(b) + "@" + host + ">"
}

// check bounds the draft's fields.
func (d *draft) check() error {
	if utf8.RuneCountInString(d.Subject) > maxSubject {
		return formError(i18n.Key("webmail.err.subject_too_long"), "max", maxSubject)
	}
	if len(d.Body) > maxBody {
		return formError(i18n.Key("webmail.err.text_too_long"))
	}
	if len(d.Attach) > maxAttach {
		return formError(i18n.Key("webmail.err.too_many_attachments"), "max", maxAttach)
	}
	return nil
}

// build writes the draft as an RFC 5322 message with MIME (RFC 2045,
// RFC 2046): a text/plain UTF-8 body in quoted-printable, and the
// attachments in base64 under multipart/mixed. Bcc is written only when
// withBcc (a draft keeps it; a message sent must not show it, RFC 5322
// section 3.6.3).
func (d *draft) build(now time.Time, msgID string, withBcc bool) ([]byte, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	field := func(name, v string) {
		if v != "" {
			b.WriteString(name + ": " + v + "\r\n")
		}
	}
	field("Date", now.Format(time.RFC1123Z))
	field("From", formatAddress(d.FromName, d.From))
	for _, f := range []struct{ name, v string }{{"To", d.To}, {"Cc", d.Cc}, {"Bcc", d.Bcc}} {
		if f.name == "Bcc" && !withBcc {
			continue
		}
		v, err := formatList(f.name, f.v)
		if err != nil {
			return nil, err
		}
		field(f.name, v)
	}
	field("Subject", headertext.Unstructured("Subject", oneLine(d.Subject)))
	field("Message-ID", msgID)
	field("In-Reply-To", msgIDs(d.InReplyTo))
	field("References", msgIDs(d.References))
	field("MIME-Version", "1.0")
	if len(d.Attach) == 0 {
		writeText(&b, d.Body)
		return b.Bytes(), nil
	}
	boundary := randomBoundary()
	field("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	b.WriteString("\r\nThis is a message in MIME format.\r\n")
	b.WriteString("--" + boundary + "\r\n")
	writeText(&b, d.Body)
	for _, a := range d.Attach {
		b.WriteString("\r\n--" + boundary + "\r\n")
		if err := writeAttachment(&b, a); err != nil {
			return nil, err
		}
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// writeText writes a text/plain part's header and body (with the blank
// line between them).
func writeText(b *bytes.Buffer, text string) {
	text = strings.ReplaceAll(strings.ToValidUTF8(text, "\uFFFD"), "\r\n", "\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(b)
	qp.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	qp.Close()
	b.WriteString("\r\n")
}

// writeAttachment writes one attachment part: a forwarded message as
// message/rfc822 (RFC 2046 section 5.2.1, which allows only 7bit, 8bit or
// binary), anything else in base64 with its name (RFC 2183, RFC 2231
// through mime.FormatMediaType).
func writeAttachment(b *bytes.Buffer, a attachment) error {
	name := oneLine(a.Name)
	if utf8.RuneCountInString(name) > maxName {
		name = string([]rune(name)[:maxName])
	}
	if strings.TrimSpace(name) == "" {
		name = "attachment"
	}
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if a.Type == "message/rfc822" {
		b.WriteString("Content-Type: message/rfc822\r\nContent-Disposition: " + disp + "\r\n\r\n")
		b.Write(a.Data)
		return nil
	}
	typ := a.Type
	if mt, _, err := mime.ParseMediaType(typ); err != nil || strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/") {
		typ = "application/octet-stream"
	} else {
		typ = mt
	}
	ct := mime.FormatMediaType(typ, map[string]string{"name": name})
	if ct == "" || disp == "" {
		return errors.New("webmail: attachment name cannot be written")
	}
	b.WriteString("Content-Type: " + ct + "\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: " + disp + "\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(a.Data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return nil
}

func randomBoundary() string {
	b := make([]byte, 18)
	rand.Read(b)
	return "caucus-" + hex.EncodeToString(b)
}
