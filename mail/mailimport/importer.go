// Package mailimport copies a member's mail into caucus from another
// provider: any IMAP server (RFC 9051, with Gmail's X-GM-EXT-1 labels
// when the server offers them), mbox files (RFC 4155, Google Takeout's
// with X-Gmail-Labels) and Maildir trees. It also reads whole Google
// Takeout archives (ZIP, tar, gzipped tar; see takeout.go): their mail
// as mbox, their Drive into the member's files through a [FileSink], and
// their calendars (RFC 5545) and contacts (RFC 6350), kept until a
// [CalendarSink] or [ContactsSink] takes them.
//
// An import is a durable job per member ([Importer.Start]), run by
// [Importer.Run]: it survives a restart and resumes where it stopped,
// and never copies a message twice, because the row that says a source
// message was dealt with is written in the same transaction as the
// message ([store.Store.Import]). Messages are identified by the source's
// UIDVALIDITY and UID (Gmail's X-GM-MSGID, an mbox offset, a Maildir
// name) and, across those, by their content hash (which covers the
// Message-ID) per destination folder. A job throttles its reads from an
// IMAP server, waits and continues later when Gmail refuses for
// bandwidth, and stops before the member's quota would be exceeded.
// Progress is readable while it runs ([Importer.Progress]) and a report
// says afterwards what was copied and what was not, and why
// ([Importer.Report]). The source's credentials are sealed with a key
// derived from the server key and erased when the job ends; they never
// reach a log.
package mailimport

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/mail/store"
)

// Job states.
const (
	StateQueued    = "queued"    // waiting for its turn, or to resume after a restart
	StateRunning   = "running"   // copying
	StateWaiting   = "waiting"   // the source refused for now; continues at NotBefore
	StateDone      = "done"      // every message dealt with
	StateFailed    = "failed"    // stopped for good; Message says why
	StateCancelled = "cancelled" // stopped by a person
)

// Item statuses in the report.
const (
	statusCopied    = "copied"
	statusDuplicate = "duplicate"
	statusFailed    = "failed"
)

// Store is what the importer needs of the message store
// (*store.Store has it).
type Store interface {
	EnsureAccount(ctx context.Context, accountID int64) error
	CreateMailbox(ctx context.Context, accountID int64, name string) error
	Usage(ctx context.Context, accountID int64) (used, quota int64, err error)
	ImportBatch(ctx context.Context, accountID int64, msgs []store.ImportMessage) ([]store.Imported, error)
}

// Auditor records who started, cancelled and finished which job
// (*audit.Log has it).
type Auditor interface {
	Record(ctx context.Context, e audit.Event) error
}

// Options configure an Importer.
type Options struct {
	DB    *db.DB // migrated with [Component]
	Store Store
	// Key seals the sources' credentials: 32 bytes, derived from the
	// server key (keys.Derive("mailimport")).
	Key   []byte
	Audit Auditor
	Log   *slog.Logger
	Now   func() time.Time

	// Jobs is how many jobs run at once; default 2.
	Jobs int
	// Workers is how many batches of messages of one job are written at
	// once (the store's group commit shares their commits); default 8.
	Workers int
	// Rate bounds the bytes per second read from an IMAP source; default
	// 10 MB/s, negative for none.
	Rate int64
	// Backoff is the first wait after a source refused for bandwidth,
	// doubled at each refusal up to a day; default an hour.
	Backoff time.Duration
	// MaxAttempts is how many times a job that failed to reach its
	// source is tried again before it fails; default 8.
	MaxAttempts int
	// MaxMessageSize is the store's limit; larger messages are reported.
	// Default 64 MiB.
	MaxMessageSize int64

	// TLS and Dial are for tests: the IMAP client's TLS configuration
	// (its roots) and dialer.
	TLS  *tls.Config
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// PublicDial connects to the IMAP server of a job a member started
	// (SourceSpec.Public): it refuses loopback, private, link-local and
	// the server's own addresses (mail/mailimport/importweb's Dialer).
	// Without it such jobs fail.
	PublicDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// OpenSource, if set, replaces the opening of sources (tests).
	OpenSource func(ctx context.Context, spec SourceSpec) (Source, error)

	// Kept holds the calendars and contacts of Google Takeout archives
	// until a calendar or contacts store takes them (a blob directory of
	// the importer's own); nil: they are reported as not imported.
	Kept blob.Store
	// Sinks are the stores for Takeout's Drive files, calendars and
	// contacts; see also [Importer.SetSinks].
	Sinks Sinks
}

// Importer runs import jobs. Its methods are safe for concurrent use.
type Importer struct {
	opts Options
	log  *slog.Logger
	wake chan struct{}

	// readers are the buffers through which the workers hand bodies
	// to the store, kept for the next batch.
	readers sync.Pool

	mu      sync.Mutex
	sinks   Sinks
	running map[int64]*run // jobs being run, by id
	changed chan struct{}  // closed when a job starts or stops
}

// New returns an importer. Call [Importer.Run] to run its jobs.
func New(opts Options) (*Importer, error) {
	if opts.DB == nil || opts.Store == nil || opts.Audit == nil {
		return nil, errors.New("mailimport: DB, Store and Audit are required")
	}
	if _, err := newAEAD(opts.Key); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Jobs <= 0 {
		opts.Jobs = 2
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.Rate == 0 {
		opts.Rate = 10 << 20
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Hour
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 64 << 20
	}
	return &Importer{opts: opts, log: opts.Log, wake: make(chan struct{}, 1), sinks: opts.Sinks, running: map[int64]*run{}, changed: make(chan struct{})}, nil
}

// Request asks for a job.
type Request struct {
	AccountID int64
	Actor     string // login of who starts it (an admin, or the member)
	Subject   string // login of the member whose mail it is
	Source    SourceSpec
	Addr      string // the actor's address, for the audit log
}

// Start records a new job and wakes [Importer.Run]. The credentials are
// sealed before they are stored; the audit log says who started what.
func (im *Importer) Start(ctx context.Context, req Request) (int64, error) {
	desc, err := describe(req.Source)
	if err != nil {
		return 0, err
	}
	sealed, err := seal(im.opts.Key, req.AccountID, req.Source)
	if err != nil {
		return 0, err
	}
	var id int64
	err = im.opts.DB.Tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO mailimport_jobs (account_id, kind, source, login, sealed, started_by, state, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, req.AccountID, req.Source.Kind, desc, req.Source.Login, sealed,
			req.Actor, StateQueued, im.opts.Now().Unix()).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("mailimport: start: %w", err)
	}
	im.audit(ctx, audit.Event{Actor: req.Actor, Subject: req.Subject, Kind: "mailimport.start", Addr: req.Addr,
		Detail: fmt.Sprintf("job %d: %s from %s, login %q", id, req.Source.Kind, desc, req.Source.Login)})
	im.poke()
	return id, nil
}

// describe checks spec and returns what the job shows as its source
// (never the password).
func describe(spec SourceSpec) (string, error) {
	switch spec.Kind {
	case KindIMAP:
		if _, _, err := net.SplitHostPort(spec.Addr); err != nil || spec.Login == "" {
			return "", fmt.Errorf("%w: an IMAP source needs host:port and a login", ErrBadSource)
		}
		if spec.Security != "" && spec.Security != TLSImplicit && spec.Security != TLSStart {
			return "", fmt.Errorf("%w: security %q (tls or starttls)", ErrBadSource, spec.Security)
		}
		return spec.Addr, nil
	case KindMbox, KindMaildir, KindTakeout:
		if len(spec.Paths) == 0 || spec.Kind == KindMaildir && len(spec.Paths) != 1 {
			return "", fmt.Errorf("%w: %s needs a path", ErrBadSource, spec.Kind)
		}
		if spec.Kind == KindTakeout {
			for _, p := range spec.Paths {
				// Said at once to whoever starts the job, not in its report.
				if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
					return "", fmt.Errorf("%w: %s is not an archive file the server can read", ErrBadSource, p)
				}
			}
		}
		return fmt.Sprint(spec.Paths), nil
	}
	return "", fmt.Errorf("%w: kind %q", ErrBadSource, spec.Kind)
}

// audit records e; a failure is logged, not returned (the job goes on).
func (im *Importer) audit(ctx context.Context, e audit.Event) {
	if err := im.opts.Audit.Record(ctx, e); err != nil {
		im.log.Error("mailimport: audit record", "kind", e.Kind, "err", err)
	}
}

// poke wakes Run.
func (im *Importer) poke() {
	select {
	case im.wake <- struct{}{}:
	default:
	}
}

// Cancel stops a job for good and erases its credentials.
func (im *Importer) Cancel(ctx context.Context, jobID int64, actor string) error {
	var acct int64
	var state string
	err := im.opts.DB.QueryRowContext(ctx, `SELECT account_id, state FROM mailimport_jobs WHERE id = ?`, jobID).Scan(&acct, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNoJob
	}
	if err != nil {
		return fmt.Errorf("mailimport: cancel: %w", err)
	}
	if state == StateDone || state == StateFailed || state == StateCancelled {
		return ErrFinished
	}
	im.mu.Lock()
	if r := im.running[jobID]; r != nil {
		r.cancel(errCancelled)
	}
	im.mu.Unlock()
	if err := im.finish(ctx, jobID, StateCancelled, "cancelled by "+actor); err != nil {
		return err
	}
	im.audit(ctx, audit.Event{Actor: actor, Kind: "mailimport.cancel", Detail: fmt.Sprintf("job %d", jobID)})
	return nil
}

// errCancelled is the cause of a job's context when a person cancelled it.
var errCancelled = errors.New("mailimport: cancelled")

// finish ends a job: its state, its message, and its credentials erased.
func (im *Importer) finish(ctx context.Context, jobID int64, state, msg string) error {
	ctx = context.WithoutCancel(ctx)
	err := im.opts.DB.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mailimport_jobs SET state = ?, message = ?, sealed = NULL, finished_at = ? WHERE id = ?`,
			state, msg, im.opts.Now().Unix(), jobID)
		return err
	})
	if err != nil {
		return fmt.Errorf("mailimport: ending job %d: %w", jobID, err)
	}
	im.mu.Lock()
	if r := im.running[jobID]; r != nil {
		r.progress.set(func(p *Progress) { p.State, p.Message = state, msg })
	}
	im.notify()
	im.mu.Unlock()
	return nil
}

// Run runs due jobs, at most Options.Jobs at a time, until ctx ends; then
// it waits for them to stop. Jobs that were running when caucus stopped
// are resumed.
func (im *Importer) Run(ctx context.Context) {
	if _, err := im.opts.DB.ExecContext(ctx, `UPDATE mailimport_jobs SET state = ? WHERE state = ?`, StateQueued, StateRunning); err != nil && ctx.Err() == nil {
		im.log.Error("mailimport: resuming jobs", "err", err)
	}
	if _, err := im.DeliverKept(ctx); err != nil && ctx.Err() == nil {
		im.log.Error("mailimport: handing over kept calendars and contacts", "err", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		next := im.startDue(ctx, &wg)
		wait := time.Minute
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(im.opts.Now()), time.Second))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-im.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// startDue starts the jobs that are due, up to the limit, and returns
// when the next waiting job is due (zero if none).
func (im *Importer) startDue(ctx context.Context, wg *sync.WaitGroup) time.Time {
	rows, err := im.opts.DB.QueryContext(ctx, `SELECT id, account_id, not_before FROM mailimport_jobs WHERE state IN (?, ?) ORDER BY id`, StateQueued, StateWaiting)
	if err != nil {
		if ctx.Err() == nil {
			im.log.Error("mailimport: listing jobs", "err", err)
		}
		return time.Time{}
	}
	type due struct{ id, acct int64 }
	var start []due
	var next time.Time
	now := im.opts.Now().Unix()
	for rows.Next() {
		var d due
		var nb int64
		if err := rows.Scan(&d.id, &d.acct, &nb); err != nil {
			break
		}
		if nb > now {
			if t := time.Unix(nb, 0); next.IsZero() || t.Before(next) {
				next = t
			}
			continue
		}
		start = append(start, d)
	}
	rows.Close()
	for _, d := range start {
		im.mu.Lock()
		if len(im.running) >= im.opts.Jobs || im.running[d.id] != nil {
			im.mu.Unlock()
			continue
		}
		rctx, cancel := context.WithCancelCause(ctx)
		r := &run{id: d.id, account: d.acct, cancel: cancel, progress: newProgressBox(d.id, d.acct)}
		im.running[d.id] = r
		im.notify()
		im.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel(nil)
			im.runJob(rctx, r)
			im.forget(r)
			im.poke()
		}()
	}
	return next
}

// forget forgets the run r, which has ended, and wakes those waiting for
// a job to start or stop, and those waiting on r's own progress: its
// last change came before it left the running jobs, so a waiter that
// read it then would otherwise wait on a channel nothing closes. Woken,
// they ask Progress again, which reads the job from the database.
func (im *Importer) forget(r *run) {
	im.mu.Lock()
	delete(im.running, r.id)
	im.notify()
	im.mu.Unlock()
	r.progress.set(func(*Progress) {})
}
