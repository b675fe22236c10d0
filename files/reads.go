package files

import (
	"context"
	"fmt"

	"github.com/caucus-org/caucus/internal/audit"
)

// Reads are traced so that an admin can answer "who had this file, and
// when" after a leak: every opening of a file's content that is not the
// owner reading their own home (a group folder's file, a file shared with
// the reader, a file fetched through a public link) is recorded in the
// audit log as "files.read", with the reader (or the link), the file's id,
// space and path, and the address. The requests of one reader's address
// for the same file within DownloadWindow (the Range requests of one
// download, a client's second look) are recorded once. The records are
// written in batches ([audit.Log.RecordSoon]): a read does not wait for
// a disk flush of its own.

// recordRead records a's reading of n, or (link > 0) a download of n
// through public link link.
func (s *Store) recordRead(ctx context.Context, a Actor, n Node, link int64) {
	if s.audit == nil || n.Dir {
		return
	}
	if link == 0 {
		if n.Space.Kind == SpaceHome && n.Space.ID == a.ID {
			return // one's own work, as uploads are (see the package doc)
		}
		if s.counted(fetch{account: a.ID, node: n.ID, addr: a.Client.Addr.Unmap()}) {
			return
		}
	}
	via := "member"
	if link > 0 {
		via = fmt.Sprintf("link=%d", link)
	}
	subject := ""
	if n.Space.Kind == SpaceHome {
		subject = n.Space.Name // whose file it is
	}
	e := audit.Event{Actor: a.Login, Subject: subject, Kind: "files.read", UserAgent: a.Client.UserAgent,
		Detail: fmt.Sprintf("file=%d space=%s:%s path=%s size=%d %s", n.ID, n.Space.Kind, n.Space.Name, n.Path, n.Size, via)}
	if a.Client.Addr.IsValid() {
		e.Addr = a.Client.Addr.String()
	}
	if err := s.audit.RecordSoon(ctx, e); err != nil {
		s.log.Error("audit record", "kind", e.Kind, "err", err)
	}
}
