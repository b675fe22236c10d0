package lists

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caucus-org/caucus/internal/headertext"
	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/queue"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
)

// batch is how many outbox rows SendPending sends per call, and senders
// how many copies it hands to mail/submit at once: signing and the
// queue's durable writes overlap, and a crash repeats at most one batch.
const (
	batch   = 64
	senders = 8
)

// notify wakes Run.
func (s *Service) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends approved posts until ctx ends: each outbox row becomes one
// copy handed to mail/submit's bulk path, and the rows of a batch go once
// their copies are handed over (after a crash between the two, the
// recipients of that one batch get the post twice, never none). It looks again when a post is approved and
// every 30 seconds; a copy that could not be handed over (other than to
// an address that takes no mail, which is dropped) is tried again then.
func (s *Service) Run(ctx context.Context) {
	for {
		if err := s.emptyTrash(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("lists: emptying the trash", "err", err)
		}
		n, err := s.SendPending(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("lists: sending", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		t := time.NewTimer(30 * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// outRow is one outbox row.
type outRow struct {
	id, post, sub int64
	address       string
}

// SendPending sends up to one batch of the outbox, senders copies at a
// time, and returns how many it handed over; the rows of those go in one
// statement, and posts whose outbox is empty become sent. It stops at
// the first copy that could not be handed over for a reason other than
// the address (see sendCopy). While another node is sending the outbox
// it sends nothing (see sendLock).
func (s *Service) SendPending(ctx context.Context) (int, error) {
	release, ok, err := s.sendLock(ctx)
	if err != nil || !ok {
		return 0, err // !ok: another node is sending
	}
	defer release()
	todo, err := s.outbox(ctx)
	if err != nil {
		return 0, err
	}
	posts := map[int64]*prepared{}
	for _, r := range todo {
		if posts[r.post] == nil {
			if posts[r.post], err = s.prepare(ctx, r.post); err != nil {
				return 0, err
			}
		}
	}
	var (
		mu       sync.Mutex
		done     []any
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan outRow)
	for range senders {
		wg.Go(func() {
			for r := range next {
				err := s.sendCopy(ctx, posts[r.post], r)
				mu.Lock()
				if err != nil {
					firstErr = cmp.Or(firstErr, err)
				} else {
					done = append(done, r.id)
				}
				mu.Unlock()
			}
		})
	}
	for _, r := range todo {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- r
	}
	close(next)
	wg.Wait()
	if len(done) > 0 {
		q := `DELETE FROM list_outbox WHERE id IN (?` + strings.Repeat(`, ?`, len(done)-1) + `)`
		if _, err := s.deps.DB.ExecContext(ctx, q, done...); err != nil {
			return 0, fmt.Errorf("lists: outbox: %w", err)
		}
	}
	if firstErr != nil {
		return len(done), firstErr
	}
	return len(done), s.finishPosts(ctx)
}

// outbox reads up to one batch of outbox rows, oldest first.
func (s *Service) outbox(ctx context.Context) ([]outRow, error) {
	rows, err := s.deps.DB.QueryContext(ctx, `SELECT id, post_id, address, sub_id FROM list_outbox ORDER BY id LIMIT ?`, batch)
	if err != nil {
		return nil, fmt.Errorf("lists: outbox: %w", err)
	}
	defer rows.Close()
	var todo []outRow
	for rows.Next() {
		var r outRow
		if err := rows.Scan(&r.id, &r.post, &r.address, &r.sub); err != nil {
			return nil, fmt.Errorf("lists: outbox: %w", err)
		}
		todo = append(todo, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lists: outbox: %w", err)
	}
	return todo, nil
}

// sendCopy hands one recipient's copy to mail/submit. A copy to an
// address that cannot take it counts as handed over.
func (s *Service) sendCopy(ctx context.Context, p *prepared, r outRow) error {
	local, domain := p.list.local()
	from := local + "+owner@" + domain
	if r.sub != 0 {
		from = local + "+" + s.verpTag(p.list.ID, r.sub) + "@" + domain
	}
	msg := p.copyFor(s.UnsubscribeURL(p.list.ID, r.address))
	err := s.deps.Sender.SendBulk(ctx, from, []string{r.address}, msg)
	switch {
	case errors.Is(err, queue.ErrBadAddress), errors.Is(err, route.ErrUnknown),
		errors.Is(err, store.ErrQuota), errors.Is(err, store.ErrTooLarge):
		// An address that cannot take this copy (a member who left
		// since the approval, a full mailbox) must not hold up the
		// list: logged, dropped.
		s.log.Warn("lists: a copy was not sent", "list", p.list.Address, "post", r.post, "err", err)
	case err != nil:
		// Anything else (a full disk) is tried again in the next turn.
		return fmt.Errorf("lists: sending a copy of post %d: %w", r.post, err)
	}
	return nil
}

// finishPosts marks sending posts without outbox rows as sent.
func (s *Service) finishPosts(ctx context.Context) error {
	_, err := s.deps.DB.ExecContext(ctx, `UPDATE list_posts SET state = 'sent' WHERE state = 'sending'
		AND NOT EXISTS (SELECT 1 FROM list_outbox o WHERE o.post_id = list_posts.id)`)
	if err != nil {
		return fmt.Errorf("lists: finish: %w", err)
	}
	return nil
}

// prepared is a post made ready to copy: its header fields, filtered and
// with the list's added, but for the one that differs per recipient.
type prepared struct {
	list List
	head []byte // fields before List-Unsubscribe
	body []byte // the blank line and the body
}

// dropFields are the fields a post loses on its way through the list:
// the signatures (the list signs its own copies), the return path the
// delivering server writes, and list fields that would contradict ours.
var dropFields = []string{"DKIM-Signature", "Return-Path", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
	"List-Post", "List-Archive", "List-Help", "List-Subscribe", "List-Owner", "Precedence", "Authentication-Results"}

// prepare reads a post and builds its copy's fixed part.
func (s *Service) prepare(ctx context.Context, postID int64) (*prepared, error) {
	var listID int64
	var ref string
	if err := s.deps.DB.QueryRowContext(ctx, `SELECT list_id, blob_ref FROM list_posts WHERE id = ?`, postID).Scan(&listID, &ref); err != nil {
		return nil, fmt.Errorf("lists: post %d: %w", postID, err)
	}
	raw, err := s.readPost(ref)
	if err != nil {
		return nil, err
	}
	l, err := s.Get(ctx, listID)
	if err != nil {
		return nil, err
	}
	fields, blank, rest := message.Split(raw)
	var head bytes.Buffer
	for _, f := range fields {
		if !f.Colon || slices.ContainsFunc(dropFields, f.Is) {
			continue
		}
		if f.Is("From") {
			head.Write(s.fromField(l, f))
			continue
		}
		if f.Is("Reply-To") && !s.ours(f) {
			continue // replaced below when From is rewritten
		}
		head.Write(f.Raw)
	}
	if fromOutside := s.outsideFrom(fields); fromOutside != "" {
		fmt.Fprintf(&head, "Reply-To: <%s>\r\n", fromOutside)
	}
	s.listFields(&head, l)
	if blank == nil {
		blank = []byte("\r\n")
	}
	return &prepared{list: l, head: head.Bytes(), body: append(append([]byte(nil), blank...), rest...)}, nil
}

// listFields writes the list's header fields: List-Id (RFC 2919 section
// 3), List-Post, List-Archive and, for a list open to subscription,
// List-Help (RFC 2369 section 3: each is optional; a closed list's help
// page is not public, see listweb), and Precedence: list, which
// auto-responders read (RFC 3834 section 2).
//
// A long name or address is folded (RFC 5322 section 2.2.3) so that lines
// stay within 78 characters: List-Id before its "<", the others after
// the colon.
func (s *Service) listFields(b *bytes.Buffer, l List) {
	fmt.Fprintf(b, "List-Id: %s\r\n", headertext.NameAddr(l.Name, l.ListID()))
	urlField(b, "List-Post", "mailto:"+l.Address)
	urlField(b, "List-Archive", fmt.Sprintf("%s/mail/lists/%d/", s.cfg.BaseURL, l.ID))
	if l.Open {
		urlField(b, "List-Help", fmt.Sprintf("%s/mail/lists/%d/help", s.cfg.BaseURL, l.ID))
	}
	b.WriteString("Precedence: list\r\n")
}

// urlField writes a field of one URL in angle brackets (RFC 2369 section
// 2), folded after the colon if the line would pass 78 characters.
func urlField(b *bytes.Buffer, name, u string) {
	sep := " "
	if len(name)+len(": <")+len(u)+len(">") > 78 {
		sep = "\r\n "
	}
	fmt.Fprintf(b, "%s:%s<%s>\r\n", name, sep, u)
}

// copyFor is the copy for one recipient: the fixed header, then
// List-Unsubscribe with the recipient's link and List-Unsubscribe-Post
// (RFC 8058 section 3.1), which the DKIM signature mail/submit adds
// covers, then the body.
func (p *prepared) copyFor(unsubURL string) []byte {
	var b bytes.Buffer
	b.Grow(len(p.head) + len(p.body) + 256)
	b.Write(p.head)
	fmt.Fprintf(&b, "List-Unsubscribe: <%s>\r\n", unsubURL)
	b.WriteString("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
	b.Write(p.body)
	return b.Bytes()
}

// ours reports whether an address field names only the party's domains.
func (s *Service) ours(f message.Field) bool {
	list, err := message.ParseAddressList(f.Value())
	if err != nil {
		return false
	}
	for _, a := range message.Mailboxes(list) {
		if !slices.Contains(s.cfg.Domains, a.Domain()) {
			return false
		}
	}
	return true
}

// outsideFrom returns the From address if it is outside the party's
// domains ("" otherwise).
func (s *Service) outsideFrom(fields []message.Field) string {
	for _, f := range fields {
		if f.Is("From") && !s.ours(f) {
			list, err := message.ParseAddressList(f.Value())
			if mb := message.Mailboxes(list); err == nil && len(mb) == 1 {
				return mb[0].Addr()
			}
			return ""
		}
	}
	return ""
}

// fromField keeps a From of the party's domains, which the party's DKIM
// key signs. A From outside them is rewritten to the list's address with
// the author's name ("Anna via News"), and Reply-To names the author: the
// author's domain may publish a DMARC policy that refuses mail it did
// not sign (RFC 7960 section 4.1.3.1).
func (s *Service) fromField(l List, f message.Field) []byte {
	if s.ours(f) {
		return f.Raw
	}
	name := ""
	if list, err := message.ParseAddressList(f.Value()); err == nil {
		if mb := message.Mailboxes(list); len(mb) == 1 {
			name = mb[0].Name
			if name == "" {
				name = mb[0].Addr()
			}
		}
	}
	name = strings.TrimSpace(oneLine(name, 80) + " via " + l.Name)
	return []byte("From: " + headertext.Mailbox(name, l.Address) + "\r\n")
}
