package offboard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
)

// ErrNoExport is returned by [Service.OpenExport] for a name that is not an
// export.
var ErrNoExport = errors.New("offboard: no such export")

// Export is one mbox file written when a retention period ended.
type Export struct {
	Name    string // e.g. alice@example.org-20270222T033000Z.mbox
	Size    int64
	Written time.Time
}

// Exports lists the mbox exports, newest first. A missing export
// directory is an empty list.
func (s *Service) Exports() ([]Export, error) {
	entries, err := os.ReadDir(s.cfg.ExportDir)
	if errors.Is(err, fs.ErrNotExist) || s.cfg.ExportDir == "" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("offboard: exports: %w", err)
	}
	var out []Export
	for _, e := range entries {
		if !exportName(e.Name()) || !e.Type().IsRegular() {
			continue // a temporary file of an export being written, say
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, Export{Name: e.Name(), Size: fi.Size(), Written: fi.ModTime()})
	}
	slices.SortFunc(out, func(a, b Export) int { return b.Written.Compare(a.Written) })
	return out, nil
}

// exportName reports whether name can be an export's: a plain file name
// that export writes, never a path or a temporary file.
func exportName(name string) bool {
	return strings.HasSuffix(name, ".mbox") && !strings.HasPrefix(name, ".") &&
		!strings.ContainsAny(name, `/\`) && name != ".mbox"
}

// OpenExport opens the export name for reading and records in the audit
// log that actor fetched it: the file holds a departed member's mail.
// The file is opened within the export directory (os.Root), so no name
// reaches another file. A name that is no export gives [ErrNoExport].
func (s *Service) OpenExport(ctx context.Context, actor, name string) (*os.File, Export, error) {
	if !exportName(name) || s.cfg.ExportDir == "" {
		return nil, Export{}, ErrNoExport
	}
	root, err := os.OpenRoot(s.cfg.ExportDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Export{}, ErrNoExport
	}
	if err != nil {
		return nil, Export{}, fmt.Errorf("offboard: export: %w", err)
	}
	defer root.Close()
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Export{}, ErrNoExport
	}
	if err != nil {
		return nil, Export{}, fmt.Errorf("offboard: export: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, Export{}, ErrNoExport
	}
	subject := name // <login>-<time>.mbox, as export names it
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		subject = name[:i]
	}
	if err := s.audit.Record(ctx, audit.Event{Actor: actor, Subject: subject, Kind: "mail.export.download", Detail: "file=" + name}); err != nil {
		f.Close()
		return nil, Export{}, fmt.Errorf("offboard: export: %w", err)
	}
	return f, Export{Name: name, Size: fi.Size(), Written: fi.ModTime()}, nil
}
