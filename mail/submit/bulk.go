package submit

import (
	"context"
	"errors"
	"io"
)

var errNoLists = errors.New("submit: no mailing lists hooked in")

// BulkQueue is a queue that paces bulk mail behind members' own
// (mail/queue's EnqueueBulk).
type BulkQueue interface {
	EnqueueBulk(ctx context.Context, from string, rcpts []string, msg io.Reader) (int64, error)
}

// SendBulk is [Service.Send] for a list's copy (mail/lists): signed,
// delivered at once to the party's addresses, and queued as bulk mail for
// the others when the queue paces it (a [BulkQueue]), else as any mail.
func (s *Service) SendBulk(ctx context.Context, from string, to []string, msg []byte) error {
	return s.send(ctx, from, to, msg, true)
}

// Lists takes the mail for mailing lists' addresses (mail/lists): a post,
// or a notification to one of a list's return paths. login is the
// account that signed in to send it, "" for mail from outside.
type Lists interface {
	Receive(ctx context.Context, rcpt, from, login string, msg []byte) error
}

// SetLists hooks the mailing lists in; it is called once, while wiring,
// before any message.
func (s *Service) SetLists(l Lists) { s.deps.Lists = l }

// toLists hands msg to every list among the envelope's recipients. A
// list's refusal that carries its reply (an *Error) is answered with it;
// any other failure is temporary.
func (s *Service) toLists(ctx context.Context, env *Envelope, login string, msg []byte) error {
	if len(env.lists) == 0 {
		return nil
	}
	if s.deps.Lists == nil {
		return temporary("mailing list", errNoLists)
	}
	for _, rcpt := range env.lists {
		err := s.deps.Lists.Receive(ctx, rcpt, env.From, login, msg)
		var refusal *Error
		if errors.As(err, &refusal) {
			return refusal // the list's own answer: too large, too many waiting
		}
		if err != nil {
			return temporary("mailing list", err)
		}
	}
	return nil
}
