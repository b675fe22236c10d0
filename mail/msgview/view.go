package msgview

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// Limits of Parse when Options leaves them zero.
const (
	// DefaultMaxMIMEDepth bounds multipart nesting; deeper multiparts are listed
	// as one part and not opened.
	DefaultMaxMIMEDepth = 32
	// DefaultMaxParts listed; the rest are counted as not shown.
	DefaultMaxParts = 10000
	// DefaultMaxBytes of the message read (50 MB messages and their
	// encoding's growth).
	DefaultMaxBytes = 80 << 20
)

// Errors. Parse and the View methods return errors wrapping them.
var (
	// ErrNoPart: the message has no part of that id.
	ErrNoPart = errors.New("msgview: no such part")
	// ErrNotText: the part is not text/plain or text/html.
	ErrNotText = errors.New("msgview: not a text part")
	// ErrRead: the message could not be read.
	ErrRead = errors.New("msgview: reading the message")
)

// Options configures Parse.
type Options struct {
	// Hostname is this server's authserv-id (the MX's host name): only
	// an Authentication-Results field carrying it is believed.
	Hostname string
	// Directory, when set, names the party member whose name an outside
	// sender uses (Findings.ClaimsToBe) and says which domains are the
	// party's (Findings.External).
	Directory msgauth.Directory
	// PreferText picks text/plain over text/html in a
	// multipart/alternative.
	PreferText bool
	// MaxDepth, MaxParts and MaxBytes bound the work; zero means the
	// Default constants.
	MaxDepth int
	MaxParts int
	MaxBytes int64
}

// Notice is a condition of the message the page should mention, as a
// stable code (to translate) rather than text.
type Notice string

// Notices.
const (
	NoticeMalformedHeader Notice = "malformed-header" // header cut at a fault; what came before is shown
	NoticeMalformedMIME   Notice = "malformed-mime"   // a multipart ended early or could not be read
	NoticeTooDeep         Notice = "too-deep"         // multiparts nested deeper than MaxDepth were not opened
	NoticeTooManyParts    Notice = "too-many-parts"   // parts beyond MaxParts were not listed
	NoticeTooLarge        Notice = "too-large"        // the message was read up to MaxBytes only
	NoticeUnknownCharset  Notice = "unknown-charset"  // a text part's charset is unknown; shown as UTF-8 or Windows-1252
	NoticeNoBody          Notice = "no-body"          // no text/plain or text/html part to show
)

// Address is a mailbox for display. Name and Addr are cleaned
// (CleanText); Group is the name of the group it is in, if any.
type Address struct {
	Name, Addr, Group string
}

// String returns `Name <addr>` or the address alone.
func (a Address) String() string {
	if a.Name == "" {
		return a.Addr
	}
	return a.Name + " <" + a.Addr + ">"
}

// Header holds the fields a reader sees, decoded and cleaned.
type Header struct {
	From, Sender, ReplyTo, To, Cc, Bcc []Address
	Subject                            string
	// Date is the Date field (RFC 5322 section 3.6.1), zero if absent or
	// unreadable; DateText is the field as written, cleaned.
	Date     time.Time
	DateText string
	// MessageID, InReplyTo and References are message ids with their
	// angle brackets (RFC 5322 section 3.6.4), for threads and replies.
	MessageID  string
	InReplyTo  []string
	References []string
}

// View is a parsed message. It keeps the reader to serve parts from, and
// the decoded text parts up to 4 MB in all; attachments are never held in
// memory. Once Parse has returned, a View's methods may be called
// concurrently if its ReaderAt allows it.
type View struct {
	Header Header
	// Parts lists every part in the order of the message, with ids in
	// the form of IMAP section numbers (RFC 9051 section 6.4.5): "1",
	// "1.2"; a message that is not multipart has one part, "1".
	Parts []*Part
	// Body is the part to show, nil if none is text (NoticeNoBody).
	Body *Part
	// Attachments are the parts that are neither the body nor another
	// form of it (multipart/alternative), inline images included (their
	// Inline and ContentID say so).
	Attachments []*Part
	// Findings summarise what caucus's MX found out about the sender.
	Findings Findings
	// Notices are the conditions the page should mention.
	Notices []Notice

	r    io.ReaderAt
	size int64
	opt  Options
	root *Part // the top of the tree (for a multipart message, not in Parts)
	// kept holds the decoded text parts read while parsing, up to
	// maxKept bytes in all.
	kept      map[*Part][]byte
	keptBytes int
}

// Parse reads a message of size bytes from r. It returns an error only
// when r cannot be read; a malformed message gives a View with Notices.
func Parse(r io.ReaderAt, size int64, opt Options) (*View, error) {
	opt = opt.withDefaults()
	v := &View{r: r, size: size, opt: opt}
	raw, err := message.ReadHeader(io.NewSectionReader(r, 0, size), message.MaxHeader)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRead, err)
	}
	h, err := message.Parse(raw)
	if err != nil {
		v.notice(NoticeMalformedHeader)
	}
	v.Header = displayHeader(h)
	v.Findings = findings(h, opt)
	if err := v.walkAll(h, raw); err != nil {
		return nil, err
	}
	v.pickBody()
	return v, nil
}

// ParseBytes is Parse on a message in memory.
func ParseBytes(msg []byte, opt Options) (*View, error) {
	return Parse(bytes.NewReader(msg), int64(len(msg)), opt)
}

func (opt Options) withDefaults() Options {
	if opt.MaxDepth <= 0 {
		opt.MaxDepth = DefaultMaxMIMEDepth
	}
	if opt.MaxParts <= 0 {
		opt.MaxParts = DefaultMaxParts
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	return opt
}

// notice adds n once.
func (v *View) notice(n Notice) {
	for _, have := range v.Notices {
		if have == n {
			return
		}
	}
	v.Notices = append(v.Notices, n)
}

// displayHeader decodes the fields a reader sees.
func displayHeader(h *message.Header) Header {
	var out Header
	if h == nil {
		return out
	}
	out.From = addresses(h, "From")
	out.Sender = addresses(h, "Sender")
	out.ReplyTo = addresses(h, "Reply-To")
	out.To = addresses(h, "To")
	out.Cc = addresses(h, "Cc")
	out.Bcc = addresses(h, "Bcc")
	out.Subject = decodeHeaderText(h.First("Subject"))
	out.DateText = CleanText(h.First("Date"))
	if d, err := mail.ParseDate(h.First("Date")); err == nil {
		out.Date = d
	}
	out.MessageID = firstID(h.First("Message-ID"))
	out.InReplyTo = msgIDs(h.First("In-Reply-To"))
	out.References = msgIDs(h.First("References"))
	return out
}

// maxAddresses bounds the addresses shown of one field.
const maxAddresses = 1000

// addresses returns the mailboxes of the first field of that name. What
// does not parse is shown as one address holding the cleaned text.
func addresses(h *message.Header, name string) []Address {
	v := h.First(name)
	if v == "" {
		return nil
	}
	list, err := message.ParseAddressList(v)
	var out []Address
	group := ""
	for _, a := range list {
		switch a.Kind {
		case message.GroupStart:
			group = CleanText(a.Name)
		case message.GroupEnd:
			group = ""
		default:
			if len(out) < maxAddresses {
				out = append(out, Address{Name: nameText(v, a.Name), Addr: CleanText(a.Addr()), Group: group})
			}
		}
	}
	if err != nil && len(out) == 0 {
		out = append(out, Address{Name: decodeHeaderText(v)})
	}
	return out
}

// maxIDs bounds the message ids read from References.
const maxIDs = 100

// msgIDs returns the msg-ids of a field (RFC 5322 section 3.6.4), the
// last maxIDs of them.
func msgIDs(v string) []string {
	var out []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		id := v[i : i+j+1]
		if !strings.ContainsAny(id, " \t\"") && len(id) <= 998 {
			out = append(out, id)
		}
		v = v[i+j+1:]
	}
	if len(out) > maxIDs {
		out = out[len(out)-maxIDs:]
	}
	return out
}

// firstID returns the first msg-id of a field, "" if none.
func firstID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// newBufReader wraps r for the MIME reader.
func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 32<<10) }

// ErrTooLarge: an attached message is larger than the bound given.
var ErrTooLarge = errors.New("msgview: attached message too large")

// AttachedMessage parses the message/rfc822 part id (a forwarded message,
// RFC 2046 section 5.2.1) as a View of its own, with the same Options
// but no findings (caucus's MX checked the outer message, not this one;
// its Findings.Level is LevelUnchecked). The part is read into memory,
// at most max bytes.
func (v *View) AttachedMessage(id string, max int64) (*View, error) {
	p := v.PartByID(id)
	if p == nil || p.Type != "message/rfc822" && p.Type != "message/global" {
		return nil, fmt.Errorf("%w: %q is no attached message", ErrNoPart, id)
	}
	if p.Size > max {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, p.Size)
	}
	var b bytes.Buffer
	if _, err := v.WritePart(&b, id); err != nil {
		return nil, err
	}
	opt := v.opt
	opt.Hostname = "" // nothing in it was checked by this host
	return ParseBytes(b.Bytes(), opt)
}
