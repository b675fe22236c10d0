package backup_test

import (
	"bytes"
	"crypto/rand"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/testtool"
)

// BenchmarkBackup10k measures, for 10,000 messages and 10,000 files of
// 10 KiB: a full backup (time, bytes written), an incremental one after
// nothing changed, a verify and a restore; with the blobs taken through
// their stores (stores: Config.Blobs, as the server does) and, beside it,
// copied file by file (files: no Config.Blobs, as backups were before).
// Run it once:
//
//	go test ./internal/backup -run '^$' -bench Backup10k -benchtime 1x
func BenchmarkBackup10k(b *testing.B) {
	const n = 10_000
	ctx := b.Context()
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	src := openNode(b, filepath.Join(b.TempDir(), "data"), clk)
	u := src.env.User(b, "alice@example.org", auth.RoleMember)
	acct := u.Account.ID
	if err := src.mail.EnsureAccount(ctx, acct); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				body := message(i) + strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 30)
				if _, err := src.mail.Deliver(ctx, []int64{acct}, strings.NewReader(body)); err != nil {
					b.Error(err)
					return
				}
				f := make([]byte, 10<<10)
				rand.Read(f)
				if _, _, err := src.files.Put(ctx, bytes.NewReader(f), 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	id := newIdentity(b)
	for _, mode := range []string{"stores", "files", "stores", "files"} {
		b.Run(mode, func(b *testing.B) { benchBackup(b, src, id, mode) })
	}
}

// benchBackup is one run of [BenchmarkBackup10k] on src in mode "stores"
// or "files".
func benchBackup(b *testing.B, src *node, id *age.X25519Identity, mode string) {
	ctx := b.Context()
	var stores map[string]blob.Store
	if mode == "stores" {
		stores = src.blobs
	}
	for b.Loop() {
		dest := filepath.Join(b.TempDir(), "dest")
		svc, err := backup.New(src.db, backup.Config{DataDir: src.dir, Dest: dest, Recipients: []age.Recipient{id.Recipient()}, Blobs: stores},
			slog.New(slog.DiscardHandler), nil)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		res, err := svc.Backup(ctx)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res2, err := svc.Backup(ctx)
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := backup.Verify(ctx, dest, "", []age.Identity{id}, b.TempDir()); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if _, err := backup.Restore(ctx, dest, "", []age.Identity{id}, filepath.Join(b.TempDir(), "restored")); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		b.ReportMetric(t1.Sub(t0).Seconds(), "full-s")
		b.ReportMetric(float64(res.Size)/1e6, "data-MB")
		b.ReportMetric(float64(dirSize(b, dest))/1e6, "dest-MB")
		b.ReportMetric(float64(res.Files), "files")
		b.ReportMetric(t2.Sub(t1).Seconds(), "incremental-s")
		b.ReportMetric(float64(res2.Written)/1e6, "incremental-MB")
		b.ReportMetric(t3.Sub(t2).Seconds(), "verify-s")
		b.ReportMetric(t4.Sub(t3).Seconds(), "restore-s")
	}
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
