// Command build makes the caucus .deb and .rpm packages from a built binary
// with nfpm (github.com/goreleaser/nfpm/v2), no outside tool needed:
//
//	go build -trimpath -ldflags=-s -o /tmp/caucus ./cmd/caucus
//	go run ./packaging/build -binary /tmp/caucus -version 0.1.0 -out dist
//
// The packages install the binary as /usr/bin/caucus, the systemd unit, the
// sysusers.d and tmpfiles.d snippets that create the user caucus and
// /var/lib/caucus, and scripts that apply them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n", err)
		os.Exit(1)
	}
}

// Options say what to package.
type Options struct {
	Binary  string    // the built caucus binary
	Src     string    // the packaging/ directory: unit, snippets, scripts
	Version string    // e.g. "0.1.0"
	Arch    string    // Go architecture, e.g. "amd64"
	Out     string    // directory the packages go to
	MTime   time.Time // the files' time, for reproducible packages
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.StringVar(&o.Binary, "binary", "", "the caucus binary to package (required)")
	fs.StringVar(&o.Src, "src", "packaging", "the packaging directory with the unit and snippets")
	fs.StringVar(&o.Version, "version", "0.1.0", "package version")
	fs.StringVar(&o.Arch, "arch", "amd64", "architecture, as Go names it")
	fs.StringVar(&o.Out, "out", "dist", "output directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Binary == "" || fs.NArg() != 0 {
		fs.Usage()
		return errors.New("give -binary FILE")
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		var sec int64
		if _, err := fmt.Sscan(v, &sec); err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		o.MTime = time.Unix(sec, 0).UTC()
	}
	for _, format := range []string{"deb", "rpm"} {
		p, err := Package(o, format)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, p)
	}
	return nil
}

// info describes the package; contents are the same for both formats.
func info(o Options) *nfpm.Info {
	src := func(name string) string { return filepath.Join(o.Src, name) }
	file := func(s, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: s, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, MTime: o.MTime}}
	}
	return &nfpm.Info{
		Name:        "caucus",
		Arch:        o.Arch,
		Platform:    "linux",
		Version:     o.Version,
		Section:     "mail",
		Priority:    "optional",
		Maintainer:  "caucus maintainers <caucus@example.org>",
		Description: "Mail, files and unphishable sign-in for a small political party, on one machine.",
		Homepage:    "https://github.com/caucus-org/caucus",
		License:     "AGPL-3.0-or-later",
		MTime:       o.MTime,
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				file(o.Binary, "/usr/bin/caucus", 0o755),
				file(src("caucus.service"), "/usr/lib/systemd/system/caucus.service", 0o644),
				file(src("caucus.sysusers"), "/usr/lib/sysusers.d/caucus.conf", 0o644),
				file(src("caucus.tmpfiles"), "/usr/lib/tmpfiles.d/caucus.conf", 0o644),
			},
			Scripts: nfpm.Scripts{
				PostInstall: src("postinstall.sh"),
				PreRemove:   src("preremove.sh"),
			},
			Deb: nfpm.Deb{Compression: "zstd"}, // dpkg ≥ 1.21.18 (Debian 12, Ubuntu 21.10)
			RPM: nfpm.RPM{Compression: "zstd", Group: "System Environment/Daemons"},
		},
	}
}

// Package writes the package of the given format ("deb" or "rpm") into
// o.Out and returns its path.
func Package(o Options, format string) (string, error) {
	if o.MTime.IsZero() {
		o.MTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	in := nfpm.WithDefaults(info(o))
	if err := nfpm.PrepareForPackager(in, format); err != nil {
		return "", fmt.Errorf("%s: %w", format, err)
	}
	if err := nfpm.Validate(in); err != nil {
		return "", fmt.Errorf("%s: %w", format, err)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return "", err
	}
	name := filepath.Join(o.Out, pkgr.ConventionalFileName(in))
	f, err := os.Create(name)
	if err != nil {
		return "", err
	}
	if err := pkgr.Package(in, f); err != nil {
		f.Close()
		os.Remove(name)
		return "", fmt.Errorf("%s: %w", format, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return name, nil
}
