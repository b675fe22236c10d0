package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/caucus-org/caucus/cmd/caucus/server"
	"github.com/caucus-org/caucus/internal/config"
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
	zone, err := server.PublishedRecords(cfg, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "; DNS records for caucus at %s. Also publish A (and AAAA) records for\n; %s, and ask your provider for reverse DNS (PTR) pointing back to it.\n", cfg.Hostname, cfg.Hostname)
	fmt.Fprint(stdout, zone)
	return nil
}
