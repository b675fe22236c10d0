package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// importFiles is the file store as the importer's FileSink: Google
// Takeout's Drive files land in the member's home; a refusal for the
// quota stops the job.
type importFiles struct{ files *files.Store }

func (f importFiles) ImportFile(ctx context.Context, accountID int64, path string, mtime time.Time, size int64, r io.Reader) (bool, error) {
	created, err := f.files.ImportFile(ctx, accountID, path, mtime, size, r)
	if errors.Is(err, files.ErrQuota) {
		err = fmt.Errorf("%w: %w", mailimport.ErrFilesQuota, err)
	}
	return created, err
}

// buildFiles is the fourth phase: the file store, on a blob directory of
// its own.
func (s *Server) buildFiles(ctx context.Context) error {
	fblobs, err := s.blobDir("files")
	if err != nil {
		return err
	}
	c := s.cfg.Files
	s.files = files.New(s.db, fblobs, files.Options{
		Versions:            c.Versions,
		TrashRetention:      c.TrashRetention.Duration,
		DefaultQuota:        c.DefaultQuotaMB << 20,
		DefaultLinkLifetime: c.DefaultLinkLifetime.Duration,
		MaxLinkLifetime:     c.MaxLinkLifetime.Duration,
		Now:                 s.deps.Now,
	}, files.Deps{Auth: s.auth, Audit: s.audit, Log: s.log.With("component", "files"), Freeze: admin.NewFreeze(s.db)})
	s.sharePaths()
	s.imports.SetSinks(mailimport.Sinks{Files: importFiles{s.files}})
	s.reg.GaugeFunc("caucus_files_stored_bytes", "Bytes of files stored, all spaces, every kept version and the trash.", func(ctx context.Context) (float64, error) {
		n, err := s.files.TotalSize(ctx)
		return float64(n), err
	})
	return nil
}
