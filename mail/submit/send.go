package submit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/queue"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/srs"
)

// Send sends a message caucus itself writes (an invitation, an
// auto-reply), from the reverse-path from ("" for the null reverse-path
// of RFC 3834 section 3) to the addresses to: DKIM-signed, delivered at
// once to the party's addresses, queued for the others.
func (s *Service) Send(ctx context.Context, from string, to []string, msg []byte) error {
	return s.send(ctx, from, to, msg, false)
}

// send is Send, of bulk mail ([Service.SendBulk]) or not.
func (s *Service) send(ctx context.Context, from string, to []string, msg []byte, bulk bool) error {
	msg, err := s.sign(ctx, msg)
	if err != nil {
		return err
	}
	var remote []string
	for _, rcpt := range to {
		err := s.DeliverLocal(ctx, rcpt, bytes.NewReader(msg))
		if errors.Is(err, queue.ErrNotLocal) {
			remote = append(remote, rcpt)
		} else if err != nil {
			return err
		}
	}
	if len(remote) == 0 {
		return nil
	}
	if s.deps.Queue == nil {
		return errors.New("submit: no queue for other domains")
	}
	if bq, ok := s.deps.Queue.(BulkQueue); ok && bulk {
		_, err = bq.EnqueueBulk(ctx, from, remote, bytes.NewReader(msg))
		return err
	}
	_, err = s.deps.Queue.Enqueue(ctx, from, remote, bytes.NewReader(msg))
	return err
}

// SendAs sends a message caucus writes on behalf of a member, from their
// own address (an invitation to an event they organise, their answer to
// one): as Send, but counted against the account's hourly sending limit
// as a message it submits, and refused past it (ErrRateLimited), so that
// no calendar write sends more than the account may; at most
// MaxRcptsPerMessage recipients (ErrTooManyRcpts).
func (s *Service) SendAs(ctx context.Context, acct auth.Account, to []string, msg []byte) error {
	if len(to) > s.cfg.MaxRcptsPerMessage {
		return refuse(452, [3]int{4, 5, 3}, ErrTooManyRcpts, "Too many recipients")
	}
	if err := s.countMessage(ctx, Sender{Account: acct}); err != nil {
		return err
	}
	return s.Send(ctx, acct.Login, to, msg)
}

// Sign DKIM-signs a message caucus writes; the queue signs its delivery
// status notifications with it ([queue.Config.Sign]).
func (s *Service) Sign(ctx context.Context, msg []byte) ([]byte, error) { return s.sign(ctx, msg) }

func (s *Service) sign(ctx context.Context, msg []byte) ([]byte, error) {
	if s.deps.Signer == nil {
		return msg, nil
	}
	return s.deps.Signer.Sign(ctx, msg)
}

// maxListNotice bounds a notification DeliverLocal hands a list: the
// queue's quote only the header of the message they are about.
const maxListNotice = 1 << 20

// DeliverLocal delivers a message caucus writes to one address of the
// party, into its INBOX, or to a mailing list (a notification to one of
// its return paths); for any other address it returns
// queue.ErrNotLocal. A message to one of our rewritten senders (SRS), a
// notification about mail we forwarded, is queued to the original sender
// from the null reverse-path. The queue delivers its notifications with
// it ([queue.Config.LocalDeliver]).
func (s *Service) DeliverLocal(ctx context.Context, rcpt string, msg io.Reader) error {
	if rw := s.deps.SRS; rw != nil && srs.IsSRS(rcpt) && s.deps.Dir.IsOurs(rcpt) {
		orig, err := rw.Reverse(rcpt)
		if err != nil {
			return fmt.Errorf("notification to %s: %w", rcpt, err)
		}
		if s.deps.Queue == nil {
			return errors.New("submit: no queue for other domains")
		}
		_, err = s.deps.Queue.Enqueue(ctx, "", []string{orig}, msg)
		return err
	}
	t, err := s.resolve(ctx, rcpt)
	if errors.Is(err, route.ErrNotOurs) {
		return queue.ErrNotLocal
	}
	if err != nil {
		return err
	}
	if len(t.Lists) > 0 {
		// A notification to a list's return path (VERP): the list reads it.
		b, err := io.ReadAll(io.LimitReader(msg, maxListNotice))
		if err != nil {
			return err
		}
		return s.toLists(ctx, &Envelope{lists: t.Lists}, "", b)
	}
	_, err = s.deps.Store.DeliverTo(ctx, t.Accounts, "INBOX", msg)
	return err
}
