package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/tlsacme"
	"github.com/caucus-org/caucus/mail/store"
	"golang.org/x/crypto/acme/autocert"
)

// A party on several nodes shares one PostgreSQL database; the nodes tell
// each other of revocations and mail store changes through it (LISTEN/
// NOTIFY). On SQLite, one file is one node and both buses stay in the
// process.

// listener is a bus's end on this node: it receives the other nodes'
// messages until ctx ends ([db.Channel.Run] underneath).
type listener interface {
	Run(ctx context.Context, ready chan<- struct{}) error
}

// listen runs l among the loops, on every node; [Server.Serve] serves
// only once l listens (see awaitListeners).
func (s *Server) listen(l listener) {
	ready := make(chan struct{})
	s.listening = append(s.listening, ready)
	s.loops = append(s.loops, loopFunc(func(ctx context.Context) { l.Run(ctx, ready) }))
}

// listenWait bounds how long Serve waits for the listeners to listen: a
// PostgreSQL connection and a LISTEN take milliseconds; a node that cannot
// make them in this time does not serve.
const listenWait = 30 * time.Second

// awaitListeners waits until every listener of the other nodes' messages
// listens (none on SQLite). A node that accepted connections before
// would miss whatever the other nodes published meanwhile, with nothing
// to tell it so: a suspension made through another node would leave
// this node's sessions of that account open, a delivery would never
// reach an IDLE session here (TestNodeServesOnceListening).
func (s *Server) awaitListeners(ctx context.Context) error {
	timer := time.NewTimer(listenWait)
	defer timer.Stop()
	for i, ready := range s.listening {
		select {
		case <-ready:
		case <-timer.C:
			return fmt.Errorf("server: %d of %d listeners of the other nodes not listening after %v", len(s.listening)-i, len(s.listening), listenWait)
		case <-ctx.Done():
			return fmt.Errorf("server: waiting for the listeners of the other nodes: %w", context.Cause(ctx))
		}
	}
	return nil
}

// nodeName names this process among the nodes: the host name and a random
// part, new at every start, so that a node skips its own notifications
// and never another's.
func nodeName() string {
	var b [6]byte
	rand.Read(b[:])
	host, _ := os.Hostname()
	return host + "-" + hex.EncodeToString(b[:])
}

// revocations returns the revocation bus: the in-process hub on SQLite,
// the cluster's on PostgreSQL (its listener then runs as a loop).
func (s *Server) revocations() auth.Revocations {
	if s.db.Engine() != db.Postgres {
		// One node: live connections are revoked in process.
		return auth.NewHub()
	}
	r := auth.NewClusterRevocations(s.db, s.node, s.log.With("component", "auth"))
	s.listen(r)
	return r
}

// changeBus returns the mail store's change bus, likewise.
func (s *Server) changeBus() store.Changes {
	if s.db.Engine() != db.Postgres {
		return store.NewBus()
	}
	missed := s.reg.Counter("caucus_cluster_changes_missed_total", "Times this node's listener of the other nodes' mail changes was cut (live updates of that time were lost).")
	c := store.NewClusterChanges(s.db, s.node, s.log.With("component", "store"), func() { missed.Inc() })
	s.listen(c)
	return c
}

// acmeCache returns the ACME certificate cache the nodes share on
// PostgreSQL (sealed with a key derived from the server key, which every
// node has), or nil on SQLite (data_dir/acme).
func (s *Server) acmeCache(ctx context.Context) (autocert.Cache, error) {
	if s.db.Engine() != db.Postgres {
		return nil, nil
	}
	return tlsacme.NewDBCache(ctx, s.db, s.keys.Derive("acme-cache"))
}

// shareThrottles shares the sign-in throttles with the other nodes on
// PostgreSQL, so a guesser gains nothing by spreading guesses over them.
func (s *Server) shareThrottles() {
	if s.db.Engine() != db.Postgres {
		return
	}
	t := s.auth.ShareThrottles(s.db, s.node, s.log.With("component", "auth"))
	s.listen(t)
}

// shareSendLimits shares the hourly sending limits with the other nodes
// on PostgreSQL, so an account cannot send its limit once per node.
func (s *Server) shareSendLimits() {
	if s.db.Engine() != db.Postgres {
		return
	}
	l := s.submit.ShareSendLimits(s.db, s.node, s.log.With("component", "submit"))
	s.listen(l)
}

// shareLocks shares the WebDAV locks with the other nodes on PostgreSQL,
// so that a lock taken through one node holds through all.
func (s *Server) shareLocks(h *dav.Handler) {
	if s.db.Engine() != db.Postgres {
		return
	}
	l := h.ShareLocks(s.db, s.node, s.log.With("component", "dav"))
	s.listen(l)
}

// sharePaths makes the file store's path cache follow every node's
// writes on PostgreSQL (the database's triggers tell them); until its
// listener listens, and whenever it is cut, the cache is off.
func (s *Server) sharePaths() {
	if s.db.Engine() != db.Postgres {
		return
	}
	s.listen(s.files.SharePaths(s.db, s.log.With("component", "files")))
}

// shareAuthCaches turns on, on PostgreSQL, auth's caches of the app
// passwords checked and of members' groups, which the database's
// triggers keep true across nodes; until their listener listens, and
// whenever it is cut, every check reads the database.
func (s *Server) shareAuthCaches() {
	if s.db.Engine() != db.Postgres {
		return
	}
	s.listen(s.auth.ShareCaches(s.db, s.log.With("component", "auth")))
}

// shareRouteMemo makes, on PostgreSQL, the answers the MX asks of every
// recipient and sender (who an address reaches, its auto-reply, whether
// it is a role's, whether the sender is blocked) kept per node, and kept
// true across nodes by the database's triggers; until the memo's
// listener listens, and whenever it is cut, every lookup reads the
// database.
func (s *Server) shareRouteMemo() {
	if s.db.Engine() != db.Postgres {
		return
	}
	m := s.db.Memo(db.MailRouteChannel)
	s.dir.SetMemo(m)
	s.mail.SetMemo(m)
	s.phish.SetMemo(m)
	s.listen(m)
}
