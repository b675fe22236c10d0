package mailimport

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/mail/store"
)

// run is a job being run.
type run struct {
	id, account int64
	cancel      context.CancelCauseFunc
	progress    *progressBox
	kind        string
	names       *namer
}

// Errors that end a job.
var (
	// ErrQuota stops a job before the member's quota would be exceeded.
	ErrQuota = errors.New("mailimport: the member's mailbox is full")
	errLogin = errors.New("the source server refused the login")
	// errNotRunnable: the job ended (was cancelled) between being
	// picked and being started; nothing to record.
	errNotRunnable = errors.New("mailimport: job not runnable")
)

// runJob runs one job until it ends, waits, or ctx ends.
func (im *Importer) runJob(ctx context.Context, r *run) {
	spec, err := im.loadJob(ctx, r)
	if err == nil && spec.Kind == KindTakeout {
		err = im.copyTakeout(ctx, r, spec)
	} else if err == nil {
		err = im.copySource(ctx, r, spec)
	}
	im.endRun(ctx, r, err)
}

// endRun records how a run ended.
func (im *Importer) endRun(ctx context.Context, r *run, err error) {
	bg := context.WithoutCancel(ctx)
	switch {
	case err == nil:
		p, _ := r.progress.get()
		msg := fmt.Sprintf("%d messages copied, %d duplicates skipped, %d could not be imported", p.Copied, p.Duplicates, p.Failed)
		if r.kind == KindTakeout {
			msg += fmt.Sprintf("; %d Drive files, %d calendars and address books kept, %d archive entries not imported", p.Files, p.Kept, p.EntriesFailed)
		}
		if ferr := im.finish(bg, r.id, StateDone, msg); ferr != nil {
			im.log.Error("mailimport: ending job", "job", r.id, "err", ferr)
		}
		im.audit(bg, audit.Event{Kind: "mailimport.done", Detail: fmt.Sprintf("job %d: %s", r.id, msg)})
	case errors.Is(context.Cause(ctx), errCancelled), errors.Is(err, errNotRunnable):
		// Cancel has recorded it.
	case ctx.Err() != nil:
		// caucus is stopping: the job resumes at the next start.
		im.setState(bg, r, StateQueued, "", 0, false)
	case errors.Is(err, ErrThrottled):
		im.wait(bg, r, err, true)
	case errors.Is(err, ErrQuota), errors.Is(err, ErrFilesQuota), errors.Is(err, ErrBadSource), errors.Is(err, errSeal),
		errors.Is(err, ErrTLS), errors.Is(err, errLogin):
		im.failJob(bg, r, err)
	default:
		im.wait(bg, r, err, false)
	}
}

// failJob ends a job that cannot go on.
func (im *Importer) failJob(ctx context.Context, r *run, err error) {
	msg := sanitizeText(err.Error())
	im.log.Warn("mailimport: job failed", "job", r.id, "err", msg)
	if ferr := im.finish(ctx, r.id, StateFailed, msg); ferr != nil {
		im.log.Error("mailimport: ending job", "job", r.id, "err", ferr)
	}
	im.audit(ctx, audit.Event{Kind: "mailimport.done", Outcome: audit.Fail, Reason: "failed", Detail: fmt.Sprintf("job %d: %s", r.id, msg)})
}

// wait puts a job aside until later: after a bandwidth refusal
// (throttled), Options.Backoff doubling up to a day; after another error
// reaching the source, a minute doubling, at most Options.MaxAttempts
// times in a row.
func (im *Importer) wait(ctx context.Context, r *run, cause error, throttled bool) {
	var backoff, attempts int64
	err := im.opts.DB.QueryRowContext(ctx, `SELECT backoff, attempts FROM mailimport_jobs WHERE id = ?`, r.id).Scan(&backoff, &attempts)
	if err != nil {
		im.log.Error("mailimport: job state", "job", r.id, "err", err)
		return
	}
	first := int64(time.Minute / time.Second)
	if throttled {
		first = int64(im.opts.Backoff / time.Second)
	} else if attempts+1 >= int64(im.opts.MaxAttempts) {
		im.failJob(ctx, r, fmt.Errorf("gave up after %d attempts: %w", attempts+1, cause))
		return
	}
	next := max(first, min(2*backoff, int64(24*time.Hour/time.Second)))
	msg := sanitizeText(cause.Error())
	im.log.Info("mailimport: job waits", "job", r.id, "seconds", next, "err", msg)
	im.setState(ctx, r, StateWaiting, msg, next, !throttled)
}

// setState records a state that is not an end.
func (im *Importer) setState(ctx context.Context, r *run, state, msg string, wait int64, attempt bool) {
	inc := 0
	if attempt {
		inc = 1
	}
	notBefore := im.opts.Now().Unix() + wait
	_, err := im.opts.DB.ExecContext(ctx, `UPDATE mailimport_jobs SET state = ?, message = ?, not_before = ?, backoff = ?, attempts = attempts + ?
		WHERE id = ? AND state = ?`, state, msg, notBefore, wait, inc, r.id, StateRunning)
	if err != nil {
		im.log.Error("mailimport: job state", "job", r.id, "err", err)
	}
	r.progress.set(func(p *Progress) {
		p.State, p.Message = state, msg
		if wait > 0 {
			p.NotBefore = time.Unix(notBefore, 0)
		}
	})
}

// loadJob marks the job running, opens its sealed source description,
// and loads what earlier runs did.
func (im *Importer) loadJob(ctx context.Context, r *run) (SourceSpec, error) {
	var sealed []byte
	var state string
	err := im.opts.DB.QueryRowContext(ctx, `SELECT kind, sealed, state FROM mailimport_jobs WHERE id = ?`, r.id).Scan(&r.kind, &sealed, &state)
	if err != nil {
		return SourceSpec{}, fmt.Errorf("mailimport: loading job %d: %w", r.id, err)
	}
	res, err := im.opts.DB.ExecContext(ctx, `UPDATE mailimport_jobs SET state = ?, message = '' WHERE id = ? AND state IN (?, ?)`,
		StateRunning, r.id, StateQueued, StateWaiting)
	if err != nil {
		return SourceSpec{}, fmt.Errorf("mailimport: starting job %d: %w", r.id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return SourceSpec{}, fmt.Errorf("%w: job %d is %s", errNotRunnable, r.id, state)
	}
	spec, err := unseal(im.opts.Key, r.account, sealed)
	if err != nil {
		return spec, err
	}
	r.names = newNamer()
	rows, err := im.opts.DB.QueryContext(ctx, `SELECT key, dest FROM mailimport_folders WHERE job_id = ? AND dest != ''`, r.id)
	if err != nil {
		return spec, fmt.Errorf("mailimport: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, d string
		if err := rows.Scan(&k, &d); err != nil {
			return spec, fmt.Errorf("mailimport: %w", err)
		}
		r.names.add(k, d)
	}
	if err := rows.Err(); err != nil {
		return spec, fmt.Errorf("mailimport: %w", err)
	}
	counts, err := im.counts(ctx, r.id)
	if err != nil {
		return spec, err
	}
	entries, err := im.entryTotals(ctx, r.id)
	if err != nil {
		return spec, err
	}
	r.progress.set(func(p *Progress) {
		p.State = StateRunning
		p.Copied, p.Duplicates, p.Failed, p.Bytes = counts.copied, counts.duplicates, counts.failed, counts.bytes
		entries.setProgress(p)
	})
	return spec, nil
}

// itemCounts are a job's totals so far.
type itemCounts struct{ copied, duplicates, failed, bytes int64 }

// counts reads a job's totals from its items. It reads a row of every
// message the job dealt with (84,000 for a 5 GB mailbox), so it reads
// without the database's memory map ([db.DB.ReadUnmapped]): through it,
// those pages and their neighbours stayed resident, 103 MB of the peak
// RSS after a 5 GB import (issue 17).
func (im *Importer) counts(ctx context.Context, jobID int64) (c itemCounts, err error) {
	err = im.opts.DB.ReadUnmapped(ctx, func(conn *sql.Conn) error {
		c, err = countItems(ctx, conn, jobID)
		return err
	})
	return c, err
}

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have for queries.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// countItems is counts with q.
func countItems(ctx context.Context, q queryer, jobID int64) (itemCounts, error) {
	var c itemCounts
	rows, err := q.QueryContext(ctx, `SELECT status, count(*), coalesce(sum(size), 0) FROM mailimport_items WHERE job_id = ? GROUP BY status`, jobID)
	if err != nil {
		return c, fmt.Errorf("mailimport: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n, size int64
		if err := rows.Scan(&st, &n, &size); err != nil {
			return c, fmt.Errorf("mailimport: %w", err)
		}
		switch st {
		case statusCopied:
			c.copied, c.bytes = n, size
		case statusDuplicate:
			c.duplicates = n
		case statusFailed:
			c.failed = n
		}
	}
	return c, rows.Err()
}

// openSource opens the job's source.
func (im *Importer) openSource(ctx context.Context, spec SourceSpec) (Source, error) {
	if im.opts.OpenSource != nil {
		return im.opts.OpenSource(ctx, spec)
	}
	switch spec.Kind {
	case KindIMAP:
		dial := im.opts.Dial
		if spec.Public {
			if dial = im.opts.PublicDial; dial == nil {
				return nil, fmt.Errorf("%w: no dialer for a member's source", ErrBadSource)
			}
		}
		return DialIMAP(ctx, IMAPConfig{Addr: spec.Addr, Security: spec.Security, Login: spec.Login, Password: spec.Password,
			TLS: im.opts.TLS, Dial: dial, Rate: max(im.opts.Rate, 0), MaxSize: im.opts.MaxMessageSize, Log: im.log})
	case KindMbox:
		return OpenMbox(MboxConfig{Paths: spec.Paths, MboxO: spec.MboxO, MaxSize: im.opts.MaxMessageSize})
	case KindMaildir:
		return OpenMaildir(MaildirConfig{Path: spec.Paths[0], MaxSize: im.opts.MaxMessageSize})
	}
	return nil, fmt.Errorf("%w: kind %q", ErrBadSource, spec.Kind)
}

// copySource copies every folder of the job's source that is not done.
func (im *Importer) copySource(ctx context.Context, r *run, spec SourceSpec) error {
	if err := im.opts.Store.EnsureAccount(ctx, r.account); err != nil {
		return err
	}
	src, err := im.openSource(ctx, spec)
	if err != nil {
		return err
	}
	defer src.Close()
	folders, err := src.Folders(ctx)
	if err != nil {
		return err
	}
	done, err := im.doneFolders(ctx, r.id)
	if err != nil {
		return err
	}
	r.progress.set(func(p *Progress) {
		p.Folders, p.FoldersDone, p.TotalBytes = len(folders), 0, 0
		for _, f := range folders {
			if done[f.Name] {
				p.FoldersDone++
			}
			p.TotalBytes += max(f.Size, 0)
		}
	})
	for _, f := range folders {
		if done[f.Name] {
			continue
		}
		r.progress.set(func(p *Progress) { p.Current = f.Name })
		if !f.Labels {
			// Created even if empty: the member finds every folder.
			if _, err := im.destination(ctx, r, "folder:"+f.Name, folderDest(f)); err != nil {
				return err
			}
		}
		err := im.copyFolder(ctx, r, src, f)
		if errors.Is(err, errFolderGone) {
			err = im.recordFailed(ctx, r, task{folder: f.Name, item: Item{ID: "(folder)"}}, "", err.Error())
		}
		if err != nil {
			return err
		}
		if _, err := im.opts.DB.ExecContext(ctx, `INSERT INTO mailimport_folders (job_id, key, dest, done) VALUES (?, ?, '', 1)
			ON CONFLICT (job_id, key) DO UPDATE SET done = 1`, r.id, "folder:"+f.Name); err != nil {
			return fmt.Errorf("mailimport: %w", err)
		}
		r.progress.set(func(p *Progress) { p.FoldersDone++; p.Current = "" })
	}
	return nil
}

// doneFolders returns the source folders earlier runs finished.
func (im *Importer) doneFolders(ctx context.Context, jobID int64) (map[string]bool, error) {
	rows, err := im.opts.DB.QueryContext(ctx, `SELECT key FROM mailimport_folders WHERE job_id = ? AND done = 1`, jobID)
	if err != nil {
		return nil, fmt.Errorf("mailimport: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("mailimport: %w", err)
		}
		out[strings.TrimPrefix(k, "folder:")] = true
	}
	return out, rows.Err()
}

// doneIDs returns which of batch's source ids earlier runs dealt with.
// It asks per batch, so that memory does not grow with the mailbox.
func (im *Importer) doneIDs(ctx context.Context, jobID int64, folder string, batch []Item) (map[string]bool, error) {
	args := make([]any, 0, len(batch)+2)
	args = append(args, jobID, folder)
	for _, it := range batch {
		args = append(args, it.ID)
	}
	rows, err := im.opts.DB.QueryContext(ctx, `SELECT source_id FROM mailimport_items WHERE job_id = ? AND folder = ? AND source_id IN (?`+
		strings.Repeat(", ?", len(batch)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("mailimport: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("mailimport: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// copyFolder copies the messages of f that earlier runs did not deal
// with: listed and fetched by this goroutine, written by the workers.
func (im *Importer) copyFolder(ctx context.Context, r *run, src Source, f Folder) error {
	p := im.newPipeline(ctx, r)
	err := src.List(p.ctx, f, func(batch []Item) error {
		r.progress.set(func(pr *Progress) { pr.Listed += int64(len(batch)) })
		if len(batch) == 0 {
			return nil
		}
		done, err := im.doneIDs(p.ctx, r.id, f.Name, batch)
		if err != nil {
			return err
		}
		todo := make([]Item, 0, len(batch))
		for _, it := range batch {
			if !done[it.ID] {
				todo = append(todo, it)
				done[it.ID] = true // listed twice in one batch: once
			}
		}
		if len(todo) == 0 {
			return nil
		}
		return src.Fetch(p.ctx, f, todo, func(it Item, body Body) error {
			t, err := im.plan(p.ctx, r, f, it)
			if err != nil {
				if body != nil {
					body.Close()
				}
				return err
			}
			return p.submit(t, body)
		})
	})
	if perr := p.wait(); perr != nil {
		return perr
	}
	return err
}

// task is one message on its way to the store.
type task struct {
	folder string
	item   Item
	dests  []string
	flags  []imap.Flag
}

// plan decides where a message goes: the folders its labels name, or
// its folder's destination; the destination folders are created.
func (im *Importer) plan(ctx context.Context, r *run, f Folder, it Item) (task, error) {
	t := task{folder: f.Name, item: it}
	if it.Err != nil {
		return t, nil
	}
	flags := it.Flags
	type want struct{ key, name string }
	var wants []want
	if f.Labels && it.Labels != nil {
		dests, add, remove := labelPlan(it.Labels, r.kind == KindMbox || r.kind == KindTakeout)
		for _, d := range dests {
			wants = append(wants, want{"label:" + d, d})
		}
		flags = applyFlags(flags, add, remove)
	} else {
		wants = append(wants, want{"folder:" + f.Name, folderDest(f)})
	}
	for _, w := range wants {
		d, err := im.destination(ctx, r, w.key, w.name)
		if err != nil {
			return t, err
		}
		if !slices.Contains(t.dests, d) {
			t.dests = append(t.dests, d)
		}
	}
	t.flags = cleanFlags(flags)
	return t, nil
}

// folderDest is where a source folder's messages go: caucus's
// special-use folder for a special-use source folder, else its name.
func folderDest(f Folder) string {
	switch f.Attr {
	case AttrSent:
		return "Sent"
	case AttrDrafts:
		return "Drafts"
	case AttrJunk:
		return "Junk"
	case AttrTrash:
		return "Trash"
	case AttrArchive, AttrAll:
		return archiveFolder
	}
	return f.Name
}

// destination returns the mailbox for source key, creating it and
// recording the choice the first time.
func (im *Importer) destination(ctx context.Context, r *run, key, want string) (string, error) {
	dest, created, renamed := r.names.name(key, want)
	if !created {
		return dest, nil
	}
	if err := im.opts.Store.CreateMailbox(ctx, r.account, dest); err != nil && !errors.Is(err, store.ErrMailboxExists) {
		return "", fmt.Errorf("mailimport: creating folder: %w", err)
	}
	_, err := im.opts.DB.ExecContext(ctx, `INSERT INTO mailimport_folders (job_id, key, dest, renamed) VALUES (?, ?, ?, ?)
		ON CONFLICT (job_id, key) DO UPDATE SET dest = excluded.dest, renamed = excluded.renamed`, r.id, key, dest, flag(renamed))
	if err != nil {
		return "", fmt.Errorf("mailimport: %w", err)
	}
	return dest, nil
}

// applyFlags adds and removes flags.
func applyFlags(flags, add, remove []imap.Flag) []imap.Flag {
	out := append([]imap.Flag(nil), flags...)
	out = append(out, add...)
	return slices.DeleteFunc(out, func(f imap.Flag) bool {
		for _, r := range remove {
			if strings.EqualFold(string(f), string(r)) {
				return true
			}
		}
		return false
	})
}

// cleanFlags keeps what the store accepts: the system flags but
// \Recent, and keywords that are IMAP atoms, at most 64.
func cleanFlags(flags []imap.Flag) []imap.Flag {
	var out []imap.Flag
	kws := 0
	for _, f := range flags {
		s := string(f)
		if strings.HasPrefix(s, `\`) {
			switch strings.ToLower(s) {
			case `\seen`, `\answered`, `\flagged`, `\deleted`, `\draft`:
				out = append(out, f)
			}
			continue
		}
		if validKeyword(s) && kws < 64 {
			out = append(out, f)
			kws++
		}
	}
	return out
}

// validKeyword reports whether kw is an IMAP atom (RFC 9051 section 9,
// flag-keyword) of at most 100 bytes, as the store requires.
func validKeyword(kw string) bool {
	if kw == "" || len(kw) > 100 {
		return false
	}
	for i := 0; i < len(kw); i++ {
		c := kw[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// pipeline writes fetched messages to the store with several workers,
// each a batch of them at a time.
type pipeline struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	tasks  chan pending
	wg     sync.WaitGroup
	im     *Importer
	r      *run
}

// pending is a task with its body.
type pending struct {
	t    task
	body Body
}

const (
	// storeBatch is the most messages a worker hands the store at once
	// ([store.Store.ImportBatch]: their bodies made durable in one round,
	// their rows in one commit).
	storeBatch = 32
	// storeBatchBytes is about the most bytes of one batch, which wait
	// in memory (or spool files) until it is stored.
	storeBatchBytes = 1 << 20
	// queuedTasks is how many fetched messages wait for a worker.
	queuedTasks = storeBatch
)

// newPipeline starts the workers.
func (im *Importer) newPipeline(ctx context.Context, r *run) *pipeline {
	pctx, cancel := context.WithCancelCause(ctx)
	p := &pipeline{ctx: pctx, cancel: cancel, tasks: make(chan pending, queuedTasks), im: im, r: r}
	for range im.opts.Workers {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

// submit hands a message to a worker; an error if the pipeline stopped.
func (p *pipeline) submit(t task, body Body) error {
	select {
	case p.tasks <- pending{t, body}:
		return nil
	case <-p.ctx.Done():
		if body != nil {
			body.Close()
		}
		return context.Cause(p.ctx)
	}
}

// wait lets the workers finish and returns the error that stopped
// them, if any.
func (p *pipeline) wait() error {
	close(p.tasks)
	p.wg.Wait()
	err := context.Cause(p.ctx)
	p.cancel(nil)
	return err
}

// work stores batches of messages until the tasks end or one fails badly.
func (p *pipeline) work() {
	defer p.wg.Done()
	for {
		batch, more := p.next()
		if len(batch) > 0 {
			var err error
			if p.ctx.Err() == nil {
				err = p.im.storeMessages(p.ctx, p.r, batch)
			}
			for _, pd := range batch {
				if pd.body != nil {
					pd.body.Close()
				}
			}
			if err != nil {
				p.cancel(err)
			}
		}
		if !more {
			return
		}
	}
}

// next waits for a task and takes those queued behind it, up to
// storeBatch tasks and about storeBatchBytes; false once the tasks end.
func (p *pipeline) next() (batch []pending, more bool) {
	pd, ok := <-p.tasks
	if !ok {
		return nil, false
	}
	batch = append(batch, pd)
	size := max(pd.t.item.Size, 0)
	for len(batch) < storeBatch && size < storeBatchBytes {
		select {
		case pd, ok := <-p.tasks:
			if !ok {
				return batch, false
			}
			batch = append(batch, pd)
			size += max(pd.t.item.Size, 0)
		default:
			return batch, true
		}
	}
	return batch, true
}

// storeMessages stores a batch of messages in one store batch, or
// records why one cannot be; an error is returned only when the job
// must stop. A message is recorded as imported (mailimport_items,
// mailimport_placed) in the transaction that stores it: a crash before
// the batch's commit leaves none of it recorded, and the next run
// imports it once.
func (im *Importer) storeMessages(ctx context.Context, r *run, batch []pending) error {
	var msgs []store.ImportMessage
	var outs []*storeOutcome
	var readers []*bufio.Reader
	defer func() {
		for _, br := range readers {
			br.Reset(nil)
			im.readers.Put(br)
		}
	}()
	for _, pd := range batch {
		t, body := pd.t, pd.body
		if t.item.Err != nil || body == nil {
			reason := "the source did not send the message"
			if t.item.Err != nil {
				reason = t.item.Err.Error()
			}
			if err := im.recordFailed(ctx, r, t, "", reason); err != nil {
				return err
			}
			continue
		}
		br, _ := im.readers.Get().(*bufio.Reader)
		if br == nil {
			br = bufio.NewReaderSize(nil, 32<<10)
		}
		br.Reset(body)
		readers = append(readers, br)
		o := &storeOutcome{t: t, msgID: peekMessageID(br)}
		if _, err := br.Peek(1); err != nil {
			if err := im.recordFailed(ctx, r, t, o.msgID, "the message is empty"); err != nil {
				return err
			}
			continue
		}
		msgs = append(msgs, store.ImportMessage{Body: br, Date: t.item.Date, Decide: o.decide(im.opts.DB, r.id)})
		outs = append(outs, o)
	}
	if len(msgs) == 0 {
		return nil
	}
	res, err := im.opts.Store.ImportBatch(ctx, r.account, msgs)
	if err != nil {
		return err
	}
	var stop error
	for i, o := range outs {
		if err := im.stored(ctx, r, o, res[i].Err); err != nil && stop == nil {
			stop = err
		}
	}
	return stop
}

// storeOutcome is what the decider of one message of a batch found.
type storeOutcome struct {
	t      task
	msgID  string
	status string
	size   int64
}

// decide returns the message's [store.ImportDecider]: it places the
// message in each destination it is not in yet and records the item, in
// the store's transaction, with database's cached statements.
func (o *storeOutcome) decide(database *db.DB, jobID int64) store.ImportDecider {
	return func(ctx context.Context, tx *sql.Tx, ref blob.Ref, n int64) ([]store.Placement, error) {
		q := database.Stmts(tx)
		var places []store.Placement
		for _, d := range o.t.dests {
			res, err := q.ExecContext(ctx, `INSERT INTO mailimport_placed (job_id, dest, blob_ref) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, jobID, d, string(ref))
			if err != nil {
				return nil, err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				places = append(places, store.Placement{Mailbox: d, Flags: o.t.flags})
			}
		}
		o.status, o.size = statusCopied, n
		if len(places) == 0 {
			o.status = statusDuplicate
		}
		_, err := q.ExecContext(ctx, `INSERT INTO mailimport_items (job_id, folder, source_id, status, message_id, blob_ref, size)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, jobID, o.t.folder, o.t.item.ID, o.status, o.msgID, string(ref), n)
		return places, err
	}
}

// stored counts a message the store imported (err nil) or records why it
// could not; an error is returned only when the job must stop.
func (im *Importer) stored(ctx context.Context, r *run, o *storeOutcome, err error) error {
	switch {
	case err == nil:
		r.progress.set(func(p *Progress) {
			if o.status == statusCopied {
				p.Copied++
				p.Bytes += o.size
			} else {
				p.Duplicates++
			}
		})
		return nil
	case errors.Is(err, store.ErrQuota):
		return fmt.Errorf("%w: stopped before exceeding the quota (%v)", ErrQuota, err)
	case errors.Is(err, store.ErrTooLarge), errors.Is(err, store.ErrBadFlag), errors.Is(err, store.ErrBadName),
		errors.Is(err, store.ErrNoMailbox), errors.Is(err, store.ErrBlobCollected):
		return im.recordFailed(ctx, r, o.t, o.msgID, err.Error())
	}
	return err
}

// recordFailed notes a message that could not be imported.
func (im *Importer) recordFailed(ctx context.Context, r *run, t task, msgID, reason string) error {
	reason = sanitizeText(reason)
	_, err := im.opts.DB.ExecContext(ctx, `INSERT INTO mailimport_items (job_id, folder, source_id, status, reason, message_id, size)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, r.id, t.folder, t.item.ID, statusFailed, reason, msgID, max(t.item.Size, 0))
	if err != nil {
		return fmt.Errorf("mailimport: %w", err)
	}
	r.progress.set(func(p *Progress) { p.Failed++ })
	return nil
}

// peekMessageID reads the Message-ID field from the start of the message
// without consuming it; "" if it is not within the first 32 KiB.
func peekMessageID(br *bufio.Reader) string {
	head, _ := br.Peek(32 << 10)
	if end := bytes.Index(head, []byte("\r\n\r\n")); end >= 0 {
		head = head[:end+2]
	}
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(head, '\r', '\n'))))
	h, _ := tr.ReadMIMEHeader()
	return sanitizeText(h.Get("Message-Id"))
}
