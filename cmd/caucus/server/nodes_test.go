package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
	"github.com/caucus-org/caucus/internal/testtool/s3test"
	"github.com/caucus-org/caucus/mail/store"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// startNode starts a --dev node on ip (127.0.0.x) with storage.
func startNode(t *testing.T, dir, ip string, storage config.Storage) *Server {
	t.Helper()
	cfg := config.Dev(dir)
	cfg.Storage = storage
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Listen = FreeListen(cfg.Listen)
	for _, a := range []*string{&cfg.Listen.HTTPS, &cfg.Listen.HTTP, &cfg.Listen.IMAPS, &cfg.Listen.IMAP, &cfg.Listen.SMTP, &cfg.Listen.Submission, &cfg.Listen.Submissions, &cfg.Listen.Metrics} {
		if *a != "" {
			*a = ip + ":0"
		}
	}
	var out bytes.Buffer
	srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil)).With("node", ip), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown of %s: %v", ip, err)
		}
	})
	return srv
}

// copyKeys gives node B node A's keys (data_dir/keys): every node of a
// party holds the same server key and blob key, as the README says.
func copyKeys(t *testing.T, from, to string) {
	t.Helper()
	src := filepath.Join(from, "keys")
	dst := filepath.Join(to, "keys")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// nodeTLS trusts node dir's dev certificate, which names localhost.
func nodeTLS(t *testing.T, dir string) *tls.Config {
	c := devTLS(t, dir).Clone()
	c.ServerName = "localhost"
	return c
}

// nodeDAV runs one WebDAV request on the node at its bound address.
func nodeDAV(t *testing.T, srv *Server, dir, method, path, login, secret string, body []byte, want int) []byte {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: nodeTLS(t, dir)}, Timeout: time.Minute}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), method, "https://"+srv.addrs["https"]+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "localhost"
	req.SetBasicAuth(login, secret)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != want {
		t.Fatalf("%s %s on %s: %s, %v; want %d", method, path, srv.addrs["https"], res.Status, err, want)
	}
	return b
}

// pgS3Storage starts a PostgreSQL cluster with o (o.Durable: fsync and
// synchronous_commit on, as in production) and an S3 gateway for the
// test, and returns the [storage] that puts a node on them.
func pgS3Storage(tb testing.TB, o pgtest.Options) config.Storage {
	tb.Helper()
	pg := pgtest.Start(tb, o)
	dsn := pg.CreateDatabase(tb, "party")
	s3srv := s3test.Start(tb)
	secretFile := filepath.Join(tb.TempDir(), "s3-secret")
	if err := os.WriteFile(secretFile, []byte(s3srv.SecretKey), 0o600); err != nil {
		tb.Fatal(err)
	}
	return config.Storage{Database: "postgres", Postgres: config.Postgres{DSN: dsn},
		Blobs: "s3", S3: config.S3{Endpoint: s3srv.Endpoint, Bucket: s3srv.Bucket(tb), Prefix: "caucus/",
			AccessKey: s3srv.AccessKey, SecretFile: secretFile, InsecureHTTP: true}}
}

// TestTwoNodes runs two caucus nodes, on 127.0.0.1 and 127.0.0.2, on one
// PostgreSQL database and one S3 store, as a party on several machines
// does: mail submitted through node A reaches an IDLE session on node B;
// a file put through A is read through B; suspending the account on A
// closes its IMAP connection on B; the account made on A signs in on B.
// The waits are deadlines for failure (30 s); the latencies are logged.
func TestTwoNodes(t *testing.T) {
	t.Parallel()
	storage := pgS3Storage(t, pgtest.Options{})
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startNode(t, dirA, "127.0.0.1", storage)
	copyKeys(t, dirA, dirB)
	b := startNode(t, dirB, "127.0.0.2", storage)

	// The account is made through node A; its phone signs in on node B.
	anna := newMailAccount(t, a, "anna@localhost")
	exists := make(chan uint32, 16)
	phone, err := imapclient.DialTLS(b.addrs["imaps"], &imapclient.Options{TLSConfig: nodeTLS(t, dirB),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	if err := phone.Login(anna.login, anna.secret).Wait(); err != nil {
		t.Fatalf("IMAP login on node B with an app password made on node A: %v", err)
	}
	sel, err := phone.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	idle, err := phone.Idle()
	if err != nil {
		t.Fatal(err)
	}

	// Mail submitted through node A.
	sub, err := gosmtp.DialStartTLS(a.addrs["submission"], nodeTLS(t, dirA))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Auth(sasl.NewPlainClient("", anna.login, anna.secret)); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	msg := "From: anna@localhost\r\nTo: anna@localhost\r\nSubject: polling stations\r\n\r\nThe list for Sunday.\r\n"
	if err := sub.SendMail(anna.login, []string{anna.login}, strings.NewReader(msg)); err != nil {
		t.Fatalf("submission on node A: %v", err)
	}
	// Other mail may come meanwhile (a notice of the new app password):
	// each new message ends the IDLE, and the message is looked for by
	// its subject until it is there.
	deadline := time.After(30 * time.Second)
	for seen := sel.NumMessages; ; {
		select {
		case n := <-exists:
			if n <= seen {
				continue
			}
			seen = n
		case <-deadline:
			t.Fatal("the IDLE session on node B never heard of the message delivered through node A")
		}
		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := phone.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(msgs, func(m *imapclient.FetchMessageBuffer) bool { return m.Envelope.Subject == "polling stations" }) {
			t.Logf("delivery through node A seen by IDLE on node B after %v", time.Since(sent).Round(time.Millisecond))
			break
		}
		if idle, err = phone.Idle(); err != nil {
			t.Fatal(err)
		}
	}

	// A file put through node A is read through node B.
	volSecret := newFilesAccount(t, a, "vol@localhost")
	file := bytes.Repeat([]byte("Turnout by ward, 7 a.m.\n"), 5000)
	nodeDAV(t, a, dirA, "PUT", "/dav/Home/turnout.txt", "vol@localhost", volSecret, file, http.StatusCreated)
	if got := nodeDAV(t, b, dirB, "GET", "/dav/Home/turnout.txt", "vol@localhost", volSecret, nil, http.StatusOK); !bytes.Equal(got, file) {
		t.Fatalf("GET through node B: %d bytes, want %d", len(got), len(file))
	}

	// Suspending anna on node A closes her IMAP connection on node B.
	suspended := time.Now()
	if _, err := a.ops.Suspend(t.Context(), admin.Actor{Login: "admin@localhost"}, anna.id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-phone.Closed():
	case <-time.After(30 * time.Second):
		t.Fatal("node B kept the IMAP connection of an account suspended on node A")
	}
	t.Logf("suspension on node A closed the IMAP connection on node B after %v", time.Since(suspended).Round(time.Millisecond))
	again, err := imapclient.DialTLS(b.addrs["imaps"], &imapclient.Options{TLSConfig: nodeTLS(t, dirB)})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := again.Login(anna.login, anna.secret).Wait(); err == nil {
		t.Fatal("a suspended account signed in on node B")
	}
}

// TestNodeServesOnceListening checks that a node serves only once it
// hears the other nodes: a change published through node A as soon as
// node B's start has returned reaches B's subscribers. B used to start
// its listeners beside its accept loops, so what A published before B's
// listener had its connection (a delivery to a phone that had just
// reconnected to B and gone IDLE, a suspension) never reached B's
// sessions: TestTwoNodes's IDLE on B heard nothing for 30 s in a
// clean-clone CI run.
func TestNodeServesOnceListening(t *testing.T) {
	t.Parallel()
	storage := pgS3Storage(t, pgtest.Options{})
	dirA := t.TempDir()
	a := startNode(t, dirA, "127.0.0.1", storage)
	for round := range 3 { // a node each round, started while A runs
		dir := t.TempDir()
		copyKeys(t, dirA, dir)
		b := startNode(t, dir, "127.0.0.2", storage)
		account := int64(900000 + round)
		heard := make(chan struct{}, 1)
		unsubscribe := b.changes.Subscribe(func(c store.Change) {
			if c.AccountID == account {
				select {
				case heard <- struct{}{}:
				default:
				}
			}
		})
		a.changes.Publish(store.Change{Kind: store.ChangeMailboxes, AccountID: account})
		select {
		case <-heard:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: node B, serving, never heard a change node A published as B's start returned", round)
		}
		unsubscribe()
	}
}
