package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/caucus-org/caucus/cmd/caucus/server"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
)

const backupUsage = `Usage:
  caucus backup [--config FILE] [--data DIR] [--recipient age1…] [DEST]
        make an encrypted backup now, while the server runs (DEST and the
        recipient default to [backup] in the configuration; with blobs in
        S3, [storage] blobs = "s3", give the configuration, which says where)
  caucus backup verify --identity FILE [--snapshot ID] DEST
        decrypt and check a backup without restoring it (the newest by default)
  caucus backup list DEST
        list the complete backups in DEST
  caucus restore --identity FILE --data NEWDIR [--snapshot ID] DEST
        restore a backup into a new, empty data directory

Run backup as the user caucus runs as (sudo -u caucus caucus backup), so the
files it creates in the data directory stay the server's.

With the database in PostgreSQL ([storage] database = "postgres"), backup runs
pg_dump (Debian package postgresql-client) and keeps the dump in the backup,
as caucus.pgdump, which restore puts in NEWDIR for pg_restore; without pg_dump
the backup holds the blobs and the keys, not the database.
`

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// backupCmd makes, verifies or lists backups.
//
// It opens the database the configuration names itself, rather than
// asking the running server: SQLite in WAL mode lets this second process
// take a consistent snapshot (VACUUM INTO) while the server writes, and
// the blob hold it records in the database pauses the server's blob
// collectors until it is done. A database in PostgreSQL is dumped by
// pg_dump under the same hold, into the backup (see [pgDump]).
func backupCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, backupUsage)
		fs.PrintDefaults()
	}
	cfgFile := fs.String("config", "/etc/caucus/caucus.toml", "configuration file")
	data := fs.String("data", "", "data directory, instead of the one --config names (e.g. of a --dev server)")
	recipient := fs.String("recipient", "", "age public key (age1…) to encrypt to, instead of backup.recipient")
	identity := fs.String("identity", "", "verify: file with the age identity (private key), as age-keygen writes it")
	snapshot := fs.String("snapshot", "", "verify: the backup to check (default the newest)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	if len(pos) > 0 && (pos[0] == "verify" || pos[0] == "list") {
		if len(pos) != 2 {
			fs.Usage()
			return fmt.Errorf("%s takes the backup directory", pos[0])
		}
		dest := pos[1]
		if pos[0] == "list" {
			ids, err := backup.Snapshots(dest)
			if err != nil {
				return err
			}
			for _, id := range ids {
				fmt.Fprintln(stdout, id)
			}
			return nil
		}
		ids, err := readIdentities(*identity)
		if err != nil {
			return err
		}
		start := time.Now()
		res, err := backup.Verify(ctx, dest, *snapshot, ids, "")
		if err != nil {
			return err
		}
		dbNote := "database integrity ok"
		switch {
		case res.Dump:
			dbNote = "with the PostgreSQL database's dump"
		case res.Database == backup.DatabasePostgres:
			dbNote = "no database in it (PostgreSQL's, backed up with pg_dump)"
		}
		fmt.Fprintf(stdout, "backup %s is good: %d files, %d bytes, every hash checked, %s (%v)\n",
			res.ID, res.Files, res.Size, dbNote, time.Since(start).Round(time.Millisecond))
		return nil
	}
	if len(pos) > 1 {
		fs.Usage()
		return errors.New("too many arguments")
	}

	dest, rcpt := "", *recipient
	if len(pos) == 1 {
		dest = pos[0]
	}
	// With --data alone, the blobs are the directories the data directory
	// holds ([storage] blobs = "dir"); --config says where they are.
	cfg := config.Default()
	cfg.DataDir = *data
	if *data == "" || flagSet(fs, "config") {
		if cfg, err = config.Load(*cfgFile); err != nil {
			return err
		}
		if *data != "" {
			cfg.DataDir = *data
		}
		if dest == "" {
			dest = cfg.Backup.Dest
		}
		if rcpt == "" {
			rcpt = cfg.Backup.Recipient
		}
	}
	dir := cfg.DataDir
	if cfg.Storage.Blobs != "s3" && usesS3(dir) {
		return fmt.Errorf("%s keeps its blobs in S3 ([storage] blobs = \"s3\"): give --config, which says where, or the backup would hold none", dir)
	}
	if dest == "" || rcpt == "" {
		fs.Usage()
		return errors.New("give the backup directory and --recipient, or set them under [backup] in the configuration")
	}
	r, err := age.ParseX25519Recipient(rcpt)
	if err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	if err := checkOwner(dir); err != nil {
		return err
	}
	d, err := openDatabase(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Migrate(ctx, backup.Component()); err != nil {
		return err
	}
	if err := d.Migrate(ctx, audit.Component()); err != nil {
		return err
	}
	blobs, err := server.AttachBlobs(cfg)
	if err != nil {
		return err
	}
	var dump func(context.Context, string) error
	if d.Engine() == db.Postgres {
		if dump, err = server.PGDump(cfg); errors.Is(err, exec.ErrNotFound) {
			fmt.Fprintln(stderr, "pg_dump is not installed (Debian package postgresql-client): the database will not be in this backup")
		} else if err != nil {
			return err
		}
	}
	svc, err := backup.New(d, backup.Config{DataDir: dir, Dest: dest, Recipients: []age.Recipient{r},
		Audit: audit.New(d, time.Now, nil), Actor: fmt.Sprintf("local:uid=%d", os.Getuid()), Blobs: blobs, Dump: dump}, nil, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := svc.Backup(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup %s: %d files, %d bytes; %d new objects, %d bytes written to %s (%v)\n",
		res.ID, res.Files, res.Size, res.New, res.Written, dest, time.Since(start).Round(time.Millisecond))
	switch {
	case res.Dump:
		fmt.Fprintln(stdout, `The database is in PostgreSQL ([storage] database = "postgres"): its dump (pg_dump, made while no blob could be deleted) is in this backup, as `+backup.PGDumpFile+`.`)
	case res.Database == backup.DatabasePostgres:
		fmt.Fprintln(stdout, postgresNotInBackup)
	}
	return nil
}

// postgresNotInBackup is what backup says of a database in PostgreSQL
// that it could not dump.
const postgresNotInBackup = `The database is in PostgreSQL ([storage] database = "postgres") and is not in this backup, which holds the blobs and the keys: back it up with pg_dump (install postgresql-client, and caucus backup puts the dump in the backup) or the PostgreSQL server's base backups.`

// usesS3 reports whether the server of dataDir kept its blobs in S3: it
// made the spill directory its S3 stores write through, and no blob
// directory.
func usesS3(dataDir string) bool {
	_, errSpill := os.Stat(filepath.Join(dataDir, "spill"))
	_, errBlobs := os.Stat(filepath.Join(dataDir, "blobs"))
	return errSpill == nil && errors.Is(errBlobs, fs.ErrNotExist)
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// restoreCmd restores a backup into a new data directory.
func restoreCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, backupUsage)
		fs.PrintDefaults()
	}
	identity := fs.String("identity", "", "file with the age identity (private key), as age-keygen writes it")
	data := fs.String("data", "", "the new data directory: must not exist, or be empty")
	snapshot := fs.String("snapshot", "", "the backup to restore (default the newest)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *data == "" {
		fs.Usage()
		return errors.New("give --data NEWDIR and the backup directory")
	}
	ids, err := readIdentities(*identity)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	start := time.Now()
	res, err := backup.Restore(ctx, pos[0], *snapshot, ids, *data)
	if err != nil {
		return err
	}
	if res.Database != backup.DatabasePostgres {
		// The restored audit log says where its data came from.
		d, err := db.Open(ctx, filepath.Join(*data, "caucus.db"), nil)
		if err != nil {
			return err
		}
		defer d.Close()
		err = audit.New(d, time.Now, nil).Record(ctx, audit.Event{Actor: fmt.Sprintf("local:uid=%d", os.Getuid()), Kind: "backup.restore",
			Detail: fmt.Sprintf("restored backup %s from %s: %d files, %d bytes", res.ID, pos[0], res.Files, res.Size)})
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "restored backup %s into %s: %d files, %d bytes (%v)\n",
		res.ID, *data, res.Files, res.Size, time.Since(start).Round(time.Millisecond))
	switch {
	case res.Dump:
		fmt.Fprintf(stdout, "The database was in PostgreSQL; its dump is %s: restore it into an empty database (pg_restore --no-owner --dbname=caucus %s), point [storage.postgres] at it, keep [storage] database = \"postgres\", and remove the file.\n",
			filepath.Join(*data, backup.PGDumpFile), filepath.Join(*data, backup.PGDumpFile))
	case res.Database == backup.DatabasePostgres:
		fmt.Fprintln(stdout, `The database is not in this backup: it was in PostgreSQL. Restore it from its pg_dump (pg_restore --no-owner --dbname=caucus caucus.dump), point [storage.postgres] at it, and keep [storage] database = "postgres".`)
	}
	if stores := restoredBlobs(*data); len(stores) > 0 {
		fmt.Fprintf(stdout, "The blobs (%s) are in blob directories under %s, whatever stored them before: start caucus with [storage] blobs = \"dir\" (the default).\n",
			strings.Join(stores, ", "), filepath.Join(*data, "blobs"))
	}
	fmt.Fprintf(stdout, "Point data_dir at it and start caucus (run as its user: chown -R caucus:caucus %s).\n", *data)
	return nil
}

// restoredBlobs names the blob directories under dataDir/blobs, where
// [backup.Restore] puts every store's blobs, S3's too.
func restoredBlobs(dataDir string) []string {
	entries, _ := os.ReadDir(filepath.Join(dataDir, "blobs"))
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// checkOwner refuses to work on a data directory that belongs to another
// user: files root creates there (the database's -wal and -shm, the
// naming key of backups) would lock the server's user out.
func checkOwner(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); uint32(uid) != st.Uid {
		return fmt.Errorf("%s belongs to uid %d, and this runs as uid %d: run as the server's user (sudo -u caucus caucus backup …)", dir, st.Uid, uid)
	}
	return nil
}

// readIdentities reads age identities from the file name.
func readIdentities(name string) ([]age.Identity, error) {
	if name == "" {
		return nil, errors.New("give --identity FILE (the age private key the backups are encrypted to)")
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ids, err := age.ParseIdentities(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", name, err)
	}
	return ids, nil
}
