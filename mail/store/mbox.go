package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
)

// mboxBatch is how many messages ExportMbox reads from the database at a
// time.
const mboxBatch = 500

// ExportMbox writes every message of the account to w as one mbox in the
// mboxrd format: mailbox by mailbox (INBOX first, then by name), each in UID
// order. Each message starts with a "From " line (the envelope sender, or
// MAILER-DAEMON, and the internal date in UTC), followed by header fields
// that say where it was and its flags, then the stored message with its
// line endings as LF and every line that matches /^>*From / given one more
// ">". The added header fields are:
//
//	X-Caucus-Mailbox: the mailbox name (RFC 2047 encoded if not ASCII)
//	Status: R if \Seen, then O (as mutt and Thunderbird read it)
//	X-Status: A \Answered, F \Flagged, T \Draft, D \Deleted
//	X-Keywords: the keywords, space-separated, if any
//
// A message whose body is missing from the blob store fails the export.
func (s *Store) ExportMbox(ctx context.Context, accountID int64, w io.Writer) error {
	mbs, err := s.Mailboxes(ctx, accountID)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, mb := range mbs {
		var after int64
		for {
			batch, err := s.mboxBatch(ctx, mb.ID, after)
			if err != nil {
				return err
			}
			if len(batch) == 0 {
				break
			}
			for _, m := range batch {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("store: export: %w", err)
				}
				if err := s.writeMboxMessage(bw, mb.Name, m); err != nil {
					return err
				}
			}
			after = batch[len(batch)-1].uid
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("store: export: %w", err)
	}
	return nil
}

// mboxItem is one message to export.
type mboxItem struct {
	uid   int64
	flags flagSet
	date  time.Time
	ref   blob.Ref
	from  string // envelope sender address, or ""
}

// mboxBatch reads the next messages of a mailbox after UID after.
func (s *Store) mboxBatch(ctx context.Context, mailboxID, after int64) ([]mboxItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.uid, m.flags, m.keywords, m.internal_date, b.ref, b.envelope
		FROM messages m JOIN blobs b ON b.id = m.blob_id
		WHERE m.mailbox_id = ? AND m.uid > ? ORDER BY m.uid LIMIT ?`, mailboxID, after, mboxBatch)
	if err != nil {
		return nil, fmt.Errorf("store: export: %w", err)
	}
	defer rows.Close()
	var out []mboxItem
	for rows.Next() {
		var it mboxItem
		var kws, ref, env string
		var date int64
		if err := rows.Scan(&it.uid, &it.flags.bits, &kws, &date, &ref, &env); err != nil {
			return nil, fmt.Errorf("store: export: %w", err)
		}
		it.flags.keywords = decodeKeywords(kws)
		it.date = time.Unix(date, 0).UTC()
		it.ref = blob.Ref(ref)
		if e, err := decodeEnvelope(env); err == nil && e != nil && len(e.From) > 0 {
			a := e.From[0]
			it.from = a.Mailbox + "@" + a.Host
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: export: %w", err)
	}
	return out, nil
}

// mboxSender returns addr if it can stand in a "From " line.
func mboxSender(addr string) string {
	if addr == "" || len(addr) > 254 || strings.ContainsFunc(addr, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return "MAILER-DAEMON"
	}
	return addr
}

// writeMboxMessage writes one message in mboxrd form.
func (s *Store) writeMboxMessage(w *bufio.Writer, mailbox string, m mboxItem) error {
	f, err := s.blobs.Open(m.ref)
	if err != nil {
		return fmt.Errorf("store: export: message %d in %q: %w", m.uid, mailbox, err)
	}
	defer f.Close()

	fmt.Fprintf(w, "From %s %s\n", mboxSender(m.from), m.date.Format(time.ANSIC))
	fmt.Fprintf(w, "X-Caucus-Mailbox: %s\n", mime.QEncoding.Encode("utf-8", mailbox))
	status := "O"
	if m.flags.bits&bitSeen != 0 {
		status = "RO"
	}
	fmt.Fprintf(w, "Status: %s\n", status)
	var xs strings.Builder
	for _, x := range []struct {
		bit int64
		c   byte
	}{{bitAnswered, 'A'}, {bitFlagged, 'F'}, {bitDraft, 'T'}, {bitDeleted, 'D'}} {
		if m.flags.bits&x.bit != 0 {
			xs.WriteByte(x.c)
		}
	}
	if xs.Len() > 0 {
		fmt.Fprintf(w, "X-Status: %s\n", xs.String())
	}
	if len(m.flags.keywords) > 0 {
		fmt.Fprintf(w, "X-Keywords: %s\n", strings.Join(m.flags.keywords, " "))
	}

	br := bufio.NewReaderSize(f, 64<<10)
	atStart, endsInNewline := true, true
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if atStart && isFromLine(chunk) {
				w.WriteByte('>')
			}
			line := chunk
			complete := line[len(line)-1] == '\n'
			if complete {
				line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
			}
			// A CR at the end of a chunk cut by a full buffer could be the
			// CR of a CRLF; it is written as is, which at worst keeps a CR.
			w.Write(line)
			if complete {
				w.WriteByte('\n')
			}
			atStart, endsInNewline = complete, complete
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("store: export: message %d in %q: %w", m.uid, mailbox, err)
		}
	}
	if !endsInNewline {
		w.WriteByte('\n')
	}
	// A blank line ends the message.
	if err := w.WriteByte('\n'); err != nil {
		return fmt.Errorf("store: export: %w", err)
	}
	return nil
}

// isFromLine reports whether line matches /^>*From / (mboxrd).
func isFromLine(line []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From "))
}
