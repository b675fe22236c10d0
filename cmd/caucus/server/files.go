package server

import (
	"context"

	"github.com/caucus-org/caucus/files"
)

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
	}, files.Deps{Auth: s.auth, Audit: s.audit, Log: s.log.With("component", "files")})
	s.reg.GaugeFunc("caucus_files_stored_bytes", "Bytes of files stored, all spaces, every kept version and the trash.", func(ctx context.Context) (float64, error) {
		n, err := s.files.TotalSize(ctx)
		return float64(n), err
	})
	return nil
}
