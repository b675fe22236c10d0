package mailimport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// IMAP security modes.
const (
	TLSImplicit = "tls"      // TLS from the first byte (port 993, RFC 8314)
	TLSStart    = "starttls" // STARTTLS before login (RFC 9051 section 6.2.1)
)

// Batch sizes of the IMAP source.
const (
	listBatch      = 500     // messages per metadata FETCH
	fetchBatch     = 100     // messages per body FETCH
	fetchBatchSize = 8 << 20 // bytes per body FETCH (by RFC822.SIZE)
)

// IMAPConfig describes an IMAP source.
type IMAPConfig struct {
	Addr     string // host:port
	Security string // TLSImplicit (default) or TLSStart; never plain text
	Login    string
	Password Secret
	// TLS is the client TLS configuration; nil: system roots, the host
	// of Addr as server name.
	TLS *tls.Config
	// Timeout bounds each read and write; default 2 minutes.
	Timeout time.Duration
	// Rate bounds the bytes per second read from the server; 0: none.
	Rate int64
	// Dial connects; default a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxSize is the largest message fetched into a spool; larger ones are
	// reported. Default 64 MiB.
	MaxSize int64
	Log     *slog.Logger
}

// Secret is a credential: it prints as "[redacted]" in logs and errors.
type Secret string

// String hides the secret.
func (Secret) String() string { return "[redacted]" }

// LogValue hides the secret from log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// imapSource copies from an IMAP server.
type imapSource struct {
	cfg   IMAPConfig
	conn  net.Conn
	w     *bufio.Writer
	rd    wireReader
	tag   int
	caps  map[string]bool
	utf8  bool // UTF8=ACCEPT enabled: names are UTF-8, not modified UTF-7
	gmail bool // X-GM-EXT-1
	stop  func() bool

	selected    string
	uidValidity uint32
}

// DialIMAP connects to an IMAP server, makes sure the connection is
// encrypted, and logs in with AUTHENTICATE PLAIN (RFC 4616).
func DialIMAP(ctx context.Context, cfg IMAPConfig) (Source, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 64 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: address %q: %w", ErrBadSource, cfg.Addr, err)
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
		if tc.ServerName == "" {
			tc.ServerName = host
		}
	}
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
	}
	raw, err := dial(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mailimport: connecting to %s: %w", cfg.Addr, err)
	}
	s := &imapSource{cfg: cfg}
	s.stop = context.AfterFunc(ctx, func() { raw.Close() })
	if err := s.open(ctx, raw, tc); err != nil {
		s.stop()
		raw.Close()
		return nil, err
	}
	return s, nil
}

// open does TLS, the greeting, STARTTLS and the login.
func (s *imapSource) open(ctx context.Context, raw net.Conn, tc *tls.Config) error {
	var conn net.Conn = raw
	switch s.cfg.Security {
	case "", TLSImplicit:
		conn = tls.Client(raw, tc)
	case TLSStart:
	default:
		return fmt.Errorf("%w: security %q", ErrBadSource, s.cfg.Security)
	}
	s.setConn(conn)
	greet, err := s.read(nil)
	if err != nil {
		return fmt.Errorf("mailimport: greeting: %w", err)
	}
	if greet.status != "OK" {
		return fmt.Errorf("mailimport: the server refused the connection: %s", greet.text)
	}
	if s.cfg.Security == TLSStart {
		if err := s.starttls(raw, tc); err != nil {
			return err
		}
	}
	if err := s.login(); err != nil {
		return err
	}
	if err := s.capability(); err != nil {
		return err
	}
	s.gmail = s.caps["X-GM-EXT-1"]
	if s.caps["UTF8=ACCEPT"] {
		if _, err := s.cmd("ENABLE UTF8=ACCEPT", nil); err == nil {
			s.utf8 = true
		}
	}
	return nil
}

// setConn (re)wraps the connection with deadlines and the rate limit.
func (s *imapSource) setConn(c net.Conn) {
	dc := &deadlineConn{Conn: c, timeout: s.cfg.Timeout}
	s.conn = dc
	var r io.Reader = dc
	if s.cfg.Rate > 0 {
		r = newPacer(dc, s.cfg.Rate)
	}
	s.rd = wireReader{r: bufio.NewReaderSize(r, 64<<10)}
	s.w = bufio.NewWriter(dc)
}

// starttls upgrades the connection (RFC 9051 section 6.2.1). A server
// that does not offer it is refused: the password never crosses an
// unencrypted connection.
func (s *imapSource) starttls(raw net.Conn, tc *tls.Config) error {
	if err := s.capability(); err != nil {
		return err
	}
	if !s.caps["STARTTLS"] {
		return ErrTLS
	}
	if _, err := s.cmd("STARTTLS", nil); err != nil {
		return fmt.Errorf("%w: %w", ErrTLS, err)
	}
	if s.rd.r.Buffered() > 0 {
		return fmt.Errorf("%w: data after STARTTLS", ErrTLS) // a response injected before the handshake
	}
	s.setConn(tls.Client(raw, tc))
	return nil
}

// login authenticates with AUTHENTICATE PLAIN; the credentials never
// reach a log or an error.
func (s *imapSource) login() error {
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + s.cfg.Login + "\x00" + string(s.cfg.Password)))
	s.tag++
	tag := "a" + strconv.Itoa(s.tag)
	if err := s.send(tag + " AUTHENTICATE PLAIN"); err != nil {
		return err
	}
	for {
		resp, err := s.read(nil)
		if err != nil {
			return fmt.Errorf("mailimport: login: %w", err)
		}
		switch {
		case resp.tag == "+":
			if err := s.send(ir); err != nil {
				return err
			}
		case resp.tag == tag:
			if resp.status != "OK" {
				return fmt.Errorf("mailimport: %w: %s", errLogin, sanitizeText(resp.text))
			}
			return nil
		}
	}
}

// capability asks for and records the server's capabilities.
func (s *imapSource) capability() error {
	s.caps = map[string]bool{}
	_, err := s.cmd("CAPABILITY", func(r response) {
		if r.kind == "CAPABILITY" {
			for _, f := range r.fields {
				s.caps[strings.ToUpper(f.text())] = true
			}
		}
	})
	return err
}

// send writes one command line.
func (s *imapSource) send(line string) error {
	s.w.WriteString(line)
	s.w.WriteString("\r\n")
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("mailimport: writing to the source: %w", err)
	}
	return nil
}

// read reads one response.
func (s *imapSource) read(onFetch func(string, value) error) (response, error) {
	r, err := s.rd.readResponse(onFetch)
	if err != nil {
		return r, fmt.Errorf("mailimport: reading from the source: %w", err)
	}
	if r.tag == "*" && r.status == "BYE" {
		return r, s.statusErr(r)
	}
	return r, nil
}

// statusErr turns a NO, BAD or BYE into an error; Gmail's bandwidth
// refusal becomes [ErrThrottled].
func (s *imapSource) statusErr(r response) error {
	text := r.code + " " + r.text
	if strings.HasPrefix(strings.ToUpper(r.code), "OVERQUOTA") || strings.Contains(strings.ToLower(text), "exceeded command or bandwidth limits") {
		return fmt.Errorf("%w (%s)", ErrThrottled, sanitizeText(text))
	}
	return fmt.Errorf("mailimport: the source server answered %s: %s", r.status, sanitizeText(text))
}

// cmd runs a command, calling untagged with each untagged response,
// and returns the tagged one if it is OK.
func (s *imapSource) cmd(line string, untagged func(response)) (response, error) {
	return s.cmdFetch(line, untagged, nil)
}

// cmdFetch is cmd with a FETCH item callback.
func (s *imapSource) cmdFetch(line string, untagged func(response), onFetch func(string, value) error) (response, error) {
	s.tag++
	tag := "a" + strconv.Itoa(s.tag)
	if err := s.send(tag + " " + line); err != nil {
		return response{}, err
	}
	for {
		r, err := s.read(onFetch)
		if err != nil {
			return r, err
		}
		if r.tag == tag {
			if r.status != "OK" {
				return r, s.statusErr(r)
			}
			return r, nil
		}
		if r.tag == "*" && untagged != nil {
			untagged(r)
		}
	}
}

// Close logs out and closes the connection.
func (s *imapSource) Close() error {
	s.conn.SetDeadline(time.Now().Add(5 * time.Second))
	s.send("a0 LOGOUT")
	s.stop()
	return s.conn.Close()
}

// Folders lists the mailboxes (RFC 9051 section 6.3.9). On Gmail
// (X-GM-EXT-1) they are All Mail, whose messages carry their labels,
// and Spam and Trash, whose messages are not in All Mail.
func (s *imapSource) Folders(ctx context.Context) ([]Folder, error) {
	var out []Folder
	var bad []string
	_, err := s.cmd(`LIST "" "*"`, func(r response) {
		if r.kind != "LIST" || len(r.fields) < 3 {
			return
		}
		f, ok := s.listFolder(r.fields)
		if !ok {
			bad = append(bad, r.fields[2].text())
			return
		}
		out = append(out, f)
	})
	if err != nil {
		return nil, err
	}
	for _, b := range bad {
		s.cfg.Log.Warn("mailimport: skipping a folder the source cannot open", "folder", sanitizeText(b))
	}
	if s.gmail {
		out = gmailFolders(out)
	} else {
		// Virtual folders (RFC 6154: \All, \Flagged; RFC 8457:
		// \Important) show messages that are in other folders.
		out = slices.DeleteFunc(out, func(f Folder) bool {
			return f.Attr == AttrAll || f.Attr == AttrFlagged || f.Attr == AttrImportant
		})
	}
	slices.SortFunc(out, func(a, b Folder) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// listFolder turns a LIST response's fields into a Folder; false for a
// folder that cannot be selected.
func (s *imapSource) listFolder(fields []value) (Folder, bool) {
	f := Folder{Messages: -1, Size: -1}
	for _, a := range fields[0].list {
		switch attr := strings.ToLower(a.text()); attr {
		case `\noselect`, `\nonexistent`:
			return f, false
		case `\sent`, `\drafts`, `\junk`, `\trash`, `\archive`, `\all`, `\important`, `\flagged`:
			f.Attr = `\` + strings.ToUpper(attr[1:2]) + attr[2:]
		}
	}
	delim := fields[1].text()
	name := fields[2].text()
	if !s.utf8 {
		dec, err := decodeMUTF7(name)
		if err != nil {
			return f, false
		}
		name = dec
	}
	f.Name = sourcePath(name, delim)
	if strings.EqualFold(f.Name, "INBOX") {
		f.Name = "INBOX"
	}
	f.Raw = fields[2].text()
	return f, true
}

// examine opens folder f read-only (RFC 9051 section 6.3.3) and records
// its UIDVALIDITY.
func (s *imapSource) examine(f Folder) (exists uint32, err error) {
	q, err := quote(f.Raw)
	if err != nil {
		return 0, err
	}
	s.uidValidity = 0
	resp, err := s.cmd("EXAMINE "+q, func(r response) {
		if r.status == "OK" && strings.HasPrefix(strings.ToUpper(r.code), "UIDVALIDITY ") {
			n, _ := strconv.ParseUint(r.code[len("UIDVALIDITY "):], 10, 32)
			s.uidValidity = uint32(n)
		}
		if r.kind == "EXISTS" {
			exists = r.num
		}
	})
	if err != nil && resp.status == "NO" && !errors.Is(err, ErrThrottled) {
		return 0, fmt.Errorf("%w: %w", errFolderGone, err)
	}
	if err != nil {
		return 0, err
	}
	s.selected = f.Raw
	return exists, nil
}

// List lists f's messages: UID SEARCH ALL, then their UID, FLAGS,
// INTERNALDATE and RFC822.SIZE (and X-GM-MSGID and X-GM-LABELS on
// Gmail) in batches.
func (s *imapSource) List(ctx context.Context, f Folder, fn func([]Item) error) error {
	exists, err := s.examine(f)
	if err != nil || exists == 0 {
		return err
	}
	var uids []uint32
	_, err = s.cmd("UID SEARCH ALL", func(r response) {
		if r.kind != "SEARCH" {
			return
		}
		for _, v := range r.fields {
			if n, err := number(v); err == nil && n > 0 {
				uids = append(uids, n)
			}
		}
	})
	if err != nil {
		return err
	}
	slices.Sort(uids)
	uids = slices.Compact(uids)
	items := "UID FLAGS INTERNALDATE RFC822.SIZE"
	if s.gmail && f.Labels {
		items += " X-GM-MSGID X-GM-LABELS"
	}
	for start := 0; start < len(uids); start += listBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := uids[start:min(start+listBatch, len(uids))]
		var batch []Item
		var cur Item
		onFetch := func(name string, v value) error { return s.fetchMeta(&cur, name, v) }
		_, err := s.cmdFetch("UID FETCH "+uidSet(chunk)+" ("+items+")", func(r response) {
			if r.kind == "FETCH" && cur.uid != 0 {
				batch = append(batch, s.finish(cur, f))
			}
			cur = Item{Size: -1}
		}, onFetch)
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := fn(batch); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish sets the item's ID once all its items are read.
func (s *imapSource) finish(it Item, f Folder) Item {
	if it.ID == "" || !f.Labels {
		it.ID = strconv.FormatUint(uint64(s.uidValidity), 10) + "." + strconv.FormatUint(uint64(it.uid), 10)
	}
	return it
}

// fetchMeta records one FETCH item of a listing.
func (s *imapSource) fetchMeta(it *Item, name string, v value) error {
	switch name {
	case "UID":
		n, err := number(v)
		it.uid = n
		return err
	case "FLAGS":
		for _, f := range v.list {
			it.Flags = append(it.Flags, imap.Flag(f.text()))
		}
	case "INTERNALDATE":
		t, err := time.Parse("_2-Jan-2006 15:04:05 -0700", v.text())
		if err == nil {
			it.Date = t
		}
	case "RFC822.SIZE":
		if n, err := number(v); err == nil {
			it.Size = int64(n)
		}
	case "X-GM-MSGID":
		if _, err := strconv.ParseUint(v.atom, 10, 64); err == nil {
			it.ID = "gm." + v.atom
		}
	case "X-GM-LABELS":
		it.Labels = gmailLabels(v)
		if !s.utf8 {
			for i, l := range it.Labels {
				if dec, err := decodeMUTF7(l); err == nil {
					it.Labels[i] = dec
				}
			}
		}
	}
	return nil
}

// Fetch fetches the bodies of items with UID FETCH … BODY.PEEK[], which
// leaves \Seen as it is on the source, in batches bounded in count and
// bytes. A body is spooled (memory or a temporary file) before fn gets
// it, since the next response follows on the same connection.
func (s *imapSource) Fetch(ctx context.Context, f Folder, items []Item, fn func(Item, Body) error) error {
	if s.selected != f.Raw {
		if _, err := s.examine(f); err != nil {
			return err
		}
	}
	for start := 0; start < len(items); {
		if err := ctx.Err(); err != nil {
			return err
		}
		end, size := start, int64(0)
		for end < len(items) && end-start < fetchBatch && (end == start || size+max(items[end].Size, 0) <= fetchBatchSize) {
			size += max(items[end].Size, 0)
			end++
		}
		if err := s.fetchBodies(items[start:end], fn); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// fetchBodies fetches one batch.
func (s *imapSource) fetchBodies(items []Item, fn func(Item, Body) error) error {
	byUID := make(map[uint32]Item, len(items))
	uids := make([]uint32, 0, len(items))
	for _, it := range items {
		byUID[it.uid] = it
		uids = append(uids, it.uid)
	}
	slices.Sort(uids)
	var (
		cur     uint32
		body    *spool
		bodyErr error
		fnErr   error
	)
	s.rd.spool = func(n int64, r io.Reader) error {
		body, bodyErr = newSpool(r, n, s.cfg.MaxSize, "")
		if bodyErr != nil && bodyErr != errTooLarge {
			return bodyErr // the spool itself failed (disk full): stop
		}
		return nil
	}
	defer func() { s.rd.spool = nil }()
	_, err := s.cmdFetch("UID FETCH "+uidSet(uids)+" (UID BODY.PEEK[])", func(r response) {
		it, ok := byUID[cur]
		switch {
		case r.kind != "FETCH" || !ok:
		case fnErr != nil:
		case bodyErr != nil:
			it.Err = bodyErr
			fnErr = fn(it, nil)
		case body != nil:
			fnErr = fn(it, body)
			body = nil
		}
		if body != nil {
			body.Close()
		}
		cur, body, bodyErr = 0, nil, nil
	}, func(name string, v value) error {
		if name == "UID" {
			n, err := number(v)
			cur = n
			return err
		}
		return nil
	})
	if body != nil {
		body.Close()
	}
	if err != nil {
		return err
	}
	return fnErr
}

// uidSet formats ascending UIDs as an IMAP sequence set, runs as ranges.
func uidSet(uids []uint32) string {
	var b strings.Builder
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(uids[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(uids[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

// deadlineConn puts a deadline on every read and write.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// pacer limits the rate of reads from a source to rate bytes per second,
// so that an import does not take all of a provider's bandwidth (nor
// reach its limits sooner than needed).
type pacer struct {
	r     io.Reader
	rate  int64
	start time.Time
	n     int64
	now   func() time.Time
	sleep func(time.Duration)
}

func newPacer(r io.Reader, rate int64) *pacer {
	return &pacer{r: r, rate: rate, start: time.Now(), now: time.Now, sleep: time.Sleep}
}

// Read reads at most a second's worth, then waits until the bytes read
// so far are due.
func (p *pacer) Read(b []byte) (int, error) {
	if int64(len(b)) > p.rate {
		b = b[:max(p.rate, 1)]
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	due := p.start.Add(time.Duration(float64(p.n) / float64(p.rate) * float64(time.Second)))
	if d := due.Sub(p.now()); d > 0 {
		p.sleep(d)
	}
	return n, err
}

// MarshalJSON hides the secret from JSON output; the importer seals
// the value itself.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
