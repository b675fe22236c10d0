package mailimport

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/mail/imapserver"
	"github.com/caucus-org/caucus/mail/store"
)

// TestCaucusToCaucus moves a member's mailbox from one caucus to
// another over IMAP (the source's IMAP server, its app password): the
// copy equals the original, message for message.
func TestCaucusToCaucus(t *testing.T) {
	t.Parallel()
	src, addr, tc, login, secret := sourceCaucus(t)
	acct, err := src.auth.AccountByLogin(context.Background(), login)
	if err != nil {
		t.Fatal(err)
	}
	seedCaucus(t, src.store, acct.ID)
	e := newEnv(t, func(o *Options) { o.TLS = tc })
	e.start()
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{
		Kind: KindIMAP, Addr: addr, Login: login, Password: Secret(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	if rep.Job.State != StateDone || rep.Failed != 0 {
		t.Fatalf("report: %+v", rep)
	}
	compare(t, e.contents(1), storeContents(t, src.store, acct.ID))
}

// sourceCaucus is a caucus (auth, store, IMAP server on 127.0.0.1 with
// implicit TLS) with one member who has an app password.
func sourceCaucus(t *testing.T) (h struct {
	auth  *auth.Service
	store *store.Store
}, addr string, tc *tls.Config, login, secret string) {
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	d := openDB(t, dir, log)
	if err := d.Migrate(ctx, audit.Component(), auth.Component(), store.Component()); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.LoadKeys(filepath.Join(dir, "auth.key"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := devcert.Ensure(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.auth, err = auth.New(auth.Config{RPID: "caucus.test", Origins: []string{"https://caucus.test"}},
		auth.Deps{DB: d, Audit: audit.New(d, time.Now, log), Log: log, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	h.store = store.New(d, blobs, log, store.Options{})
	srv := imapserver.New(imapserver.Config{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}, h.store, h.auth, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln)
	t.Cleanup(func() { ln.Close() })
	login, secret = member(t, h.auth, "anna@caucus.test")
	return h, ln.Addr().String(), &tls.Config{RootCAs: devcert.Pool(cert), ServerName: "localhost"}, login, secret
}

// member enrols a member (password, TOTP, recovery codes) and gives
// them an app password for mail.
func member(t *testing.T, a *auth.Service, login string) (string, string) {
	ctx := context.Background()
	tok, err := a.CreateInvite(ctx, "", auth.NewAccount{Login: login, DisplayName: "Anna", Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sessTok, err := a.AcceptInvite(ctx, tok, "correct horse battery staple 42", auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := a.Session(ctx, sessTok)
	if err != nil {
		t.Fatal(err)
	}
	key, err := a.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = a.Session(ctx, sessTok); err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(key.Secret(), time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	full, err := a.FinishTOTP(ctx, sess, code, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = a.Session(ctx, full); err != nil {
		t.Fatal(err)
	}
	if _, err := a.NewRecoveryCodes(ctx, sess, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	secret, _, err := a.CreateAppPassword(ctx, sess, "import", auth.ScopeMail, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return sess.Account.Login, secret
}

// seedCaucus puts 120 messages in nested and special-use folders with
// flags and keywords.
func seedCaucus(t *testing.T, st *store.Store, acct int64) {
	ctx := context.Background()
	if err := st.EnsureAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	folders := []string{"INBOX", "Sent", "Drafts", "Archive", "Vorstand/Protokolle", "Vorstand/Protokolle/2025", "Caf\u00e9"}
	for _, f := range folders[4:] {
		if err := st.CreateMailbox(ctx, acct, f); err != nil && !strings.Contains(err.Error(), "exists") {
			t.Fatal(err)
		}
	}
	flagSets := [][]imap.Flag{{imap.FlagSeen}, {imap.FlagSeen, imap.FlagAnswered}, {}, {imap.FlagFlagged, "$Label1"}, {imap.FlagSeen, "Wichtig", "$Forwarded"}}
	for i := range 120 {
		date := time.Date(2025, 2, 3, 4, 5, 6, 0, time.FixedZone("", 7200)).Add(time.Duration(i) * time.Hour)
		_, _, err := st.Append(ctx, acct, folders[i%len(folders)], bytes.NewReader(testMessage(5000+i, 1500, "")), flagSets[i%len(flagSets)], date)
		if err != nil {
			t.Fatal(err)
		}
	}
}

// storeContents lists every message of an account of st, as
// env.contents does.
func storeContents(t *testing.T, st *store.Store, acct int64) []stored {
	ctx := context.Background()
	mbs, err := st.Mailboxes(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for _, mb := range mbs {
		uids, err := st.UIDs(ctx, mb.ID)
		if err != nil || len(uids) == 0 {
			continue
		}
		msgs, err := st.Messages(ctx, mb.ID, uids)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			out = append(out, stored{Folder: mb.Name, Hash: string(m.Blob), Flags: flagString(m.Flags), Date: m.InternalDate.Unix()})
		}
	}
	slices.SortFunc(out, func(a, b stored) int {
		return strings.Compare(a.Folder+a.Hash+a.Flags, b.Folder+b.Hash+b.Flags)
	})
	if len(out) != 120 {
		t.Fatalf("source holds %d messages, want 120 (%v)", len(out), fmt.Sprint(byFolder(out)))
	}
	return out
}
