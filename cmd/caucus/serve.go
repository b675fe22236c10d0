package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/caucus-org/caucus/cmd/caucus/server"
	"github.com/caucus-org/caucus/internal/config"
)

// shutdownTimeout bounds the two phases of the shutdown together.
const shutdownTimeout = 20 * time.Second

// serveFlags are serve's command line.
type serveFlags struct {
	cfgFile, data, httpsAddr, firstAdmin string
	dev, freePorts                       bool
}

func serveCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	fs.StringVar(&f.cfgFile, "config", "", "configuration file (see caucus init)")
	fs.BoolVar(&f.dev, "dev", false, "run the local demo: 127.0.0.1 only, self-signed certificate, data in --data")
	fs.StringVar(&f.data, "data", "", "data directory for --dev")
	fs.StringVar(&f.httpsAddr, "https", "", "with --dev: listen address for HTTPS instead of 127.0.0.1:8443")
	fs.BoolVar(&f.freePorts, "free-ports", false, "with --dev: let the system choose free ports for every listener, on 127.0.0.1 or, with --config, on each listener's host (tests, or when the usual ports are taken)")
	fs.StringVar(&f.firstAdmin, "first-admin", "", "address of the first admin, invited on first start (default admin@ the first mail domain)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		if errors.Is(err, errUsage) {
			fs.Usage()
		}
		return err
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	return serve(cfg, server.Deps{Dev: f.dev, FirstAdmin: f.firstAdmin, Log: log, Out: stdout}, log)
}

var errUsage = errors.New("give either --dev --data DIR or --config FILE (with --dev: the demo's safeguards on the file's configuration)")

// freePortsOnHosts keeps each configured listener's host and lets the
// system choose its port: nodes of a test on 127.0.0.1 and 127.0.0.2.
func freePortsOnHosts(l config.Listen) config.Listen {
	for _, a := range []*string{&l.HTTPS, &l.HTTP, &l.IMAPS, &l.IMAP, &l.SMTP, &l.Submission, &l.Submissions, &l.Metrics} {
		if host, _, err := net.SplitHostPort(*a); err == nil {
			*a = net.JoinHostPort(host, "0")
		}
	}
	return l
}

// config is the configuration the flags name: the demo's, or a file's.
func (f serveFlags) config() (config.Config, error) {
	switch {
	case f.dev && f.cfgFile == "":
		if f.data == "" {
			return config.Config{}, errors.New("--dev needs --data DIR")
		}
		dir, err := filepath.Abs(f.data)
		if err != nil {
			return config.Config{}, err
		}
		cfg := config.Dev(dir)
		if err := cfg.Validate(); err != nil {
			return config.Config{}, err
		}
		if f.freePorts {
			cfg.Listen = server.FreeListen(cfg.Listen)
		}
		if f.httpsAddr != "" {
			cfg.Listen.HTTPS = f.httpsAddr // port 0 allowed: tests and a busy 8443
		}
		return cfg, nil
	case f.cfgFile != "" && f.data == "" && f.httpsAddr == "":
		// With --dev, a file's configuration runs with the demo's
		// safeguards (no DNS asked, the certificate devcert keeps):
		// tests of several nodes on one machine.
		cfg, err := config.Load(f.cfgFile)
		if err != nil || !f.freePorts {
			return cfg, err
		}
		if !f.dev {
			return config.Config{}, errors.New("--free-ports needs --dev")
		}
		cfg.Listen = freePortsOnHosts(cfg.Listen)
		return cfg, nil
	}
	return config.Config{}, errUsage
}

// serve runs the server until SIGTERM or SIGINT, then shuts it down in
// two phases; a second signal exits at once.
func serve(cfg config.Config, deps server.Deps, log *slog.Logger) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx := context.Background()
	srv, err := server.New(ctx, cfg, deps)
	if err != nil {
		return err
	}
	if err := srv.Serve(ctx); err != nil {
		return err
	}
	sig := <-sigs
	log.Info("shutting down: refusing new work, finishing what is in flight (a second signal exits at once)", "signal", sig.String())
	go func() {
		sig := <-sigs
		log.Error("second signal: exiting at once", "signal", sig.String())
		os.Exit(1)
	}()
	sctx, cancel := context.WithTimeout(ctx, shutdownTimeout)
	defer cancel()
	return srv.Shutdown(sctx)
}

func newLogger(c config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
