package mailimport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Progress is a job's state as a page shows it.
type Progress struct {
	JobID, AccountID int64
	State            string
	Message          string    // why it waits, failed or ended
	NotBefore        time.Time // when a waiting job continues
	Folders          int       // source folders, once listed
	FoldersDone      int
	Current          string // the source folder being copied
	Listed           int64  // messages listed by this run
	Copied           int64  // messages copied (all runs)
	Duplicates       int64  // messages skipped as already copied
	Failed           int64  // messages that could not be imported
	Bytes            int64  // bytes copied
	TotalBytes       int64  // bytes of the source, when known (mbox)

	// Google Takeout archives (Folders counts the archives).
	ArchiveBytes  int64 // bytes of the archive files
	ArchiveRead   int64 // bytes of them read (this run), for a progress bar
	Files         int64 // Drive files copied (or found copied)
	FileBytes     int64 // their bytes
	Kept          int64 // calendars and address books kept
	EntriesFailed int64 // archive entries that could not be imported
}

// progressBox holds a running job's progress and tells waiters when
// it changes.
type progressBox struct {
	mu      sync.Mutex
	p       Progress
	changed chan struct{}
}

func newProgressBox(id, acct int64) *progressBox {
	return &progressBox{p: Progress{JobID: id, AccountID: acct, State: StateRunning}, changed: make(chan struct{})}
}

// set changes the progress and wakes the waiters.
func (b *progressBox) set(fn func(*Progress)) {
	b.mu.Lock()
	fn(&b.p)
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// get returns the progress and a channel closed at its next change.
func (b *progressBox) get() (Progress, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.p, b.changed
}

// Progress returns a job's progress and a channel that is closed when
// it next changes (for a page that updates live: wait on it, then call
// Progress again). For a job that is not running the channel closes
// when any job starts or stops.
func (im *Importer) Progress(ctx context.Context, jobID int64) (Progress, <-chan struct{}, error) {
	im.mu.Lock()
	r := im.running[jobID]
	im.mu.Unlock()
	if r != nil {
		p, ch := r.progress.get()
		return p, ch, nil
	}
	p := Progress{JobID: jobID}
	var nb int64
	err := im.opts.DB.QueryRowContext(ctx, `SELECT account_id, state, message, not_before FROM mailimport_jobs WHERE id = ?`, jobID).
		Scan(&p.AccountID, &p.State, &p.Message, &nb)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil, ErrNoJob
	}
	if err != nil {
		return p, nil, fmt.Errorf("mailimport: progress: %w", err)
	}
	if p.State == StateWaiting {
		p.NotBefore = time.Unix(nb, 0)
	}
	c, err := im.counts(ctx, jobID)
	if err != nil {
		return p, nil, err
	}
	p.Copied, p.Duplicates, p.Failed, p.Bytes = c.copied, c.duplicates, c.failed, c.bytes
	ec, err := im.entryTotals(ctx, jobID)
	if err != nil {
		return p, nil, err
	}
	ec.setProgress(&p)
	return p, im.jobsChanged(), nil
}

// jobsChanged returns a channel closed when a job next starts or stops.
func (im *Importer) jobsChanged() <-chan struct{} {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.changed
}

// notify closes the channel of jobsChanged; the caller holds im.mu.
func (im *Importer) notify() {
	close(im.changed)
	im.changed = make(chan struct{})
}
