// Package pebbletest runs Pebble, Let's Encrypt's ACME test server, in
// process for tests: its CA, database, validation authority and web front
// end behind an httptest TLS server on 127.0.0.1, with a DNS server of its
// own that answers 127.0.0.1 for every name, so that challenges reach only
// the ports of the server under test and nothing leaves the machine.
package pebbletest

import (
	"crypto/x509"
	"encoding/binary"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Server is a running Pebble.
type Server struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// Roots verify the HTTPS certificate of DirectoryURL.
	Roots *x509.CertPool

	t       testing.TB
	log     *log.Logger
	db      *db.MemoryStore
	ca      *ca.CAImpl
	dnsAddr string
	handler atomic.Pointer[http.Handler]

	serverCert []byte
}

// ServerCertificates returns the DER certificates that verify
// DirectoryURL's HTTPS, for writing a roots file.
func (s *Server) ServerCertificates() [][]byte { return [][]byte{s.serverCert} }

// Start starts Pebble's HTTPS front end and DNS server; it answers ACME
// requests once [Server.Validate] has said where the challenges go. It
// sets environment variables (no random validation delays, no injected
// bad nonces), so the calling test cannot be parallel.
func Start(t testing.TB) *Server { return StartValidity(t, 0) }

// StartValidity is [Start] with certificates valid for validity (whole
// seconds; 0 means Pebble's default of 90 days), to test renewal.
func StartValidity(t testing.TB, validity time.Duration) *Server {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	s := &Server{t: t, log: log.New(t.Output(), "pebble: ", 0)}
	s.db = db.NewMemoryStore()
	s.ca = ca.New(s.log, s.db, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default", ValidityPeriod: uint64(validity / time.Second)}})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := s.handler.Load()
		if h == nil {
			http.Error(w, "pebbletest: Validate not called yet", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = s.log
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.DirectoryURL = srv.URL + wfe.DirectoryPath
	s.Roots = x509.NewCertPool()
	s.Roots.AddCert(srv.Certificate())
	s.serverCert = srv.Certificate().Raw
	s.dnsAddr = s.serveDNS()
	return s
}

// Validate starts the validation authority: HTTP-01 challenges go to
// 127.0.0.1:httpPort and TLS-ALPN-01 challenges to 127.0.0.1:tlsPort.
func (s *Server) Validate(httpPort, tlsPort int) {
	v := va.New(s.log, httpPort, tlsPort, false, s.dnsAddr, s.db)
	w := wfe.New(s.log, s.db, v, s.ca, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	h := w.Handler()
	s.handler.Store(&h)
}

// IssuerRoots returns the roots of the certificates Pebble issues.
func (s *Server) IssuerRoots() *x509.CertPool {
	p := x509.NewCertPool()
	for i := range s.ca.GetNumberOfRootCerts() {
		p.AddCert(s.ca.GetRootCert(i).Cert)
	}
	return p
}

// serveDNS answers DNS over TCP (RFC 1035 section 4.2.2) on 127.0.0.1:
// A 127.0.0.1 for every name, no other record.
func (s *Server) serveDNS() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.dnsConn(c)
		}
	}()
	return ln.Addr().String()
}

func (s *Server) dnsConn(c net.Conn) {
	defer c.Close()
	for {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var n uint16
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf)
		if err != nil {
			return
		}
		q, err := p.Question()
		if err != nil {
			return
		}
		b := dnsmessage.NewBuilder(make([]byte, 2, 512), dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		b.EnableCompression()
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		if q.Type == dnsmessage.TypeA {
			b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
		}
		out, err := b.Finish()
		if err != nil {
			s.t.Errorf("pebbletest dns: %v", err)
			return
		}
		binary.BigEndian.PutUint16(out, uint16(len(out)-2))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
