package mailimport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Job is a job as listed.
type Job struct {
	ID        int64     `json:"id"`
	AccountID int64     `json:"account_id"`
	Kind      string    `json:"kind"`
	Source    string    `json:"source"` // server address or paths, never a secret
	Login     string    `json:"login,omitempty"`
	StartedBy string    `json:"started_by"`
	State     string    `json:"state"`
	Message   string    `json:"message,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	Created   time.Time `json:"created"`
	Finished  time.Time `json:"finished,omitzero"`
}

// FolderReport is where one source folder or label went.
type FolderReport struct {
	Source  string `json:"source"` // "folder:NAME" or "label:NAME"
	Dest    string `json:"dest"`
	Renamed bool   `json:"renamed,omitempty"` // the name was changed (invalid, or clashed with another in case)
	Copied  int64  `json:"copied"`            // messages placed in Dest
}

// Problem is a message that was not copied.
type Problem struct {
	Folder    string `json:"folder"`
	SourceID  string `json:"source_id"`
	MessageID string `json:"message_id,omitempty"`
	Status    string `json:"status"` // "failed" or "duplicate"
	Reason    string `json:"reason"`
}

// Report says what a job copied and what it did not, and why.
type Report struct {
	Job        Job            `json:"job"`
	Folders    []FolderReport `json:"folders"`
	Copied     int64          `json:"copied"`
	Duplicates int64          `json:"duplicates"`
	Failed     int64          `json:"failed"`
	Bytes      int64          `json:"bytes"`
	Problems   []Problem      `json:"problems,omitempty"`
	// MoreProblems is how many problems were left out of Problems.
	MoreProblems int64 `json:"more_problems,omitempty"`

	// Google Takeout archives.
	Files     int64 `json:"files,omitempty"`      // Drive files copied into "Google Drive"
	FileBytes int64 `json:"file_bytes,omitempty"` // their bytes
	Calendars int64 `json:"calendars,omitempty"`  // calendars (.ics) kept
	Contacts  int64 `json:"contacts,omitempty"`   // address books (.vcf) kept
	// CalendarsWaiting and ContactsWaiting are those kept and not yet
	// taken by a calendar or contacts store (none is configured).
	CalendarsWaiting int64          `json:"calendars_waiting,omitempty"`
	ContactsWaiting  int64          `json:"contacts_waiting,omitempty"`
	EntryProblems    []EntryProblem `json:"entry_problems,omitempty"`
	// Skipped counts the entries caucus does not import (Photos,
	// YouTube…), by the archive's top folder.
	Skipped []SkippedFolder `json:"skipped,omitempty"`
}

// SkippedFolder is a top folder of a Takeout archive that holds entries
// caucus does not import, and how many.
type SkippedFolder struct {
	Folder  string `json:"folder"`
	Entries int64  `json:"entries"`
}

// EntryProblem is an entry of a Takeout archive that was not imported.
type EntryProblem struct {
	Archive int    `json:"archive"` // index in the job's files
	Name    string `json:"name"`    // as the archive names it ("" for the archive itself)
	Kind    string `json:"kind"`    // mail, drive, calendar, contacts, other, archive
	Status  string `json:"status"`  // failed
	Reason  string `json:"reason"`
}

// maxProblems bounds the problems a report lists.
const maxProblems = 10000

// jobColumns are the columns scanJob reads.
const jobColumns = `id, account_id, kind, source, login, started_by, state, message, not_before, created_at, coalesce(finished_at, 0)`

// scanJob reads a Job.
func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var nb, created, finished int64
	err := row.Scan(&j.ID, &j.AccountID, &j.Kind, &j.Source, &j.Login, &j.StartedBy, &j.State, &j.Message, &nb, &created, &finished)
	j.Created = time.Unix(created, 0)
	if j.State == StateWaiting {
		j.NotBefore = time.Unix(nb, 0)
	}
	if finished > 0 {
		j.Finished = time.Unix(finished, 0)
	}
	return j, err
}

// Jobs lists the jobs of an account (0: every account), newest first.
func (im *Importer) Jobs(ctx context.Context, accountID int64) ([]Job, error) {
	rows, err := im.opts.DB.QueryContext(ctx, `SELECT `+jobColumns+` FROM mailimport_jobs WHERE ?1 = 0 OR account_id = ?1 ORDER BY id DESC`, accountID)
	if err != nil {
		return nil, fmt.Errorf("mailimport: jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("mailimport: jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// Report returns a job's report.
func (im *Importer) Report(ctx context.Context, jobID int64) (Report, error) {
	var rep Report
	j, err := scanJob(im.opts.DB.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM mailimport_jobs WHERE id = ?`, jobID))
	if errors.Is(err, sql.ErrNoRows) {
		return rep, ErrNoJob
	}
	if err != nil {
		return rep, fmt.Errorf("mailimport: report: %w", err)
	}
	rep.Job = j
	// A row per message the job dealt with, and one per placement: read
	// without the database's memory map, as counts does.
	err = im.opts.DB.ReadUnmapped(ctx, func(conn *sql.Conn) error {
		c, err := countItems(ctx, conn, jobID)
		if err != nil {
			return err
		}
		rep.Copied, rep.Duplicates, rep.Failed, rep.Bytes = c.copied, c.duplicates, c.failed, c.bytes
		if rep.Folders, err = folderReports(ctx, conn, jobID); err != nil {
			return err
		}
		rep.Problems, rep.MoreProblems, err = problems(ctx, conn, jobID)
		return err
	})
	if err != nil || j.Kind != KindTakeout {
		return rep, err
	}
	ec, err := im.entryTotals(ctx, jobID)
	if err != nil {
		return rep, err
	}
	rep.Files, rep.FileBytes, rep.Calendars, rep.Contacts = ec.files, ec.fileBytes, ec.calendars, ec.contacts
	rep.CalendarsWaiting, rep.ContactsWaiting = ec.waitingCalendars, ec.waitingContacts
	if rep.EntryProblems, err = im.entryProblems(ctx, jobID); err != nil {
		return rep, err
	}
	rep.Skipped, err = im.skippedFolders(ctx, jobID)
	return rep, err
}

// skippedFolders counts the entries not imported by their top folder
// below "Takeout/".
func (im *Importer) skippedFolders(ctx context.Context, jobID int64) ([]SkippedFolder, error) {
	rows, err := im.opts.DB.QueryContext(ctx, `SELECT name FROM mailimport_entries WHERE job_id = ? AND status = ?`, jobID, statusSkipped)
	if err != nil {
		return nil, fmt.Errorf("mailimport: report: %w", err)
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("mailimport: report: %w", err)
		}
		top, _, _ := strings.Cut(strings.TrimPrefix(name, "Takeout/"), "/")
		counts[top]++
	}
	var out []SkippedFolder
	for _, f := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, SkippedFolder{Folder: f, Entries: counts[f]})
	}
	return out, rows.Err()
}

// entryProblems lists the archive entries not imported, at most
// maxProblems.
func (im *Importer) entryProblems(ctx context.Context, jobID int64) ([]EntryProblem, error) {
	rows, err := im.opts.DB.QueryContext(ctx, `SELECT archive, idx, name, kind, status, reason FROM mailimport_entries
		WHERE job_id = ? AND status = ? ORDER BY archive, idx LIMIT ?`, jobID, statusFailed, maxProblems)
	if err != nil {
		return nil, fmt.Errorf("mailimport: report: %w", err)
	}
	defer rows.Close()
	var out []EntryProblem
	for rows.Next() {
		var p EntryProblem
		var idx int
		if err := rows.Scan(&p.Archive, &idx, &p.Name, &p.Kind, &p.Status, &p.Reason); err != nil {
			return nil, fmt.Errorf("mailimport: report: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// folderReports lists where the folders and labels went.
func folderReports(ctx context.Context, q queryer, jobID int64) ([]FolderReport, error) {
	rows, err := q.QueryContext(ctx, `SELECT f.key, f.dest, f.renamed,
		(SELECT count(*) FROM mailimport_placed p WHERE p.job_id = f.job_id AND p.dest = f.dest)
		FROM mailimport_folders f WHERE f.job_id = ? AND f.dest != '' ORDER BY f.key`, jobID)
	if err != nil {
		return nil, fmt.Errorf("mailimport: report: %w", err)
	}
	defer rows.Close()
	var out []FolderReport
	for rows.Next() {
		var f FolderReport
		if err := rows.Scan(&f.Source, &f.Dest, &f.Renamed, &f.Copied); err != nil {
			return nil, fmt.Errorf("mailimport: report: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// problems lists the messages not copied, at most maxProblems.
func problems(ctx context.Context, q queryer, jobID int64) ([]Problem, int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT folder, source_id, message_id, status, reason FROM mailimport_items
		WHERE job_id = ? AND status != ? ORDER BY folder, source_id`, jobID, statusCopied)
	if err != nil {
		return nil, 0, fmt.Errorf("mailimport: report: %w", err)
	}
	defer rows.Close()
	var out []Problem
	var more int64
	for rows.Next() {
		if len(out) >= maxProblems {
			more++
			continue
		}
		var p Problem
		if err := rows.Scan(&p.Folder, &p.SourceID, &p.MessageID, &p.Status, &p.Reason); err != nil {
			return nil, 0, fmt.Errorf("mailimport: report: %w", err)
		}
		if p.Status == statusDuplicate {
			p.Reason = "already copied: the same message is in the same folder"
		}
		out = append(out, p)
	}
	return out, more, rows.Err()
}

// WriteText writes the report as plain text, for the CLI and a download.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	j := r.Job
	fmt.Fprintf(&b, "Import job %d: %s from %s", j.ID, j.Kind, j.Source)
	if j.Login != "" {
		fmt.Fprintf(&b, " (login %s)", j.Login)
	}
	fmt.Fprintf(&b, "\nStarted by %s at %s; state %s", j.StartedBy, j.Created.UTC().Format(time.RFC3339), j.State)
	if j.Message != "" {
		fmt.Fprintf(&b, ": %s", j.Message)
	}
	fmt.Fprintf(&b, "\nCopied %d messages (%d bytes); %d duplicates skipped; %d could not be imported.\n", r.Copied, r.Bytes, r.Duplicates, r.Failed)
	b.WriteString("\nFolders:\n")
	for _, f := range r.Folders {
		note := ""
		if f.Renamed {
			note = " (renamed)"
		}
		fmt.Fprintf(&b, "  %s -> %s%s: %d\n", f.Source, f.Dest, note, f.Copied)
	}
	if len(r.Problems) > 0 {
		b.WriteString("\nNot copied:\n")
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %s %s %s: %s: %s\n", p.Folder, p.SourceID, p.MessageID, p.Status, p.Reason)
	}
	if r.MoreProblems > 0 {
		fmt.Fprintf(&b, "  … and %d more\n", r.MoreProblems)
	}
	if j.Kind == KindTakeout {
		r.writeTakeout(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeTakeout writes what a Takeout job did besides mail.
func (r Report) writeTakeout(b *strings.Builder) {
	fmt.Fprintf(b, "\nGoogle Drive: %d files (%d bytes) in the member's files, folder %q.\n", r.Files, r.FileBytes, driveFolder)
	kept := func(what string, n, waiting int64, store string) {
		fmt.Fprintf(b, "%s: %d kept", what, n)
		if waiting > 0 {
			fmt.Fprintf(b, ", %d waiting for %s (imported when caucus has them)", waiting, store)
		}
		b.WriteString(".\n")
	}
	kept("Calendars", r.Calendars, r.CalendarsWaiting, "calendars")
	kept("Contacts", r.Contacts, r.ContactsWaiting, "contacts")
	if len(r.EntryProblems) > 0 {
		b.WriteString("\nNot imported from the archives:\n")
	}
	for _, p := range r.EntryProblems {
		fmt.Fprintf(b, "  archive %d %s (%s): %s: %s\n", p.Archive+1, p.Name, p.Kind, p.Status, p.Reason)
	}
	if len(r.Skipped) > 0 {
		b.WriteString("\nLeft out, by folder (caucus imports mail, Drive, calendars and contacts only):\n")
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(b, "  %s: %d\n", s.Folder, s.Entries)
	}
}
