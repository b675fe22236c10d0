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
	zone, err := publishedRecords(cfg, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "; DNS records for caucus at %s. Also publish A (and AAAA) records for\n; %s, and ask your provider for reverse DNS (PTR) pointing back to it.\n", cfg.Hostname, cfg.Hostname)
	fmt.Fprint(stdout, zone)
	return nil
}

// dkimKeys loads (or makes) the DKIM keys of every mail domain, by
// lower-case domain. Single-label names (the demo's "localhost") have no
// DNS to publish a key in and get none. The server signs with these keys;
// init and dns print their records.
func dkimKeys(cfg config.Config, now time.Time) (map[string][]msgauth.DKIMKey, error) {
	out := map[string][]msgauth.DKIMKey{}
	for _, d := range cfg.MailDomains {
		if !strings.Contains(d, ".") {
			continue
		}
		keys, err := msgauth.LoadOrCreateKeys(filepath.Join(cfg.DataDir, "dkim"), d, now)
		if err != nil {
			return nil, err
		}
		out[strings.ToLower(d)] = keys
	}
	return out, nil
}

// publishedRecords is the zone text of the records to publish, making the
// DKIM keys first if there are none yet.
func publishedRecords(cfg config.Config, now time.Time) (string, error) {
	keys, err := dkimKeys(cfg, now)
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "", errors.New("no mail domain with a dot: nothing to publish")
	}
	return dnsrec.Zone(dnsrec.Records(cfg.Hostname, cfg.MailDomains, dnsKeys(keys))), nil
}
