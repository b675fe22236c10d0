package lists

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/mail/msgauth"
	"github.com/caucus-org/caucus/mail/queue"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
	"github.com/caucus-org/caucus/mail/submit"
)

// fanOutSize is the number of subscribers: 2,000, or CAUCUS_MAILING.
func fanOutSize(b *testing.B) int {
	if v := os.Getenv("CAUCUS_MAILING"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("CAUCUS_MAILING=%q", v)
		}
		return n
	}
	return 2000
}

// BenchmarkFanOut measures how fast an approved post to an outside list
// is queued: each copy made for its recipient (List-Unsubscribe link,
// VERP return path), DKIM-signed (ed25519 and RSA) by mail/submit and
// queued as bulk mail, durably. The peer in the same run, "one-copy",
// queues one signed copy for each recipient, as a list without
// per-recipient fields would: what the queue alone costs.
//
//	go test -run X -bench FanOut -benchtime 1x ./mail/lists/
func BenchmarkFanOut(b *testing.B) {
	n := fanOutSize(b)
	b.Run("personal", func(b *testing.B) {
		var rate float64
		for b.Loop() {
			rate = fanOutPersonal(b, n)
		}
		b.ReportMetric(rate, "queued/s")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("one-copy", func(b *testing.B) {
		var rate float64
		for b.Loop() {
			rate = fanOutOneCopy(b, n)
		}
		b.ReportMetric(rate, "queued/s")
		b.ReportMetric(0, "ns/op")
	})
}

// fanOutEnv is mail/submit with a real store, routing, queue (not
// running) and DKIM keys, and the lists on it.
type fanOutEnv struct {
	env    *authtest.Env
	queue  *queue.Queue
	submit *submit.Service
	svc    *Service
}

func newFanOutEnv(b *testing.B) *fanOutEnv {
	env := authtest.New(b, auth.Config{}, Component(), route.Component(), store.Component(), queue.Component())
	dir := b.TempDir()
	mblobs, err := blob.OpenDir(filepath.Join(dir, "mail"))
	if err != nil {
		b.Fatal(err)
	}
	qblobs, err := blob.OpenDir(filepath.Join(dir, "queue"))
	if err != nil {
		b.Fatal(err)
	}
	keys, err := msgauth.LoadOrCreateKeys(filepath.Join(dir, "dkim"), "example-party.org", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	e := &fanOutEnv{env: env}
	e.queue = queue.New(queue.Config{Hostname: "mail.example-party.org", Resolver: &dns.Mock{}}, env.DB, qblobs, nil)
	rdir := route.New(env.DB, env.Auth, []string{"example-party.org"}, time.Now)
	e.submit = submit.New(submit.Config{Hostname: "mail.example-party.org"}, submit.Deps{
		Store: store.New(env.DB, mblobs, nil, store.Options{}), Dir: rdir, Queue: e.queue,
		Signer: submit.DKIMSigner{Keys: map[string][]msgauth.DKIMKey{"example-party.org": keys}},
	})
	lblobs, err := blob.OpenDir(filepath.Join(dir, "lists"))
	if err != nil {
		b.Fatal(err)
	}
	e.svc, err = New(Config{Domains: []string{"example-party.org"}, BaseURL: "https://mail.example-party.org", Key: bytes.Repeat([]byte{5}, 32)},
		Deps{DB: env.DB, Auth: env.Auth, Sender: e.submit, Blobs: lblobs, Dir: rdir})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// fanOutPersonal approves a post to n outside subscribers and sends it
// all; it returns copies queued per second.
func fanOutPersonal(b *testing.B, n int) float64 {
	e := newFanOutEnv(b)
	ctx := b.Context()
	id, err := e.svc.Create(ctx, "admin", List{Address: "news@example-party.org", Name: "News", Moderators: []string{"anna@example-party.org"}})
	if err != nil {
		b.Fatal(err)
	}
	err = e.env.DB.Tx(ctx, func(tx *sql.Tx) error {
		for i := range n {
			if err := upsertActive(ctx, tx, id, fmt.Sprintf("s%d@d%d.example", i, i%20), SourceImport, "bench", 1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "anna@example-party.org", Login: "anna@example-party.org", Msg: post("Anna <anna@example-party.org>", "News")}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	sent := 0
	for sent < n {
		k, err := e.svc.SendPending(ctx)
		if err != nil || k == 0 {
			b.Fatalf("after %d copies: %d, %v", sent, k, err)
		}
		sent += k
	}
	return float64(n) / time.Since(start).Seconds()
}

// fanOutOneCopy queues one signed copy for each of n recipients, eight
// at a time as SendPending does.
func fanOutOneCopy(b *testing.B, n int) float64 {
	e := newFanOutEnv(b)
	ctx := b.Context()
	msg, err := e.submit.Sign(ctx, post("Anna <anna@example-party.org>", "News"))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	for range senders {
		wg.Go(func() {
			for i := range next {
				rcpt := []string{fmt.Sprintf("s%d@d%d.example", i, i%20)}
				if _, err := e.queue.EnqueueBulk(ctx, "news+owner@example-party.org", rcpt, bytes.NewReader(msg)); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}
