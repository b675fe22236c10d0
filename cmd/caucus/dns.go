package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/mail/dnsrec"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// dnsCmd prints the DNS records to publish for the configured host and
// mail domains, making the DKIM keys first if there are none yet.
func dnsCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "/etc/caucus/caucus.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgFile)
	if err != nil {
		return err
	}
	keys, err := dkimKeys(cfg, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "; DNS records for caucus at %s. Also publish A (and AAAA) records for\n; %s, and ask your provider for reverse DNS (PTR) pointing back to it.\n", cfg.Hostname, cfg.Hostname)
	fmt.Fprint(stdout, dnsrec.Zone(dnsrec.Records(cfg.Hostname, cfg.MailDomains, keys)))
	return nil
}

// dkimKeys loads (or makes) the DKIM keys of every mail domain, as the
// server does at start.
func dkimKeys(cfg config.Config, now time.Time) (map[string][]dnsrec.DKIMKey, error) {
	out := map[string][]dnsrec.DKIMKey{}
	for _, d := range cfg.MailDomains {
		if !strings.Contains(d, ".") {
			continue
		}
		keys, err := msgauth.LoadOrCreateKeys(filepath.Join(cfg.DataDir, "dkim"), d, now)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			out[strings.ToLower(d)] = append(out[strings.ToLower(d)], k)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no mail domain with a dot: nothing to publish")
	}
	return out, nil
}
