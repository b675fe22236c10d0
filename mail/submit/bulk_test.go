package submit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/mail/route"
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

// fakeLists has the list news@example-party.org and records what it takes.
type fakeLists struct {
	got  []string
	fail error // returned by Receive when set
}

func (l *fakeLists) IsList(_ context.Context, address string) (bool, error) {
	return address == "news@example-party.org", nil
}

func (l *fakeLists) Receive(_ context.Context, rcpt, from, login string, msg []byte) error {
	if l.fail != nil {
		return l.fail
	}
	l.got = append(l.got, rcpt+" "+from+" "+login+" "+strings.Split(string(msg), "\r\n")[0][:9])
	return nil
}

// TestListsReceive: mail from outside, a member's submission and the
// queue's notification to a list's address reach mail/lists, with the
// signed-in login for the submission only.
func TestListsReceive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	l := &fakeLists{}
	e.svc.deps.Dir.(*route.Directory).SetLists(l)
	e.svc.SetLists(l)
	ctx := t.Context()
	env := e.svc.Inbound("eve@outside.example")
	if err := e.svc.InboundRcpt(ctx, env, "news+b-1-x@example-party.org"); err != nil {
		t.Fatal(err)
	}
	msg := "From: Eve <eve@outside.example>\r\nSubject: hi\r\n\r\nhi\r\n"
	if err := e.svc.Deliver(ctx, env, []byte(msg), Received{Helo: "mx", IP: net.IPv4(192, 0, 2, 1), With: "ESMTP"}, false); err != nil {
		t.Fatal(err)
	}
	who := Sender{Account: e.anna}
	senv, err := e.svc.Mail(ctx, who, "anna@example-party.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Rcpt(ctx, who, senv, "news@example-party.org"); err != nil {
		t.Fatal(err)
	}
	amsg := "From: anna@example-party.org\r\nSubject: hi\r\n\r\nhi\r\n"
	if err := e.svc.Submit(ctx, who, senv, header(t, amsg), []byte(amsg), Received{Helo: "x", IP: net.IPv4(192, 0, 2, 2), With: "ESMTPSA"}); err != nil {
		t.Fatal(err)
	}
	// The queue's own notification about a list's copy.
	if err := e.svc.DeliverLocal(ctx, "news+b-2-y@example-party.org", strings.NewReader("From: postmaster@example-party.org\r\n\r\nx")); err != nil {
		t.Fatal(err)
	}
	want := []string{"news+b-1-x@example-party.org eve@outside.example  Received:", "news@example-party.org anna@example-party.org anna@example-party.org Received:",
		"news+b-2-y@example-party.org   From: pos"}
	if !slices.Equal(l.got, want) {
		t.Errorf("lists got %q, want %q", l.got, want)
	}
}

// TestListRefusal: a list's refusal with its reply reaches the sender as
// that reply; any other failure of the list is a temporary one.
func TestListRefusal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	l := &fakeLists{}
	e.svc.deps.Dir.(*route.Directory).SetLists(l)
	e.svc.SetLists(l)
	msg := []byte("From: Eve <eve@outside.example>\r\nSubject: hi\r\n\r\nhi\r\n")
	for _, tc := range []struct {
		fail error
		code int
	}{
		{fmt.Errorf("lists: post too large: %w", &Error{Code: 552, Enhanced: [3]int{5, 3, 4}, Kind: ErrTooLarge, Message: "too large"}), 552},
		{errors.New("lists: database is locked"), 451},
	} {
		l.fail = tc.fail
		env := e.svc.Inbound("eve@outside.example")
		if err := e.svc.InboundRcpt(t.Context(), env, "news@example-party.org"); err != nil {
			t.Fatal(err)
		}
		err := e.svc.Deliver(t.Context(), env, msg, Received{Helo: "mx", IP: net.IPv4(192, 0, 2, 1), With: "ESMTP"}, false)
		if r := refusal(t, err); r.Code != tc.code {
			t.Errorf("list failing with %v: reply %d, want %d", tc.fail, r.Code, tc.code)
		}
	}
}
