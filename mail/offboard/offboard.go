// Package offboard is the mail side of offboarding someone who leaves the
// party: their address forwarded to a successor and/or answered with an
// auto-reply (mail/route, mail/autoreply), their mailbox kept for a
// retention period and then deleted, optionally exported as an mbox file
// first, and read access for the successor during that period.
//
// Successor access is a copy, made at offboarding, of every mailbox of the
// departed account into the successor's own mailbox list, under
// "Offboarded/<login>/" (INBOX becomes "Offboarded/<login>/INBOX"), and
// subscribed, so that any IMAP client shows it. Bodies are shared with the
// originals (the store deduplicates them), but the messages count against
// the successor's quota; a successor over quota gets no partial copy.
// A copy was chosen over a folder that shows the other account's mailbox
// live: it works with every client, it leaves the departed account's
// mailboxes out of the successor's IMAP session (which shows live only the
// party's role mailboxes, in its shared namespace, by grant: see
// mail/store's shared.go), and the original stays untouched as the
// record: what the successor does to the copy changes nothing there. Mail
// that arrives later goes where routing sends it (usually the successor's
// INBOX through forwarding), not into the copy. When the retention period
// ends, the copy is deleted together with the original.
//
// The audit log gets one record per step, with the admin as actor.
package offboard

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/fsutil"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
)

// DefaultRetention is how long a departed account's mailbox is kept when
// the admin does not say.
const DefaultRetention = 90 * 24 * time.Hour

// FolderRoot is the parent of the copies successors get.
const FolderRoot = "Offboarded"

// copyBatch bounds the messages one copy transaction takes.
const copyBatch = 500

// Errors.
var (
	// ErrNotOffboarded refuses retention for an account that has not left:
	// its mailbox would be deleted under a working person.
	ErrNotOffboarded = errors.New("offboard: account is not offboarded")
	// ErrBadSuccessor refuses a successor that is the account itself or
	// is not an active account.
	ErrBadSuccessor = errors.New("offboard: successor must be another active account")
)

// Component returns the retention table's migrations. Times are Unix
// seconds.
func Component() db.Component {
	return db.Component{Name: "offboard", Migrations: []db.Migration{{Version: 1, Postgres: schemaPostgres, SQL: `
CREATE TABLE mail_retention (
	account_id   INTEGER PRIMARY KEY,
	login        TEXT NOT NULL,
	until        INTEGER NOT NULL,
	export       INTEGER NOT NULL,
	successor_id INTEGER NOT NULL DEFAULT 0, -- 0: none
	folder       TEXT NOT NULL DEFAULT '',   -- the successor's copy
	created_at   INTEGER NOT NULL
);
CREATE INDEX mail_retention_until ON mail_retention(until);
`}}}
}

// schemaPostgres is the schema on PostgreSQL.
const schemaPostgres = `
CREATE TABLE mail_retention (
	account_id   BIGINT PRIMARY KEY,
	login        TEXT NOT NULL,
	until        BIGINT NOT NULL,
	export       BIGINT NOT NULL,
	successor_id BIGINT NOT NULL DEFAULT 0, -- 0: none
	folder       TEXT NOT NULL DEFAULT '',   -- the successor's copy
	created_at   BIGINT NOT NULL
);
CREATE INDEX mail_retention_until ON mail_retention(until);
`

// flag is b as the 0 or 1 an INTEGER flag column holds (PostgreSQL's
// driver does not turn a Go bool into an integer).
func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Config says where exports go.
type Config struct {
	ExportDir string           // mbox exports (DataDir/exports); created with mode 0700
	Now       func() time.Time // default time.Now
}

// Deps are the parts the service works with.
type Deps struct {
	DB    *db.DB
	Store *store.Store
	Auth  *auth.Service
	Dir   *route.Directory
	Log   *slog.Logger
}

// Service does the mail steps of offboarding. It is safe for concurrent
// use; call Run once.
type Service struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	audit *audit.Log
	batch int // messages per copy transaction (copyBatch; tests lower it)
}

// New builds the service.
func New(cfg Config, d Deps) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, deps: d, log: d.Log, audit: d.Auth.Audit(), batch: copyBatch}
}

// Forward sends the account's mail to target (usually the successor's
// address), without keeping a copy in the departed mailbox; "" stops it.
func (s *Service) Forward(ctx context.Context, actor string, accountID int64, target string) error {
	return s.deps.Dir.SetForwarding(ctx, actor, accountID, target, false)
}

// AutoReply answers mail to the account's addresses with text until the
// given time (zero: until the retention ends or it is removed); an empty
// text removes it.
func (s *Service) AutoReply(ctx context.Context, actor string, accountID int64, subject, text string, until time.Time) error {
	if text == "" {
		return s.deps.Dir.SetAutoReply(ctx, actor, accountID, nil)
	}
	return s.deps.Dir.SetAutoReply(ctx, actor, accountID, &route.AutoReply{Subject: subject, Body: text, Until: until})
}

// Retention is a departed account's mailbox waiting for deletion.
type Retention struct {
	AccountID   int64
	Login       string
	Until       time.Time
	Export      bool   // written as mbox to Config.ExportDir first
	SuccessorID int64  // 0: none
	Folder      string // the successor's copy, "" if none
}

// Retain keeps the offboarded account's mailbox until the given time (zero:
// DefaultRetention from now), then deletes it, after writing it as an mbox
// file when export is set. Calling it again changes the date and the export
// choice.
func (s *Service) Retain(ctx context.Context, actor string, accountID int64, until time.Time, export bool) error {
	acct, err := s.deps.Auth.Account(ctx, accountID)
	if err != nil {
		return err
	}
	if acct.State != auth.StateOffboarded {
		return fmt.Errorf("%w: %s", ErrNotOffboarded, acct.Login)
	}
	if until.IsZero() {
		until = s.cfg.Now().Add(DefaultRetention)
	}
	return s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO mail_retention (account_id, login, until, export, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET until = excluded.until, export = excluded.export`,
			accountID, acct.Login, until.Unix(), flag(export), s.cfg.Now().Unix())
		if err != nil {
			return fmt.Errorf("offboard: retain: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "mail.retention",
			Detail: fmt.Sprintf("until=%s export=%v", until.UTC().Format(time.RFC3339), export)})
	})
}

// Retention returns the account's retention, if it has one.
func (s *Service) Retention(ctx context.Context, accountID int64) (Retention, bool, error) {
	rs, err := s.retentions(ctx, `WHERE account_id = ?`, accountID)
	if err != nil || len(rs) == 0 {
		return Retention{}, false, err
	}
	return rs[0], true, nil
}

// Retentions lists the mailboxes waiting for deletion, soonest first.
func (s *Service) Retentions(ctx context.Context) ([]Retention, error) {
	return s.retentions(ctx, `ORDER BY until, account_id`)
}

func (s *Service) retentions(ctx context.Context, where string, args ...any) ([]Retention, error) {
	rows, err := s.deps.DB.QueryContext(ctx, `SELECT account_id, login, until, export, successor_id, folder FROM mail_retention `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("offboard: retentions: %w", err)
	}
	defer rows.Close()
	var out []Retention
	for rows.Next() {
		var r Retention
		var until int64
		if err := rows.Scan(&r.AccountID, &r.Login, &until, &r.Export, &r.SuccessorID, &r.Folder); err != nil {
			return nil, fmt.Errorf("offboard: retentions: %w", err)
		}
		r.Until = time.Unix(until, 0)
		out = append(out, r)
	}
	return out, rows.Err()
}

// GrantSuccessor copies every mailbox of the offboarded account into the
// successor's mailbox list under "Offboarded/<login>/" (see the package
// comment) and returns the folder and the number of messages copied. The
// account must have a retention (Retain first): the copy goes when it ends.
// Over the successor's quota nothing stays copied.
func (s *Service) GrantSuccessor(ctx context.Context, actor string, accountID, successorID int64) (folder string, copied int, err error) {
	ret, ok, err := s.Retention(ctx, accountID)
	if err != nil {
		return "", 0, err
	}
	if !ok {
		return "", 0, fmt.Errorf("%w: no retention set for account %d", ErrNotOffboarded, accountID)
	}
	succ, err := s.deps.Auth.Account(ctx, successorID)
	if err != nil {
		return "", 0, err
	}
	if successorID == accountID || succ.State != auth.StateActive {
		return "", 0, fmt.Errorf("%w: %s", ErrBadSuccessor, succ.Login)
	}
	folder = FolderRoot + string(store.Delimiter) + folderName(ret.Login, accountID)
	if ret.Folder != "" && ret.SuccessorID != 0 {
		// A new grant replaces the old one.
		if _, err := s.deps.Store.DeleteMailboxTree(ctx, ret.SuccessorID, ret.Folder); err != nil && !errors.Is(err, store.ErrNoMailbox) {
			return "", 0, err
		}
	}
	if _, err := s.deps.Store.DeleteMailboxTree(ctx, successorID, folder); err != nil && !errors.Is(err, store.ErrNoMailbox) {
		return "", 0, err
	}
	copied, err = s.copyAll(ctx, accountID, successorID, folder)
	if err != nil {
		if _, derr := s.deps.Store.DeleteMailboxTree(ctx, successorID, folder); derr != nil && !errors.Is(derr, store.ErrNoMailbox) {
			err = errors.Join(err, derr)
		}
		s.audit.Record(ctx, audit.Event{Actor: actor, Subject: ret.Login, Kind: "mail.successor", Outcome: audit.Fail,
			Detail: fmt.Sprintf("successor=%s err=%v", succ.Login, err)})
		return "", 0, err
	}
	err = s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE mail_retention SET successor_id = ?, folder = ? WHERE account_id = ?`, successorID, folder, accountID); err != nil {
			return fmt.Errorf("offboard: successor: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: ret.Login, Kind: "mail.successor",
			Detail: fmt.Sprintf("successor=%s folder=%q messages=%d", succ.Login, folder, copied)})
	})
	return folder, copied, err
}

// copyAll copies every mailbox of from into to below folder, subscribed.
func (s *Service) copyAll(ctx context.Context, from, to int64, folder string) (int, error) {
	mbs, err := s.deps.Store.Mailboxes(ctx, from)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, mb := range mbs {
		dest := folder + string(store.Delimiter) + mb.Name
		if err := s.deps.Store.CreateMailbox(ctx, to, dest); err != nil {
			return n, err
		}
		if err := s.deps.Store.SetSubscribed(ctx, to, dest, true); err != nil {
			return n, err
		}
		uids, err := s.deps.Store.UIDs(ctx, mb.ID)
		if err != nil {
			return n, err
		}
		for len(uids) > 0 {
			batch := uids[:min(len(uids), s.batch)]
			uids = uids[len(batch):]
			if _, _, _, err := s.deps.Store.CopyFromAccount(ctx, from, mb.ID, batch, to, dest); err != nil {
				return n, fmt.Errorf("offboard: copy %q: %w", mb.Name, err)
			}
			n += len(batch)
		}
	}
	return n, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9@._+-]`)

// folderName is the mailbox name of a login: the login itself where the
// store allows it.
func folderName(login string, id int64) string {
	name := unsafeName.ReplaceAllString(login, "_")
	if _, err := store.CanonicalName(name); err != nil || strings.EqualFold(name, "inbox") || name == "" {
		return fmt.Sprintf("account-%d", id)
	}
	return name
}

// Run deletes mailboxes whose retention ended, at start and hourly, until
// ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := s.ExpireDue(ctx); err != nil {
			s.log.Warn("mail retention", "err", err)
		} else if n > 0 {
			s.log.Info("mail retention", "deleted_accounts", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ExpireDue ends every retention that is due: export (if asked), the
// successor's copy deleted, the mailbox deleted, the auto-reply removed
// (the address then refuses mail unless it is forwarded). It returns how
// many accounts it finished; one that fails stays for the next run.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	due, err := s.retentions(ctx, `WHERE until <= ? ORDER BY until`, s.cfg.Now().Unix())
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, r := range due {
		if err := s.expire(ctx, r); err != nil {
			s.audit.Record(ctx, audit.Event{Subject: r.Login, Kind: "mail.retention.end", Outcome: audit.Fail, Detail: err.Error()})
			errs = append(errs, fmt.Errorf("offboard: %s: %w", r.Login, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func (s *Service) expire(ctx context.Context, r Retention) error {
	detail := []string{}
	if r.Export {
		path, err := s.export(ctx, r)
		if err != nil {
			return err
		}
		detail = append(detail, "export="+path)
	}
	if r.SuccessorID != 0 && r.Folder != "" {
		if _, err := s.deps.Store.DeleteMailboxTree(ctx, r.SuccessorID, r.Folder); err != nil && !errors.Is(err, store.ErrNoMailbox) {
			return err
		}
		detail = append(detail, fmt.Sprintf("successor_copy_deleted=%q", r.Folder))
	}
	if err := s.deps.Dir.SetAutoReply(ctx, "", r.AccountID, nil); err != nil {
		return err
	}
	mbs, err := s.deps.Store.DeleteAccount(ctx, r.AccountID)
	if err != nil {
		return err
	}
	detail = append(detail, fmt.Sprintf("mailboxes_deleted=%d", mbs))
	return s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM mail_retention WHERE account_id = ?`, r.AccountID); err != nil {
			return fmt.Errorf("offboard: retention: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Subject: r.Login, Kind: "mail.retention.end", Detail: strings.Join(detail, " ")})
	})
}

// export writes the account's mail to ExportDir/<login>-<date>.mbox,
// durably (temporary file, fsync, rename, directory fsync), mode 0600.
func (s *Service) export(ctx context.Context, r Retention) (path string, err error) {
	if s.cfg.ExportDir == "" {
		return "", errors.New("offboard: no export directory configured")
	}
	if err := os.MkdirAll(s.cfg.ExportDir, 0o700); err != nil {
		return "", fmt.Errorf("offboard: export: %w", err)
	}
	f, err := os.CreateTemp(s.cfg.ExportDir, ".export-*")
	if err != nil {
		return "", fmt.Errorf("offboard: export: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<16)
	if err := s.deps.Store.ExportMbox(ctx, r.AccountID, w); err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", fmt.Errorf("offboard: export: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("offboard: export: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("offboard: export: %w", err)
	}
	path = filepath.Join(s.cfg.ExportDir, fmt.Sprintf("%s-%s.mbox", folderName(r.Login, r.AccountID), s.cfg.Now().UTC().Format("20060102T150405Z")))
	if err := os.Rename(f.Name(), path); err != nil {
		return "", fmt.Errorf("offboard: export: %w", err)
	}
	if err := fsutil.SyncDir(s.cfg.ExportDir); err != nil {
		return "", fmt.Errorf("offboard: export: %w", err)
	}
	return path, nil
}
