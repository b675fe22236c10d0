// Command caucus runs the caucus appliance: mail, files and a login that
// cannot be phished, for a small political party, on one machine.
//
// Usage:
//
//	caucus serve --dev --data DIR    local demo on 127.0.0.1 (HTTPS on 8443)
//	caucus serve --config FILE       production
//	caucus init  [flags]             write a commented production config
//	caucus dns, queue, backup, restore, admin, audit   (see caucus help)
//	caucus version
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/caucus-org/caucus/internal/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `caucus: mail, files and unphishable sign-in for a small party, on one machine.

Usage:
  caucus serve --dev --data DIR   run the local demo (127.0.0.1, https://localhost:8443)
  caucus serve --config FILE      run for real
  caucus init [flags]             write a commented production configuration
  caucus dns --config FILE        print the DNS records to publish (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT)
  caucus queue list|retry ID|drop ID --config FILE   show or manage the outbound mail queue
  caucus backup [DEST]            make an encrypted backup now (also: backup verify, backup list)
  caucus restore --data NEWDIR --identity FILE DEST   restore a backup on a new machine
  caucus admin invite|offboard|suspend|resume|list|audit   manage people through the running server
  caucus audit verify --config FILE   check the audit log's hash chain
  caucus storage migrate --to NEW.toml --config FILE   move the database and blobs to NEW.toml's [storage] (caucus stopped)
  caucus version                  print the version

Run "caucus COMMAND -h" for a command's flags.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serveCmd(args[1:], stdout, stderr)
	case "init":
		err = initCmd(args[1:], stdout, stderr)
	case "dns":
		err = dnsCmd(args[1:], stdout, stderr)
	case "queue":
		err = queueCmd(args[1:], stdout, stderr)
	case "backup":
		err = backupCmd(args[1:], stdout, stderr)
	case "restore":
		err = restoreCmd(args[1:], stdout, stderr)
	case "admin":
		err = adminCmd(args[1:], stdout, stderr)
	case "audit":
		err = auditCmd(args[1:], stdout, stderr)
	case "storage":
		err = storageCmd(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "caucus: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "caucus %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// dataFlags adds --config and --data to fs and returns a function that
// gives the data directory they name.
func dataFlags(fs *flag.FlagSet) func() (string, error) {
	cfgFile := fs.String("config", "/etc/caucus/caucus.toml", "configuration file")
	data := fs.String("data", "", "data directory, instead of the one --config names (e.g. of a --dev server)")
	return func() (string, error) {
		if *data != "" {
			return *data, nil
		}
		cfg, err := config.Load(*cfgFile)
		if err != nil {
			return "", err
		}
		return cfg.DataDir, nil
	}
}

// parseInterleaved parses flags that may come before or after the
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
