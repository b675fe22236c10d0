package mailimport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
)

// Google Takeout: the archives (.zip, .tgz) a member downloads from
// Google, given as one job (a large Takeout comes split in several,
// takeout-…-001.zip, -002.zip). Each archive is read entry by entry
// (see archive.go), in its order:
//
//   - Takeout/Mail/*.mbox: mail, as an mbox file with X-Gmail-Labels
//     (its labels become folders, as with KindMbox);
//   - Takeout/Drive/…: the member's Drive, into their files under
//     "Google Drive", keeping the tree and each file's modification time
//     (Takeout exports Google Docs, Sheets and Slides as .docx, .xlsx
//     and .pptx; they are kept as they are);
//   - *.ics and *.vcf elsewhere (Takeout/Calendar, Takeout/Contacts):
//     calendars and contacts, kept by the importer (its blob store and
//     mailimport_kept) and given to the calendar and contacts stores
//     when they are configured ([Sinks]);
//   - anything else (Photos, YouTube…) is listed in the report as not
//     imported.
//
// Each entry dealt with is recorded (mailimport_entries), so that a
// resumed job goes on after the last one; a Drive file given again after
// a restart is recognised by the file store ([FileSink]); mail resumes
// message by message as for any mbox.

// KindTakeout is a job that reads Google Takeout archives (Paths).
const KindTakeout = "takeout"

// maxKept bounds one calendar or address book file.
const maxKept = 64 << 20

// driveFolder is the folder of a member's files that receives their Drive.
const driveFolder = "Google Drive"

// Entry kinds and statuses.
const (
	entryArchive  = "archive"
	entryMail     = "mail"
	entryDrive    = "drive"
	entryCalendar = "calendar"
	entryContacts = "contacts"
	entryOther    = "other"

	statusKept    = "kept"
	statusSkipped = "skipped"
)

// ErrFilesQuota stops a job before the member's file storage quota
// would be exceeded. A [FileSink] wraps it when it refuses for the quota.
var ErrFilesQuota = errors.New("mailimport: the member's file storage is full")

// FileSink is where a Takeout archive's Drive files go (the file store).
type FileSink interface {
	// ImportFile stores r as the file at path (names separated by "/",
	// below the member's home), with modification time mtime; size is
	// the announced length or -1. The file appears whole or not at all.
	// Given a file it already holds at path (a resumed job), it changes
	// nothing and returns created false. A refusal for the quota wraps
	// ErrFilesQuota.
	ImportFile(ctx context.Context, accountID int64, path string, mtime time.Time, size int64, r io.Reader) (created bool, err error)
}

// CalendarSink takes a calendar (iCalendar, RFC 5545) of a member.
type CalendarSink interface {
	Import(ctx context.Context, accountID int64, name string, data io.Reader) error
}

// ContactsSink takes an address book (vCard, RFC 6350) of a member.
type ContactsSink interface {
	Import(ctx context.Context, accountID int64, name string, data io.Reader) error
}

// ErrRefused is wrapped by a CalendarSink or ContactsSink that refuses a
// file for good (not a calendar its checks accept, too large): the file
// is then reported as not imported, with the store's reason, and not
// handed over again.
var ErrRefused = errors.New("mailimport: refused by the store")

// Sinks are the stores a Takeout job hands what is not mail to; nil ones
// are not configured: Drive files are then reported as not imported,
// calendars and contacts are kept until [Importer.SetSinks] names a store.
type Sinks struct {
	Files     FileSink
	Calendars CalendarSink
	Contacts  ContactsSink
}

// SetSinks names the stores for Drive files, calendars and contacts
// (built after the importer), and hands them the calendars and contacts
// kept so far at the next [Importer.Run].
func (im *Importer) SetSinks(s Sinks) {
	im.mu.Lock()
	im.sinks = s
	im.mu.Unlock()
}

// getSinks returns the configured sinks.
func (im *Importer) getSinks() Sinks {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.sinks
}

// classify says what an entry's name (without "Takeout/") holds. The
// Drive is "Drive" ("Google Drive" accepted too); mail, calendars and
// contacts are told by their files' extensions, whatever the language
// names their folders in.
func classify(name string) string {
	first, rest, _ := strings.Cut(name, "/")
	switch ext := strings.ToLower(path.Ext(name)); {
	case (first == "Drive" || first == driveFolder) && rest != "":
		return entryDrive
	case ext == ".mbox":
		return entryMail
	case ext == ".ics":
		return entryCalendar
	case ext == ".vcf":
		return entryContacts
	}
	return entryOther
}

// drivePath is where a Drive entry goes in the member's files: the tree
// below "Google Drive", the characters Drive allows and desktop systems
// do not (<>:"|?*) replaced by their full-width forms.
func drivePath(name string) string {
	_, rest, _ := strings.Cut(name, "/")
	return driveFolder + "/" + strings.Map(func(r rune) rune {
		if strings.ContainsRune(`<>:"|?*`, r) {
			return r + 0xFEE0 // FULLWIDTH …
		}
		return r
	}, rest)
}

// copyTakeout copies every archive of the job, skipping the entries
// earlier runs dealt with.
func (im *Importer) copyTakeout(ctx context.Context, r *run, spec SourceSpec) error {
	if err := im.opts.Store.EnsureAccount(ctx, r.account); err != nil {
		return err
	}
	done, err := im.doneEntries(ctx, r.id)
	if err != nil {
		return err
	}
	var total int64
	sizes := make([]int64, len(spec.Paths))
	for i, p := range spec.Paths {
		if fi, err := os.Stat(p); err == nil {
			sizes[i] = fi.Size()
			total += fi.Size()
		}
	}
	r.progress.set(func(p *Progress) { p.Folders, p.ArchiveBytes, p.ArchiveRead = len(spec.Paths), total, 0 })
	for ai, p := range spec.Paths {
		if err := im.copyArchive(ctx, r, ai, p, done[ai]); err != nil {
			return err
		}
		r.progress.set(func(p *Progress) { p.FoldersDone++; p.Current = ""; p.ArchiveRead = sum(sizes[:ai+1]) })
	}
	return nil
}

// sum adds up ns.
func sum(ns []int64) (t int64) {
	for _, n := range ns {
		t += n
	}
	return t
}

// copyArchive copies one archive, entry by entry as the walk meets them.
func (im *Importer) copyArchive(ctx context.Context, r *run, ai int, file string, done map[int]bool) error {
	whole := &entry{index: -1, raw: filepath.Base(file)}
	r.progress.set(func(p *Progress) { p.Current = whole.raw })
	a, err := openArchive(file)
	if err != nil {
		return im.recordEntry(ctx, r, ai, whole, entryArchive, statusFailed, err.Error())
	}
	defer a.Close()
	var before int64
	r.progress.set(func(p *Progress) { before = p.ArchiveRead })
	err = a.walk(ctx, func(e *entry, rd io.Reader) error {
		r.progress.set(func(p *Progress) { p.ArchiveRead = before + a.read() })
		if done[e.index] || e.dir && e.err == nil {
			return nil
		}
		if rd != nil && e.size > aheadChunk {
			ra := newReadAhead(rd)
			defer ra.Close()
			rd = ra
		}
		kind := classify(e.name)
		if e.err == nil && kind == entryMail {
			return im.takeoutMbox(ctx, r, ai, e, rd)
		}
		return im.takeoutEntry(ctx, r, ai, e, kind, rd)
	})
	if errors.Is(err, errArchive) && ctx.Err() == nil {
		// The rest of a damaged archive: said, and the job goes on.
		err = im.recordEntry(ctx, r, ai, whole, entryArchive, statusFailed, err.Error())
	}
	return err
}

// takeoutEntry imports, keeps or reports one entry that is not mail.
func (im *Importer) takeoutEntry(ctx context.Context, r *run, ai int, e *entry, kind string, rd io.Reader) error {
	switch {
	case e.err != nil:
		return im.recordEntry(ctx, r, ai, e, kind, statusFailed, e.err.Error())
	case kind == entryDrive:
		return im.driveFile(ctx, r, ai, e, rd)
	case kind == entryCalendar || kind == entryContacts:
		return im.keep(ctx, r, ai, e, kind, rd)
	}
	return im.recordEntry(ctx, r, ai, e, entryOther, statusSkipped, "not mail, Drive, a calendar or contacts")
}

// driveFile copies one Drive file into the member's files.
func (im *Importer) driveFile(ctx context.Context, r *run, ai int, e *entry, rd io.Reader) error {
	sink := im.getSinks().Files
	if sink == nil {
		return im.recordEntry(ctx, r, ai, e, entryDrive, statusFailed, "no file store to import Drive files into")
	}
	p := drivePath(e.name)
	created, err := sink.ImportFile(ctx, r.account, p, e.mtime, e.size, rd)
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case errors.Is(err, ErrFilesQuota):
		return fmt.Errorf("%w: stopped before %q (%v)", ErrFilesQuota, p, err)
	case err != nil:
		return im.recordEntry(ctx, r, ai, e, entryDrive, statusFailed, err.Error())
	}
	status := statusCopied
	if !created {
		status = statusDuplicate
	}
	if err := im.recordEntry(ctx, r, ai, e, entryDrive, status, ""); err != nil {
		return err
	}
	r.progress.set(func(p *Progress) { p.Files++; p.FileBytes += e.size })
	return nil
}

// keep stores a calendar or address book in the importer's blob store
// and hands it to its sink, if one is configured.
func (im *Importer) keep(ctx context.Context, r *run, ai int, e *entry, kind string, rd io.Reader) error {
	if im.opts.Kept == nil {
		return im.recordEntry(ctx, r, ai, e, kind, statusFailed, "no place to keep calendars and contacts")
	}
	ref, n, err := im.opts.Kept.Put(ctx, rd, maxKept)
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case errors.Is(err, blob.ErrTooLarge):
		return im.recordEntry(ctx, r, ai, e, kind, statusFailed, fmt.Sprintf("larger than %d MiB", maxKept>>20))
	case err != nil:
		return im.recordEntry(ctx, r, ai, e, kind, statusFailed, err.Error())
	}
	var id int64
	err = im.opts.DB.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO mailimport_kept (job_id, account_id, kind, name, blob_ref, size, kept_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (job_id, kind, name) DO UPDATE SET blob_ref = excluded.blob_ref, size = excluded.size, delivered_at = NULL RETURNING id`,
			r.id, r.account, kind, e.name, string(ref), n, im.opts.Now().Unix()).Scan(&id)
		if err != nil {
			return err
		}
		return insertEntry(ctx, tx, r.id, ai, e, kind, statusKept, "")
	})
	if err != nil {
		return fmt.Errorf("mailimport: %w", err)
	}
	r.progress.set(func(p *Progress) { p.Kept++ })
	im.deliver(ctx, id)
	return nil
}

// takeoutMbox copies the messages of an mbox entry, read from rd.
func (im *Importer) takeoutMbox(ctx context.Context, r *run, ai int, e *entry, rd io.Reader) error {
	src := &archiveMbox{r: rd, e: e, prefix: fmt.Sprintf("%d.%d.", ai, e.index),
		cfg: MboxConfig{MaxSize: im.opts.MaxMessageSize}}
	defer src.Close()
	f := src.folder()
	r.progress.set(func(p *Progress) { p.Current = e.name; p.TotalBytes += e.size })
	err := im.copyFolder(ctx, r, src, f)
	if errors.Is(err, errArchive) && ctx.Err() == nil {
		return im.recordEntry(ctx, r, ai, e, entryMail, statusFailed, "could not be read to its end: "+err.Error())
	}
	if err != nil {
		return err
	}
	return im.recordEntry(ctx, r, ai, e, entryMail, statusCopied, "")
}

// recordEntry records what became of an entry.
func (im *Importer) recordEntry(ctx context.Context, r *run, ai int, e *entry, kind, status, reason string) error {
	err := im.opts.DB.Tx(ctx, func(tx *sql.Tx) error { return insertEntry(ctx, tx, r.id, ai, e, kind, status, reason) })
	if err != nil {
		return fmt.Errorf("mailimport: %w", err)
	}
	if status == statusFailed {
		r.progress.set(func(p *Progress) { p.EntriesFailed++ })
	}
	return nil
}

// insertEntry writes an entry's row.
func insertEntry(ctx context.Context, tx *sql.Tx, jobID int64, ai int, e *entry, kind, status, reason string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO mailimport_entries (job_id, archive, idx, name, kind, status, reason, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (job_id, archive, idx) DO UPDATE SET status = excluded.status, reason = excluded.reason`,
		jobID, ai, e.index, sanitizeText(e.raw), kind, status, sanitizeText(reason), max(e.size, 0))
	return err
}

// doneEntries returns, per archive, the entries earlier runs dealt with.
func (im *Importer) doneEntries(ctx context.Context, jobID int64) (map[int]map[int]bool, error) {
	rows, err := im.opts.DB.QueryContext(ctx, `SELECT archive, idx FROM mailimport_entries WHERE job_id = ? AND idx >= 0`, jobID)
	if err != nil {
		return nil, fmt.Errorf("mailimport: %w", err)
	}
	defer rows.Close()
	out := map[int]map[int]bool{}
	for rows.Next() {
		var a, i int
		if err := rows.Scan(&a, &i); err != nil {
			return nil, fmt.Errorf("mailimport: %w", err)
		}
		if out[a] == nil {
			out[a] = map[int]bool{}
		}
		out[a][i] = true
	}
	return out, rows.Err()
}

// DeliverKept hands the calendars and contacts kept from Takeout
// archives, and not yet delivered, to the sinks configured (see
// [Importer.SetSinks]); [Importer.Run] calls it when it starts. It
// returns how many were delivered.
func (im *Importer) DeliverKept(ctx context.Context) (int, error) {
	rows, err := im.opts.DB.QueryContext(ctx, `SELECT id FROM mailimport_kept WHERE delivered_at IS NULL ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("mailimport: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("mailimport: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	n := 0
	for _, id := range ids {
		if im.deliver(ctx, id) {
			n++
		}
	}
	return n, ctx.Err()
}

// deliver hands one kept file to its sink, if configured, and records
// it; a failure is logged and tried again at the next start.
func (im *Importer) deliver(ctx context.Context, id int64) bool {
	var acct int64
	var kind, name, ref string
	err := im.opts.DB.QueryRowContext(ctx, `SELECT account_id, kind, name, blob_ref FROM mailimport_kept WHERE id = ? AND delivered_at IS NULL`, id).
		Scan(&acct, &kind, &name, &ref)
	if err != nil {
		return false
	}
	s := im.getSinks()
	var imp func(context.Context, int64, string, io.Reader) error
	switch {
	case kind == entryCalendar && s.Calendars != nil:
		imp = s.Calendars.Import
	case kind == entryContacts && s.Contacts != nil:
		imp = s.Contacts.Import
	default:
		return false
	}
	f, err := im.opts.Kept.Open(blob.Ref(ref))
	if err == nil {
		err = imp(ctx, acct, name, f)
		f.Close()
	}
	if errors.Is(err, ErrRefused) {
		im.refuseKept(ctx, id, kind, name, err)
		return false
	}
	if err == nil {
		_, err = im.opts.DB.ExecContext(ctx, `UPDATE mailimport_kept SET delivered_at = ? WHERE id = ?`, im.opts.Now().Unix(), id)
	}
	if err != nil {
		im.log.Warn("mailimport: handing over a kept "+kind+" file", "id", id, "err", err)
		return false
	}
	return true
}

// refuseKept records that the store refused a kept file for good: its
// archive entry becomes a failed one with the store's reason (the report
// lists it), and it is not handed over again.
func (im *Importer) refuseKept(ctx context.Context, id int64, kind, name string, refusal error) {
	reason := strings.TrimPrefix(refusal.Error(), ErrRefused.Error()+": ")
	err := im.opts.DB.Tx(ctx, func(tx *sql.Tx) error {
		var job int64
		if err := tx.QueryRowContext(ctx, `UPDATE mailimport_kept SET delivered_at = ? WHERE id = ? RETURNING job_id`, im.opts.Now().Unix(), id).Scan(&job); err != nil {
			return err
		}
		// The entry is named as in the archive ("Takeout/Calendar/x.ics"),
		// the kept file below the archive's top folder ("Calendar/x.ics").
		_, err := tx.ExecContext(ctx, `UPDATE mailimport_entries SET status = ?1, reason = ?2 WHERE job_id = ?3 AND kind = ?4 AND status = ?5
			AND (name = ?6 OR substr(name, length(name) - length(?6)) = '/' || ?6)`,
			statusFailed, sanitizeText(reason), job, kind, statusKept, name)
		return err
	})
	if err != nil {
		im.log.Warn("mailimport: recording a refused "+kind+" file", "id", id, "err", err)
		return
	}
	im.log.Info("mailimport: the store refused a kept "+kind+" file", "id", id, "reason", reason)
}

// entryCounts are a Takeout job's totals of archive entries so far.
type entryCounts struct {
	files, fileBytes, calendars, contacts, failed, skipped int64
	waitingCalendars, waitingContacts                      int64 // kept, not yet taken by a store
}

// entryTotals reads a job's totals from its entries.
func (im *Importer) entryTotals(ctx context.Context, jobID int64) (entryCounts, error) {
	var c entryCounts
	rows, err := im.opts.DB.QueryContext(ctx, `SELECT kind, status, count(*), coalesce(sum(size), 0) FROM mailimport_entries WHERE job_id = ? GROUP BY kind, status`, jobID)
	if err != nil {
		return c, fmt.Errorf("mailimport: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, status string
		var n, size int64
		if err := rows.Scan(&kind, &status, &n, &size); err != nil {
			return c, fmt.Errorf("mailimport: %w", err)
		}
		switch {
		case status == statusFailed:
			c.failed += n
		case status == statusSkipped:
			c.skipped += n
		case kind == entryDrive:
			c.files += n
			c.fileBytes += size
		case kind == entryCalendar:
			c.calendars += n
		case kind == entryContacts:
			c.contacts += n
		}
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("mailimport: %w", err)
	}
	err = im.opts.DB.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE kind = ?), count(*) FILTER (WHERE kind = ?) FROM mailimport_kept
		WHERE job_id = ? AND delivered_at IS NULL`, entryCalendar, entryContacts, jobID).Scan(&c.waitingCalendars, &c.waitingContacts)
	if err != nil {
		return c, fmt.Errorf("mailimport: %w", err)
	}
	return c, nil
}

// setEntryProgress puts a job's entry totals into p.
func (c entryCounts) setProgress(p *Progress) {
	p.Files, p.FileBytes, p.Kept, p.EntriesFailed = c.files, c.fileBytes, c.calendars+c.contacts, c.failed
}
