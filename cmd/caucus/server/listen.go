package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/tlsacme"
	"golang.org/x/crypto/acme/autocert"
)

// FreeListen moves every configured listener to a free port on 127.0.0.1
// (tests, or a demo whose usual ports are taken).
func FreeListen(l config.Listen) config.Listen {
	for _, a := range []*string{&l.HTTPS, &l.HTTP, &l.IMAPS, &l.IMAP, &l.SMTP, &l.Submission, &l.Submissions, &l.Metrics} {
		if *a != "" {
			*a = "127.0.0.1:0"
		}
	}
	return l
}

// listeners are the bound sockets, by name ("https", "imaps", …).
type listeners map[string]net.Listener

// bind opens every configured listener, or none: on an error the ones
// already open are closed. Binding first lets caucus fail before it starts
// anything when a port is taken.
func bind(l config.Listen) (listeners, error) {
	lns := listeners{}
	for _, x := range []struct{ name, addr string }{
		{"https", l.HTTPS}, {"http", l.HTTP}, {"imaps", l.IMAPS}, {"imap", l.IMAP},
		{"smtp", l.SMTP}, {"submission", l.Submission}, {"submissions", l.Submissions},
		{"metrics", l.Metrics},
	} {
		if x.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", x.addr)
		if err != nil {
			lns.close()
			return nil, fmt.Errorf("listen %s: %w", x.name, err)
		}
		lns[x.name] = ln
	}
	if lns["https"] == nil {
		lns.close()
		return nil, errors.New("listen https: no address configured")
	}
	return lns, nil
}

func (lns listeners) close() {
	for _, ln := range lns {
		ln.Close()
	}
}

// publicURL is the web interface's address as browsers reach it.
func publicURL(host string, addr net.Addr) string {
	port := ""
	if ta, ok := addr.(*net.TCPAddr); ok && ta.Port != 443 {
		port = fmt.Sprintf(":%d", ta.Port)
	}
	return "https://" + host + port
}

func redirectHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" || strings.ContainsAny(host, "/\\@") {
		http.Error(w, "bad host", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
}

// tlsManager returns what hands out the certificate of every listener:
// the dev store's, the configured files', or ACME's (keeping what it
// obtains in data_dir/acme, or in what cache returns when that is not nil:
// the database the nodes share).
func tlsManager(ctx context.Context, cfg config.Config, dev bool, now func() time.Time, log *slog.Logger, al *audit.Log, cache func(context.Context) (autocert.Cache, error)) (*tlsacme.Manager, error) {
	switch {
	case dev:
		cert, err := devcert.Ensure(cfg.TLS.CertFile, cfg.TLS.KeyFile, now())
		if err != nil {
			return nil, err
		}
		return tlsacme.Fixed(cfg.Hostname, cert), nil
	case cfg.TLS.CertFile != "":
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		return tlsacme.Fixed(cfg.Hostname, cert), nil
	}
	var roots *x509.CertPool
	if cfg.ACMECAFile != "" {
		data, err := os.ReadFile(cfg.ACMECAFile)
		if err != nil {
			return nil, fmt.Errorf("acme_ca_file: %w", err)
		}
		if roots, err = tlsacme.LoadRoots(data); err != nil {
			return nil, fmt.Errorf("acme_ca_file %s: %w", cfg.ACMECAFile, err)
		}
	}
	var shared autocert.Cache
	if cache != nil {
		var err error
		if shared, err = cache(ctx); err != nil {
			return nil, err
		}
	}
	return tlsacme.New(tlsacme.Config{
		Cache:        shared,
		Hostname:     cfg.Hostname,
		Names:        tlsacme.Names(cfg.Hostname, cfg.MailDomains),
		Contact:      cfg.ACMEContact,
		DirectoryURL: cfg.ACMEDirectory,
		Roots:        roots,
		CacheDir:     filepath.Join(cfg.DataDir, "acme"),
		RenewBefore:  tlsacme.DefaultRenewBefore,
		Log:          log,
		OnCertificate: func(ctx context.Context, name string, notAfter time.Time) {
			ev := audit.Event{Kind: "tls.certificate", Detail: "name=" + name + " not_after=" + notAfter.UTC().Format(time.RFC3339) + " acme=" + cfg.ACMEDirectory}
			if err := al.Record(context.WithoutCancel(ctx), ev); err != nil {
				log.Error("audit: certificate obtained", "name", name, "err", err)
			}
		},
	})
}
