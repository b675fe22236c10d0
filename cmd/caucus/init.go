package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/caucus-org/caucus/cmd/caucus/server"
	"github.com/caucus-org/caucus/internal/config"
)

// initCmd writes a commented production configuration and checks it.
func initCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("config", "/etc/caucus/caucus.toml", "where to write the configuration")
	hostname := fs.String("hostname", "", "public host name of this server, e.g. mail.example-party.org (required)")
	domain := fs.String("domain", "", "the party's mail domain, e.g. example-party.org (required)")
	data := fs.String("data", "/var/lib/caucus", "data directory (database, blobs, keys)")
	acme := fs.String("acme-contact", "", "e-mail address for the ACME (Let's Encrypt) account (required unless you set tls cert_file/key_file by hand)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *hostname == "" || *domain == "" {
		fs.Usage()
		return errors.New("--hostname and --domain are required")
	}
	dataDir, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	text := config.Template(*hostname, *domain, dataDir, *acme)
	if _, err := config.Parse(text); err != nil {
		return fmt.Errorf("the configuration would not be valid:\n%w", err)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; not overwriting it", *out)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	cfg, err := config.Parse(text)
	if err != nil {
		return err
	}
	// DKIM keys are made now, so the records can be published before the
	// first message is sent.
	zone, err := server.PublishedRecords(cfg, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n\nPublish these DNS records (caucus dns --config %s prints them again):\n\n", *out, *out)
	fmt.Fprint(stdout, zone)
	fmt.Fprintf(stdout, "\nnext: read the configuration, then run: caucus serve --config %s\n", *out)
	return nil
}
