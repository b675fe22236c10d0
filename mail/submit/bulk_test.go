package submit

import (
	"context"
	"io"
	"strings"
	"testing"
)

// bulkQueue is a fakeQueue that takes bulk mail apart.
type bulkQueue struct {
	fakeQueue
	bulk []string
}

func (q *bulkQueue) EnqueueBulk(_ context.Context, from string, rcpts []string, r io.Reader) (int64, error) {
	io.Copy(io.Discard, r)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.bulk = append(q.bulk, from+" -> "+strings.Join(rcpts, ","))
	return int64(len(q.bulk)), nil
}

// TestSendBulk: a list's copy to an outside address is queued as bulk
// mail, one to a member delivered at once; Send stays members' mail.
func TestSendBulk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	q := &bulkQueue{}
	e.svc.deps.Queue = q
	msg := []byte("From: News <news@example-party.org>\r\nSubject: x\r\n\r\nhi\r\n")
	if err := e.svc.SendBulk(t.Context(), "news+b-1-x@example-party.org", []string{"sup@outside.example"}, msg); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SendBulk(t.Context(), "news+owner@example-party.org", []string{"anna@example-party.org"}, msg); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Send(t.Context(), "anna@example-party.org", []string{"friend@outside.example"}, msg); err != nil {
		t.Fatal(err)
	}
	if len(q.bulk) != 1 || q.bulk[0] != "news+b-1-x@example-party.org -> sup@outside.example" {
		t.Errorf("bulk = %q", q.bulk)
	}
	if len(q.sent) != 1 || q.sent[0] != "anna@example-party.org -> friend@outside.example" {
		t.Errorf("members' mail = %q", q.sent)
	}
	if n := e.count(t, e.anna.ID, "INBOX"); n != 1 {
		t.Errorf("anna's INBOX has %d, want the list's copy", n)
	}
}
