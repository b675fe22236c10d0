package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode legacy charsets in bodies and encoded words (sets message.CharsetReader)
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/caucus-org/caucus/mail/message"
)

// Bounds on what parsing a message at delivery keeps and how far it goes.
const (
	maxDepth        = 32      // nesting of multipart and message/rfc822 parts
	maxParts        = 10000   // parts in one message
	maxBodyText     = 1 << 20 // bytes of decoded body text indexed per message
	maxHTMLRead     = 4 << 20 // bytes of one HTML part read to strip it
	maxHeaderFields = 1 << 10 // header fields indexed per message
	maxHeaderValue  = 8 << 10 // bytes of one header value indexed
)

// parsed is what delivery learns from a message, once.
type parsed struct {
	envelope  *imap.Envelope
	structure imap.BodyStructure
	sentDay   *int64        // day of the Date header, in its own zone; nil if none
	headers   []headerField // top-level header fields, values decoded and folded
	body      string        // decoded text of the text parts, folded, at most maxBodyText bytes
}

// headerField is one header field for the search index.
type headerField struct {
	name  string // lower case
	value string // decoded, folded
}

// fold maps s to the form the search index stores and compares: valid
// UTF-8, lower case. The trigram tokenizer folds case too; folding here as
// well lets short criteria fall back to instr() on the stored text.
func fold(s string) string {
	return strings.ToLower(strings.ToValidUTF8(s, "\uFFFD"))
}

// dayOf returns t's calendar date, in t's own zone, as days since
// 1970-01-01. Search criteria on dates disregard time and zone (RFC 9051
// 6.4.4).
func dayOf(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// parseMessage reads a stored message (r at its start) and returns its
// envelope, body structure and searchable text. It never fails: a message
// that does not parse gets what the parsers made of it. A message nested
// deeper than maxDepth or with more than maxParts parts gets a body
// structure of one opaque application/octet-stream part, so that a
// hostile message cannot make parsing quadratic or its structure huge.
func parseMessage(r io.ReadSeeker, size int64) (*parsed, error) {
	return parseMessageText(r, size, true)
}

// parseMessageText is parseMessage; without text it leaves the searchable
// text (header fields and body) out, for a body that the indexer parses
// again when it indexes it (an import's: [Store.ImportBatch]).
func parseMessageText(r io.ReadSeeker, size int64, text bool) (*parsed, error) {
	p := &parsed{}
	hb, err := message.ReadHeader(r, message.MaxHeader)
	if err != nil {
		return nil, fmt.Errorf("store: parse: %w", err)
	}
	mh, _ := message.Parse(hb) // what can be read of a malformed header
	p.envelope = envelopeOf(mh)
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("store: parse: %w", err)
	}
	br := bufio.NewReader(r)
	hdr, _ := textproto.ReadHeader(br)
	pos, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("store: parse: %w", err)
	}
	bodySize := max(size-(pos-int64(br.Buffered())), 0)
	if !p.envelope.Date.IsZero() {
		d := dayOf(p.envelope.Date)
		p.sentDay = &d
	}
	w := &textWalker{noText: !text}
	if text {
		p.headers = indexHeader(hdr, nil)
	}
	w.walk(hdr, br, 0)
	p.body = w.text.String()

	if w.tooComplex {
		h := gomessage.Header{Header: hdr}
		p.structure = &imap.BodyStructureSinglePart{
			Type:     "application",
			Subtype:  "octet-stream",
			Params:   map[string]string{},
			Encoding: h.Get("Content-Transfer-Encoding"),
			Size:     uint32(min(bodySize, 1<<32-1)),
			Extended: &imap.BodyStructureSinglePartExt{},
		}
		return p, nil
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("store: parse: %w", err)
	}
	p.structure = imapserver.ExtractBodyStructure(r)
	return p, nil
}

// envelopeOf builds a message's IMAP ENVELOPE (RFC 9051 section 7.5.2)
// from its header as mail/message reads it, the reading every check of
// caucus made of the same message: the first field of each name where a
// message (an APPEND; the MX and submission refuse them) has several. The
// date, subject and message ids are decoded by go-message from the same
// fields. An absent or empty Sender or Reply-To is the From, as the RFC
// asks.
func envelopeOf(h *message.Header) *imap.Envelope {
	var th textproto.Header
	for i := len(h.Fields) - 1; i >= 0; i-- { // Add puts a field first
		th.Add(h.Fields[i].Name, h.Fields[i].Value())
	}
	mh := gomail.Header{Header: gomessage.Header{Header: th}}
	date, _ := mh.Date()
	subject, _ := mh.Subject()
	inReplyTo, _ := mh.MsgIDList("In-Reply-To")
	messageID, _ := mh.MessageID()
	e := &imap.Envelope{
		Date:      date,
		Subject:   subject,
		From:      envelopeAddresses(h, "From"),
		Sender:    envelopeAddresses(h, "Sender"),
		ReplyTo:   envelopeAddresses(h, "Reply-To"),
		To:        envelopeAddresses(h, "To"),
		Cc:        envelopeAddresses(h, "Cc"),
		Bcc:       envelopeAddresses(h, "Bcc"),
		InReplyTo: inReplyTo,
		MessageID: messageID,
	}
	if len(e.Sender) == 0 {
		e.Sender = e.From
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = e.From
	}
	return e
}

// envelopeAddresses returns the first field named name as an ENVELOPE
// address list: a group is a start marker (NIL host, the group's name as
// mailbox) and an end marker (NIL mailbox and host) around its members
// (RFC 9051 section 7.5.2); a route-form address keeps its mailbox and
// host and has its obsolete route as the adl. A
// list that does not parse to the end gives the addresses before the
// fault, a group cut short its end marker.
func envelopeAddresses(h *message.Header, name string) []imap.Address {
	list, _ := message.ParseAddressList(h.First(name))
	var out []imap.Address
	open := false
	for _, a := range list {
		switch a.Kind {
		case message.GroupStart:
			out = append(out, imap.Address{Mailbox: a.Name})
			open = true
		case message.GroupEnd:
			out = append(out, imap.Address{})
			open = false
		default:
			if a.Mailbox == "" || a.Host == "" {
				continue // would read as a group marker
			}
			out = append(out, imap.Address{Name: a.Name, AtDomainList: a.Route, Mailbox: a.Mailbox, Host: a.Host})
		}
	}
	if open {
		out = append(out, imap.Address{})
	}
	return out
}

// indexHeader appends the fields of h, decoded and folded, to out.
func indexHeader(h textproto.Header, out []headerField) []headerField {
	mh := gomessage.Header{Header: h}
	fields := mh.Fields()
	for fields.Next() && len(out) < maxHeaderFields {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		if addressFields[strings.ToLower(fields.Key())] {
			v += "\n" + searchAddresses(v) // SEARCH FROM user@host finds addresses written with comments
		}
		if len(v) > maxHeaderValue {
			v = truncateUTF8(v, maxHeaderValue)
		}
		out = append(out, headerField{name: strings.ToLower(fields.Key()), value: fold(v)})
	}
	return out
}

// truncateUTF8 cuts s to at most n bytes, at a rune boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// textWalker collects the decoded text of a message's text parts, and
// finds out whether the message is too deep or has too many parts for
// imapserver.ExtractBodyStructure, which it mirrors part for part.
type textWalker struct {
	text       strings.Builder
	parts      int
	tooComplex bool
	noText     bool // only parts and depth are counted

	want  string // if not "", stop once the text contains it (a search's check, fts.go)
	found bool
}

// room returns how many more bytes of text may be kept.
func (w *textWalker) room() int {
	if w.noText {
		return 0
	}
	return maxBodyText - w.text.Len()
}

// add appends folded text, bounded.
func (w *textWalker) add(s string) {
	if w.room() <= 0 || s == "" {
		return
	}
	s = fold(s)
	start := w.text.Len()
	if start > 0 {
		w.text.WriteByte('\n')
	}
	w.text.WriteString(truncateUTF8(s, w.room()))
	if w.want != "" && strings.Contains(w.text.String()[max(start-len(w.want), 0):], w.want) {
		w.found = true
	}
}

// walk visits one entity with header h and (still encoded) body r.
func (w *textWalker) walk(h textproto.Header, r io.Reader, depth int) {
	if w.tooComplex || w.found {
		return
	}
	mh := gomessage.Header{Header: h}
	mediaType, params, _ := mh.ContentType()
	primary, _, _ := strings.Cut(mediaType, "/")
	switch {
	case primary == "multipart":
		if depth >= maxDepth {
			w.giveUp()
			return
		}
		mr := textproto.NewMultipartReader(r, params["boundary"])
		for {
			part, _ := mr.NextPart()
			if part == nil {
				break
			}
			if w.parts++; w.parts > maxParts {
				w.giveUp()
				return
			}
			w.walk(part.Header, part, depth+1)
			if w.tooComplex || w.found {
				return
			}
		}
	case mediaType == "message/rfc822" || mediaType == "message/global":
		if depth >= maxDepth {
			w.giveUp()
			return
		}
		br := bufio.NewReader(r)
		child, _ := textproto.ReadHeader(br)
		if w.room() > 0 {
			for _, f := range indexHeader(child, nil) {
				w.add(f.name + ": " + f.value)
			}
		}
		w.walk(child, br, depth+1)
	case primary == "text":
		if w.room() <= 0 {
			return
		}
		e, _ := gomessage.New(mh, r) // an unknown charset or encoding still gives a readable body
		limit := int64(w.room())
		html := mediaType == "text/html"
		if html {
			limit = maxHTMLRead
		}
		b, _ := io.ReadAll(io.LimitReader(e.Body, limit))
		s := string(b)
		if html {
			s = stripHTML(s)
		}
		w.add(s)
	}
}

// giveUp marks the message too complex. Its text is still indexed, as far
// as the walk got.
func (w *textWalker) giveUp() {
	w.tooComplex = true
}

// stripHTML turns HTML into rough text: tags removed (script and style
// with their content), block tags become line breaks, entities decoded.
// It is for the search index, not for display.
func stripHTML(s string) string {
	var b strings.Builder
	b.Grow(len(s) / 2)
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(html.UnescapeString(s))
			break
		}
		b.WriteString(html.UnescapeString(s[:i]))
		s = s[i:]
		if strings.HasPrefix(s, "<!--") {
			end := strings.Index(s, "-->")
			if end < 0 {
				break
			}
			s = s[end+3:]
			continue
		}
		end := strings.IndexByte(s, '>')
		if end < 0 {
			break
		}
		tag := strings.ToLower(s[1:end])
		s = s[end+1:]
		name := strings.TrimPrefix(tag, "/")
		if n := strings.IndexAny(name, " \t\r\n/"); n >= 0 {
			name = name[:n]
		}
		switch name {
		case "script", "style", "head", "title":
			if !strings.HasPrefix(tag, "/") {
				closing := "</" + name
				if k := strings.Index(strings.ToLower(s), closing); k >= 0 {
					s = s[k:]
				} else {
					s = ""
				}
			}
		case "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre", "hr":
			b.WriteByte('\n')
		case "td", "th":
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// The JSON forms of imap.Envelope and imap.BodyStructure stored in the
// blobs table. They are this package's own, so that a change in go-imap
// cannot silently change what stored rows mean. Maps and slices keep the
// difference between nil and empty, so that the round trip is exact.

// jsonTime is a time with its zone offset.
type jsonTime struct {
	Unix   int64 `json:"u"`
	Offset int   `json:"o"`
}

// jsonAddress is an imap.Address. The adl ("a") came later: an address
// stored without it has none, as it had then.
type jsonAddress struct {
	Name    string `json:"n,omitempty"`
	ADL     string `json:"a,omitempty"`
	Mailbox string `json:"m,omitempty"`
	Host    string `json:"h,omitempty"`
}

// jsonEnvelope is an imap.Envelope.
type jsonEnvelope struct {
	Date      *jsonTime     `json:"d,omitempty"`
	Subject   string        `json:"s,omitempty"`
	From      []jsonAddress `json:"f"`
	Sender    []jsonAddress `json:"se"`
	ReplyTo   []jsonAddress `json:"r"`
	To        []jsonAddress `json:"t"`
	Cc        []jsonAddress `json:"c"`
	Bcc       []jsonAddress `json:"b"`
	InReplyTo []string      `json:"i"`
	MessageID string        `json:"m,omitempty"`
}

// jsonDisposition is an imap.BodyStructureDisposition.
type jsonDisposition struct {
	Value  string            `json:"v"`
	Params map[string]string `json:"p"`
}

// jsonRFC822 is an imap.BodyStructureMessageRFC822.
type jsonRFC822 struct {
	Envelope *jsonEnvelope `json:"e"`
	Body     *jsonPart     `json:"b"`
	NumLines int64         `json:"l"`
}

// jsonPart is a *imap.BodyStructureSinglePart or, with Multi set, a
// *imap.BodyStructureMultiPart.
type jsonPart struct {
	Multi bool `json:"mp,omitempty"`

	// Multipart.
	Children []*jsonPart `json:"ch,omitempty"`

	// Both.
	Subtype string `json:"st,omitempty"`

	// Single part.
	Type        string            `json:"t,omitempty"`
	Params      map[string]string `json:"p"`
	ID          string            `json:"id,omitempty"`
	Description string            `json:"de,omitempty"`
	Encoding    string            `json:"en,omitempty"`
	Size        uint32            `json:"sz,omitempty"`
	Message     *jsonRFC822       `json:"msg,omitempty"`
	TextLines   *int64            `json:"tl,omitempty"`

	// Extension data; Ext false means none (nil Extended).
	Ext         bool             `json:"x,omitempty"`
	Disposition *jsonDisposition `json:"dp,omitempty"`
	Language    []string         `json:"la"`
	Location    string           `json:"lo,omitempty"`
}

// toJSONAddresses and fromJSONAddresses convert address lists, keeping nil.
func toJSONAddresses(as []imap.Address) []jsonAddress {
	if as == nil {
		return nil
	}
	out := make([]jsonAddress, len(as))
	for i, a := range as {
		out[i] = jsonAddress{Name: a.Name, ADL: a.AtDomainList, Mailbox: a.Mailbox, Host: a.Host}
	}
	return out
}

func fromJSONAddresses(as []jsonAddress) []imap.Address {
	if as == nil {
		return nil
	}
	out := make([]imap.Address, len(as))
	for i, a := range as {
		out[i] = imap.Address{Name: a.Name, AtDomainList: a.ADL, Mailbox: a.Mailbox, Host: a.Host}
	}
	return out
}

// toJSONEnvelope and fromJSONEnvelope convert envelopes; the date keeps
// its zone offset.
func toJSONEnvelope(e *imap.Envelope) *jsonEnvelope {
	if e == nil {
		return nil
	}
	je := &jsonEnvelope{
		Subject:   e.Subject,
		From:      toJSONAddresses(e.From),
		Sender:    toJSONAddresses(e.Sender),
		ReplyTo:   toJSONAddresses(e.ReplyTo),
		To:        toJSONAddresses(e.To),
		Cc:        toJSONAddresses(e.Cc),
		Bcc:       toJSONAddresses(e.Bcc),
		InReplyTo: e.InReplyTo,
		MessageID: e.MessageID,
	}
	if !e.Date.IsZero() {
		_, off := e.Date.Zone()
		je.Date = &jsonTime{Unix: e.Date.Unix(), Offset: off}
	}
	return je
}

func fromJSONEnvelope(je *jsonEnvelope) *imap.Envelope {
	if je == nil {
		return nil
	}
	e := &imap.Envelope{
		Subject:   je.Subject,
		From:      fromJSONAddresses(je.From),
		Sender:    fromJSONAddresses(je.Sender),
		ReplyTo:   fromJSONAddresses(je.ReplyTo),
		To:        fromJSONAddresses(je.To),
		Cc:        fromJSONAddresses(je.Cc),
		Bcc:       fromJSONAddresses(je.Bcc),
		InReplyTo: je.InReplyTo,
		MessageID: je.MessageID,
	}
	if je.Date != nil {
		e.Date = zoned(je.Date.Unix, je.Date.Offset)
	}
	return e
}

// zoned returns the time unix seconds in a fixed zone offset seconds east
// of UTC.
func zoned(unix int64, offset int) time.Time {
	t := time.Unix(unix, 0)
	if offset == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", offset))
}

// toJSONDisposition and fromJSONDisposition convert dispositions.
func toJSONDisposition(d *imap.BodyStructureDisposition) *jsonDisposition {
	if d == nil {
		return nil
	}
	return &jsonDisposition{Value: d.Value, Params: d.Params}
}

func fromJSONDisposition(d *jsonDisposition) *imap.BodyStructureDisposition {
	if d == nil {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: d.Value, Params: d.Params}
}

// toJSONPart converts a body structure for storage.
func toJSONPart(bs imap.BodyStructure) *jsonPart {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if bs == nil {
			return nil
		}
		jp := &jsonPart{Multi: true, Subtype: bs.Subtype}
		for _, c := range bs.Children {
			jp.Children = append(jp.Children, toJSONPart(c))
		}
		if x := bs.Extended; x != nil {
			jp.Ext = true
			jp.Params = x.Params
			jp.Disposition = toJSONDisposition(x.Disposition)
			jp.Language = x.Language
			jp.Location = x.Location
		}
		return jp
	case *imap.BodyStructureSinglePart:
		if bs == nil {
			return nil
		}
		jp := &jsonPart{
			Type:        bs.Type,
			Subtype:     bs.Subtype,
			Params:      bs.Params,
			ID:          bs.ID,
			Description: bs.Description,
			Encoding:    bs.Encoding,
			Size:        bs.Size,
		}
		if m := bs.MessageRFC822; m != nil {
			jp.Message = &jsonRFC822{Envelope: toJSONEnvelope(m.Envelope), Body: toJSONPart(m.BodyStructure), NumLines: m.NumLines}
		}
		if bs.Text != nil {
			n := bs.Text.NumLines
			jp.TextLines = &n
		}
		if x := bs.Extended; x != nil {
			jp.Ext = true
			jp.Disposition = toJSONDisposition(x.Disposition)
			jp.Language = x.Language
			jp.Location = x.Location
		}
		return jp
	}
	return nil
}

// fromJSONPart converts a stored body structure back.
func fromJSONPart(jp *jsonPart) imap.BodyStructure {
	if jp == nil {
		return nil
	}
	if jp.Multi {
		bs := &imap.BodyStructureMultiPart{Subtype: jp.Subtype}
		for _, c := range jp.Children {
			if child := fromJSONPart(c); child != nil {
				bs.Children = append(bs.Children, child)
			}
		}
		if jp.Ext {
			bs.Extended = &imap.BodyStructureMultiPartExt{
				Params:      jp.Params,
				Disposition: fromJSONDisposition(jp.Disposition),
				Language:    jp.Language,
				Location:    jp.Location,
			}
		}
		return bs
	}
	bs := &imap.BodyStructureSinglePart{
		Type:        jp.Type,
		Subtype:     jp.Subtype,
		Params:      jp.Params,
		ID:          jp.ID,
		Description: jp.Description,
		Encoding:    jp.Encoding,
		Size:        jp.Size,
	}
	if m := jp.Message; m != nil {
		bs.MessageRFC822 = &imap.BodyStructureMessageRFC822{Envelope: fromJSONEnvelope(m.Envelope), BodyStructure: fromJSONPart(m.Body), NumLines: m.NumLines}
	}
	if jp.TextLines != nil {
		bs.Text = &imap.BodyStructureText{NumLines: *jp.TextLines}
	}
	if jp.Ext {
		bs.Extended = &imap.BodyStructureSinglePartExt{
			Disposition: fromJSONDisposition(jp.Disposition),
			Language:    jp.Language,
			Location:    jp.Location,
		}
	}
	return bs
}

// encodeEnvelope gives the stored form of an envelope.
func encodeEnvelope(e *imap.Envelope) (string, error) {
	b, err := json.Marshal(toJSONEnvelope(e))
	return string(b), err
}

// encodeStructure gives the stored form of a body structure.
func encodeStructure(bs imap.BodyStructure) (string, error) {
	b, err := json.Marshal(toJSONPart(bs))
	return string(b), err
}

// decodeEnvelope reads the stored form of an envelope.
func decodeEnvelope(s string) (*imap.Envelope, error) {
	var je *jsonEnvelope
	if err := json.Unmarshal([]byte(s), &je); err != nil {
		return nil, fmt.Errorf("store: stored envelope: %w", err)
	}
	return fromJSONEnvelope(je), nil
}

// decodeStructure reads the stored form of a body structure.
func decodeStructure(s string) (imap.BodyStructure, error) {
	var jp *jsonPart
	if err := json.Unmarshal([]byte(s), &jp); err != nil {
		return nil, fmt.Errorf("store: stored body structure: %w", err)
	}
	return fromJSONPart(jp), nil
}
