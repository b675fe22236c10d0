package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/caucus-org/caucus/cmd/caucus/server"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
)

// configFlags adds --config and --data to fs and returns a function that
// gives the configuration they name: with --data alone, the defaults
// with that data directory (a --dev server's: SQLite in it); otherwise
// the configuration file, its data_dir replaced by --data if given. The
// commands that open the database themselves take it from there, so
// that they open the one the server opens ([storage] database).
func configFlags(fs *flag.FlagSet) func() (config.Config, error) {
	cfgFile := fs.String("config", "/etc/caucus/caucus.toml", "configuration file")
	data := fs.String("data", "", "data directory, instead of the one --config names (e.g. of a --dev server)")
	return func() (config.Config, error) {
		if *data != "" && !flagSet(fs, "config") {
			cfg := config.Default()
			cfg.DataDir = *data
			return cfg, nil
		}
		cfg, err := config.Load(*cfgFile)
		if err != nil {
			return config.Config{}, err
		}
		if *data != "" {
			cfg.DataDir = *data
		}
		return cfg, nil
	}
}

// openDatabase opens the database of cfg as the server does
// ([server.OpenDatabase]): the SQLite file in the data directory, or the
// PostgreSQL database of [storage.postgres]. With existing, a missing
// SQLite file is an error instead of a new, empty database.
func openDatabase(ctx context.Context, cfg config.Config, existing bool) (*db.DB, error) {
	if cfg.Storage.Database != string(db.Postgres) && existing {
		path := filepath.Join(cfg.DataDir, "caucus.db")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database: %w", err)
		} else if err != nil {
			return nil, err
		}
	}
	return server.OpenDatabase(ctx, cfg, nil)
}
