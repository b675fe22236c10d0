package server

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Round trips, counted for BenchmarkDAVManyFiles's PostgreSQL target when
// CAUCUS_BENCH_COUNT=1: the caucus node talks to PostgreSQL and to the
// object store through two counting proxies on 127.0.0.1, and each run
// reports the round trips per file (pg-rt/file, s3-req/file). The proxies
// add a hop, so the rates of a counting run are not the ones to quote.

// pgCounter is a TCP proxy in front of PostgreSQL that counts the round
// trips its clients make: each Sync message of the extended query
// protocol and each simple Query message is one wait for the server
// (PostgreSQL protocol 3.0, "Message Flow": Sync ends an extended query's
// messages and the server answers with ReadyForQuery).
type pgCounter struct {
	ln   net.Listener
	to   string
	trip atomic.Int64
	wg   sync.WaitGroup

	mu    sync.Mutex
	tally map[string]int // statement text → times run (Bind or Query)
}

// newPGCounter starts a counting proxy to the server at addr and returns
// it; it stops when b ends.
func newPGCounter(b *testing.B, addr string) *pgCounter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p := &pgCounter{ln: ln, to: addr, tally: map[string]int{}}
	p.wg.Add(1)
	go p.accept()
	b.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// Addr is the proxy's address.
func (p *pgCounter) Addr() string { return p.ln.Addr().String() }

// Trips returns the round trips counted so far.
func (p *pgCounter) Trips() int64 { return p.trip.Load() }

func (p *pgCounter) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

// serve relays one client connection, counting its messages to the
// server; the server's side is copied as it is.
func (p *pgCounter) serve(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	defer s.Close()
	go func() { io.Copy(c, s); c.Close() }()
	r := bufio.NewReader(c)
	// The startup message has no type byte: a length, then its body.
	if _, _, err := relayMessage(r, s, false); err != nil {
		return
	}
	named := map[string]string{} // prepared statement → its text
	for {
		typ, body, err := relayMessage(r, s, true)
		if err != nil {
			return
		}
		p.note(named, typ, body)
	}
}

// note counts one frontend message of type typ: a Sync ('S') or a Query
// ('Q') is a round trip; a Bind ('B') or a Query is a statement run,
// tallied by its text (a Parse, 'P', names the text of a prepared one).
func (p *pgCounter) note(named map[string]string, typ byte, body []byte) {
	fields := bytes.SplitN(body, []byte{0}, 3)
	switch typ {
	case 'S':
		p.trip.Add(1)
	case 'Q':
		p.trip.Add(1)
		p.count(string(fields[0]))
	case 'P':
		if len(fields) >= 2 {
			named[string(fields[0])] = string(fields[1])
		}
	case 'B':
		if len(fields) >= 2 {
			p.count(named[string(fields[1])])
		}
	}
}

func (p *pgCounter) count(query string) {
	p.mu.Lock()
	p.tally[strings.Join(strings.Fields(query), " ")]++
	p.mu.Unlock()
}

// Tally returns the statements run so far, by text, and empties it.
func (p *pgCounter) Tally() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tally
	p.tally = map[string]int{}
	return t
}

// relayMessage copies one frontend message from r to w and returns its
// type (0 for the untyped startup message) and its body (the first
// maxNoted bytes).
func relayMessage(r *bufio.Reader, w io.Writer, typed bool) (byte, []byte, error) {
	var head [5]byte
	h := head[:4]
	if typed {
		h = head[:5]
	}
	if _, err := io.ReadFull(r, h); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[len(h)-4:])
	if n < 4 {
		return 0, nil, errors.New("pgcounter: bad message length")
	}
	if _, err := w.Write(h); err != nil {
		return 0, nil, err
	}
	var body []byte
	if typed && (h[0] == 'P' || h[0] == 'B' || h[0] == 'Q') {
		body = make([]byte, min(n-4, maxNoted))
		if _, err := io.ReadFull(r, body); err != nil {
			return 0, nil, err
		}
		if _, err := w.Write(body); err != nil {
			return 0, nil, err
		}
		n -= uint32(len(body))
	}
	_, err := io.CopyN(w, r, int64(n-4))
	if !typed {
		return 0, nil, err
	}
	return h[0], body, err
}

// maxNoted is the most of a message's body the counter reads.
const maxNoted = 4096

// s3Counter is an HTTP proxy in front of the object store that counts
// the requests made through it, by method. The requests are signed for
// the proxy's host, which it passes on unchanged.
type s3Counter struct {
	srv  *http.Server
	addr string
	reqs sync.Map // method → *atomic.Int64
	all  atomic.Int64
}

// newS3Counter starts a counting proxy to the plain-HTTP endpoint
// (host:port) and returns it; it stops when b ends.
func newS3Counter(b *testing.B, endpoint string) *s3Counter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	c := &s3Counter{addr: ln.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: endpoint})
	c.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.all.Add(1)
		v, _ := c.reqs.LoadOrStore(r.Method, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		rp.ServeHTTP(w, r)
	})}
	go c.srv.Serve(ln)
	b.Cleanup(func() { c.srv.Close() })
	return c
}

// Requests returns the requests counted so far.
func (c *s3Counter) Requests() int64 { return c.all.Load() }

// counts is what the counting proxies of a target have seen: round
// trips and requests, and the statements run since the last look.
type counts struct {
	pg, s3 int64
	tally  map[string]int
}

// reportCounts reports the round trips per file since before.
func (m *manyFiles) reportCounts(b *testing.B, tg davTarget, before counts) {
	if tg.counts == nil {
		return
	}
	now := tg.counts()
	b.ReportMetric(float64(now.pg-before.pg)/float64(m.n), "pg-rt/file")
	b.ReportMetric(float64(now.s3-before.s3)/float64(m.n), "s3-req/file")
	type stmt struct {
		q string
		n int
	}
	var list []stmt
	for q, n := range now.tally {
		list = append(list, stmt{q, n})
	}
	slices.SortFunc(list, func(a, b stmt) int { return cmp.Compare(b.n, a.n) })
	var sb strings.Builder
	for _, s := range list {
		fmt.Fprintf(&sb, "%6.2f per file  %.160s\n", float64(s.n)/float64(m.n), s.q)
	}
	// Printed, not logged: a benchmark's log is cut after a few lines.
	fmt.Fprintf(os.Stderr, "%s: statements run on PostgreSQL (most run first):\n%s", b.Name(), sb.String())
}

// count returns what tg's counting proxies have seen so far (zero when
// it has none).
func (tg davTarget) count() counts {
	if tg.counts == nil {
		return counts{}
	}
	return tg.counts()
}
