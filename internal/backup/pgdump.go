package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// maxDumpErr bounds what pg_dump's complaints add to an error.
const maxDumpErr = 4096

// PGDump returns a [Config.Dump] that runs pg_dump in its custom format
// (one compressed file that pg_restore reads) on the database of dsn, a
// connection string libpq reads (keywords or a postgres:// URL), signing
// in with password unless it is empty. The password reaches pg_dump in
// its environment (PGPASSWORD), which only this user may read, never on
// its command line, which every user of the machine sees. PGDump returns
// an error wrapping [exec.ErrNotFound] when pg_dump is not installed
// (Debian package postgresql-client).
func PGDump(dsn, password string) (func(ctx context.Context, path string) error, error) {
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, path string) error {
		cmd := exec.CommandContext(ctx, bin, "--format=custom", "--no-password", "--file="+path, "--dbname="+dsn)
		cmd.Env = os.Environ()
		if password != "" {
			cmd.Env = append(cmd.Env, "PGPASSWORD="+password)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &limitedWriter{w: &stderr, n: maxDumpErr}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("pg_dump: %w: %s", err, strings.TrimSpace(stderr.String()))
		}
		return nil
	}, nil
}

// limitedWriter keeps the first n bytes written to it and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	k := min(len(p), l.n)
	if k > 0 {
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
