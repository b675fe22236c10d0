package submit

import (
	"context"
	"io"
)

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
