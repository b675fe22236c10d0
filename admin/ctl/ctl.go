// Package ctl is caucus's control socket: the way `caucus admin …` on the
// server's shell reaches the running server, so that its actions (suspend,
// offboard) close live connections exactly as the console's do. Both call
// the same functions of package admin.
//
// The socket is ctl.sock in the data directory; the directory is made
// mode 0700 and the socket 0600, so only the service user (and root)
// reaches it, and the server also checks the peer's user id
// (SO_PEERCRED) and refuses any other. Each action is recorded with the
// actor "cli:<unix user>".
//
// The protocol is line-delimited JSON: the client writes a [Request] on
// one line, at most [MaxRequest] bytes, and the server answers with one
// [Response] line. A connection may carry several requests in turn; it is
// closed after [Config.IdleTimeout] without one. Every read and write has
// a deadline and every operation a time limit.
package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
)

// SocketName is the socket's file name in the data directory.
const SocketName = "ctl.sock"

// Call is one request as a handler sees it.
type Call struct {
	Actor string          // "cli:<unix user>"
	Args  json.RawMessage // the request's arguments (may be empty)
}

// Handler performs one operation and returns its result, which is
// encoded as JSON.
type Handler func(ctx context.Context, c Call) (any, error)

// Config sets the server's limits.
type Config struct {
	IdleTimeout  time.Duration // wait for a request; default 1 minute
	WriteTimeout time.Duration // write a response; default 30 s
	OpTimeout    time.Duration // one operation; default 5 minutes (offboarding copies mail)
	MaxConns     int           // connections at once; default 8
	MaxResult    int           // bytes of one encoded result; default (and at most) MaxResponse less room for the envelope
}

func (c *Config) defaults() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = 5 * time.Minute
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 8
	}
	if c.MaxResult <= 0 || c.MaxResult > MaxResponse-64 {
		c.MaxResult = MaxResponse - 64
	}
}

// Server serves the control socket.
type Server struct {
	cfg      Config
	handlers map[string]Handler
	audit    *audit.Log
	log      *slog.Logger
	slots    chan struct{}

	mu     sync.Mutex
	ln     *net.UnixListener
	conns  map[net.Conn]struct{}
	closed bool
	cancel context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup
}

// New builds a server that dispatches to handlers by operation name and
// records refused peers in the audit log.
func New(cfg Config, handlers map[string]Handler, a *audit.Log, log *slog.Logger) *Server {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, handlers: handlers, audit: a, log: log, slots: make(chan struct{}, cfg.MaxConns),
		conns: map[net.Conn]struct{}{}, ctx: ctx, cancel: cancel}
}

// Listen makes the data directory 0700 and binds dataDir/ctl.sock, mode
// 0600. A socket file left by a server that died is replaced; one that a
// running server answers on is an error.
func Listen(dataDir string) (*net.UnixListener, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	path := filepath.Join(dataDir, SocketName)
	if len(path) >= 104 { // sun_path: 108 bytes on Linux, 104 on the BSDs
		return nil, fmt.Errorf("ctl: socket path %q is too long for a Unix socket; use a shorter data directory", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("ctl: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("ctl: another caucus server is running on %s", path)
		}
		os.Remove(path) // stale
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	// The directory (0700) keeps others out between bind and chmod.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("ctl: %w", err)
	}
	return ln, nil
}

// Serve accepts connections until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve(ln *net.UnixListener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.ln = ln
	s.mu.Unlock()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("ctl: accept: %w", err)
		}
		select {
		case s.slots <- struct{}{}:
		default:
			c.SetWriteDeadline(time.Now().Add(time.Second))
			writeJSON(c, Response{Error: "too many control connections; try again"})
			c.Close()
			continue
		}
		if !s.track(c, true) {
			<-s.slots
			c.Close()
			return nil
		}
		s.wg.Go(func() {
			defer func() { <-s.slots }()
			defer s.track(c, false)
			defer c.Close()
			s.serveConn(c)
		})
	}
}

// track adds or removes a live connection; false once shut down.
func (s *Server) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) serveConn(c *net.UnixConn) {
	cred, err := peerCredentials(c)
	if err != nil {
		s.log.Warn("ctl: peer credentials", "err", err)
		return
	}
	if cred.uid != uint32(os.Getuid()) && cred.uid != 0 {
		// The socket's mode should make this impossible; refuse anyway.
		s.log.Warn("ctl: refused peer", "uid", cred.uid)
		if s.audit != nil {
			s.audit.Record(s.ctx, audit.Event{Actor: cred.actor(), Kind: "ctl.connect", Outcome: audit.Refused, Reason: "wrong-user"})
		}
		c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		writeJSON(c, Response{Error: "not allowed: run this as the caucus service user or root"})
		return
	}
	actor := cred.actor()
	log := s.log.With("actor", actor)
	r := bufio.NewReaderSize(c, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		line, err := readLine(r, MaxRequest)
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
				writeJSON(c, Response{Error: fmt.Sprintf("request over %d bytes", MaxRequest)})
			}
			return
		}
		resp := s.handle(line, actor, log)
		c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if err := writeJSON(c, resp); err != nil {
			log.Debug("ctl: write", "err", err)
			return
		}
	}
}

// handle runs one request line and returns its response.
func (s *Server) handle(line []byte, actor string, log *slog.Logger) Response {
	req, err := DecodeRequest(line)
	if err != nil {
		return Response{Error: err.Error()}
	}
	h := s.handlers[req.Op]
	if h == nil {
		return Response{Error: fmt.Sprintf("%v: %q", ErrUnknownOp, req.Op)}
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.OpTimeout)
	defer cancel()
	start := time.Now()
	res, err := h(ctx, Call{Actor: actor, Args: req.Args})
	if err != nil {
		log.Info("ctl: operation failed", "op", req.Op, "err", err)
		return Response{Error: err.Error()}
	}
	b, err := json.Marshal(res)
	if err != nil {
		log.Error("ctl: encode result", "op", req.Op, "err", err)
		return Response{Error: "internal error encoding the result"}
	}
	if len(b) > s.cfg.MaxResult {
		return Response{Error: "result too large; narrow the request"}
	}
	log.Info("ctl: operation", "op", req.Op, "duration", time.Since(start))
	return Response{OK: true, Result: b}
}

// Shutdown stops accepting connections, lets operations under way finish
// until ctx ends, then cancels them and closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	ln := s.ln
	for c := range s.conns {
		// Idle connections wake up now; busy ones finish their operation.
		c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close() // removes the socket file
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.cancel()
	return err
}
