package server

import (
	"context"
	"path/filepath"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/notice"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/upload"
	"github.com/caucus-org/caucus/mail/autoreply"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/contacts"
	"github.com/caucus-org/caucus/mail/lists"
	"github.com/caucus-org/caucus/mail/mailimport"
	"github.com/caucus-org/caucus/mail/offboard"
	"github.com/caucus-org/caucus/mail/phish"
	"github.com/caucus-org/caucus/mail/queue"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
)

// components are the packages that own tables, in migration order.
func components() []db.Component {
	return []db.Component{audit.Component(), auth.Component(), store.Component(), store.WebmailComponent(), mailimport.Component(), route.Component(), queue.Component(),
		autoreply.Component(), offboard.Component(), admin.Component(), files.Component(), backup.Component(), phish.Component(), notice.Component(),
		calendar.Component(), contacts.Component(), upload.Component(), lists.Component()}
}

// openStorage is the first phase: the data directory, the database with
// every package's migrations (saved first when a migration is due), the
// mail blob directory and the keys.
func (s *Server) openStorage(ctx context.Context) (err error) {
	if err := mkdirData(s.cfg.DataDir); err != nil {
		return err
	}
	if s.db, err = db.Open(ctx, filepath.Join(s.cfg.DataDir, "caucus.db"), s.log); err != nil {
		return err
	}
	comps := components()
	if p, err := backup.BeforeMigrate(ctx, s.db, s.cfg.DataDir, s.deps.Now(), comps...); err != nil {
		return err
	} else if p != "" {
		s.log.Info("database saved before the schema migration", "path", p)
	}
	if err = s.db.Migrate(ctx, comps...); err != nil {
		return err
	}
	// Mail has a blob directory of its own: its garbage collector may
	// delete any body no message refers to.
	if s.blobs, err = s.blobDir("mail"); err != nil {
		return err
	}
	s.keys, err = auth.LoadKeys(filepath.Join(s.cfg.DataDir, "keys", "auth.key"))
	return err
}

// blobDir opens the blob directory of one owner ("mail", "queue",
// "files"): each has its own, so that one's garbage collector never sees
// another's bodies.
func (s *Server) blobDir(owner string) (blob.Store, error) {
	st, err := blob.OpenDir(filepath.Join(s.cfg.DataDir, "blobs", owner))
	if err != nil {
		return nil, err
	}
	if s.blobStores == nil {
		s.blobStores = map[string]blob.Store{}
	}
	s.blobStores[owner] = st
	return st, nil
}
