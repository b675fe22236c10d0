package server

// The MX load benchmark of issue 4: Postfix's smtp-source drives caucus's
// MX and, in the same run, a Postfix that delivers to Maildirs, at 10 and 50
// concurrent sessions with 10 KB messages. It is a measurement, not a test:
// it runs only when CAUCUS_SMTPLOAD is set, and prints the figures. caucus
// indexes delivered mail for search once mail is quiet: after each of its
// runs the benchmark waits for that, outside the measured time, and prints
// how long it took ("indexed 5.8s later", 2 s of it the quiet spell).
//
//	CAUCUS_SMTPLOAD=1 go test ./cmd/caucus/server -run TestSMTPLoad -v -timeout 30m
//
// Optional: CAUCUS_SMTPLOAD_MESSAGES (per run, default 5000),
// CAUCUS_SMTPLOAD_RUNS (default 3), CAUCUS_SMTPLOAD_TARGETS ("caucus,postfix";
// "caucus-pg" is caucus on PostgreSQL (durable, with a production server's
// settings: pgtest.Production, which wants the host's huge pages reserved
// first, e.g. sysctl -w vm.nr_hugepages=3300 on 24 GiB, and 0 after) and S3),
// CAUCUS_SMTPLOAD_SESSIONS ("10,50"), CAUCUS_SMTPLOAD_CPUPROFILE (a file
// for the CPU profile of the whole run, caucus being in this process). The Postfix side needs root (its
// master runs as root and drops to the postfix user, as installed).

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
)

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func envList(name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	return strings.Split(v, ",")
}

// loadTarget is a server under load: its MX address, and how many
// messages it has delivered so far.
type loadTarget struct {
	name      string
	addr      string
	rcpt      string
	delivered func() (int, error)
	// settled, if set, reports whether the target's deferred work after
	// delivery (caucus: the full-text index) is done; the next run waits
	// for it, so that it does not take CPU from the next target.
	settled func() (bool, error)
	// roundTrips, if set, counts the target's round trips to its
	// database (PostgreSQL's; see db.DB.RoundTrips).
	roundTrips func() int64
}

func TestSMTPLoad(t *testing.T) {
	if os.Getenv("CAUCUS_SMTPLOAD") == "" {
		t.Skip("a benchmark: set CAUCUS_SMTPLOAD=1 to run it")
	}
	source := testtool.Need(t, "smtp-source")
	messages := envInt(t, "CAUCUS_SMTPLOAD_MESSAGES", 5000)
	runs := envInt(t, "CAUCUS_SMTPLOAD_RUNS", 3)
	var sessions []int
	for _, s := range envList("CAUCUS_SMTPLOAD_SESSIONS", "10,50") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CAUCUS_SMTPLOAD_SESSIONS: %q", s)
		}
		sessions = append(sessions, n)
	}
	var targets []loadTarget
	for _, name := range envList("CAUCUS_SMTPLOAD_TARGETS", "caucus,postfix") {
		switch name {
		case "caucus":
			targets = append(targets, caucusTarget(t, "caucus", config.Storage{}))
		case "caucus-pg": // on PostgreSQL (durable, set up as a production server: pgtest.Production) and S3, one node
			targets = append(targets, caucusTarget(t, "caucus-pg", pgS3Storage(t, pgtest.Options{Durable: true, Settings: pgtest.Production()})))
		case "postfix":
			targets = append(targets, postfixTarget(t))
		default:
			t.Fatalf("CAUCUS_SMTPLOAD_TARGETS: unknown %q", name)
		}
	}
	if f := os.Getenv("CAUCUS_SMTPLOAD_CPUPROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			t.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			out.Close()
		}()
	}
	// Runs alternate between the targets, so that a change in the load of
	// the machine (other programs) affects all of them alike.
	type key struct {
		target   string
		sessions int
	}
	results := map[key][]string{}
	for _, s := range sessions {
		for range runs {
			for _, tg := range targets {
				before, err := tg.delivered()
				if err != nil {
					t.Fatal(err)
				}
				var trips int64
				if tg.roundTrips != nil {
					trips = tg.roundTrips()
				}
				accepted, delivered := runSource(t, source, tg, s, messages, before)
				r := fmt.Sprintf("%6.0f msg/s", float64(messages)/delivered.Seconds())
				if tg.roundTrips != nil {
					r += fmt.Sprintf(" (%.1f round trips/msg)", float64(tg.roundTrips()-trips)/float64(messages))
				}
				if delivered-accepted > 50*time.Millisecond {
					r += fmt.Sprintf(" (accepted in %.1fs, delivered in %.1fs)", accepted.Seconds(), delivered.Seconds())
				}
				if tg.settled != nil {
					start := time.Now()
					for {
						ok, err := tg.settled()
						if err != nil {
							t.Fatal(err)
						}
						if ok {
							break
						}
						time.Sleep(10 * time.Millisecond)
					}
					r += fmt.Sprintf(" (indexed %.1fs later)", time.Since(start).Seconds())
				}
				k := key{tg.name, s}
				results[k] = append(results[k], r)
			}
		}
	}
	var report strings.Builder
	fmt.Fprintf(&report, "smtp-source, %d messages of 10 KB per run, a new connection per message\n", messages)
	for _, tg := range targets {
		for _, s := range sessions {
			fmt.Fprintf(&report, "%-8s -s %-3d  %s\n", tg.name, s, strings.Join(results[key{tg.name, s}], "  "))
		}
	}
	t.Log("\n" + report.String())
}

// runSource sends n messages with s sessions and waits until all are
// delivered. It returns the time until smtp-source had its last 250 and
// the time until the last message was in its mailbox.
func runSource(t *testing.T, source string, tg loadTarget, s, n, before int) (accepted, delivered time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, source, "-s", strconv.Itoa(s), "-m", strconv.Itoa(n), "-l", "10240",
		"-f", "sender@outside.test", "-t", tg.rcpt, "-S", "load test", tg.addr)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		// smtp-source exits with an error on any reply other than
		// the expected ones (a 421, 451, …) and prints nothing when
		// all went well.
		t.Fatalf("%s -s %d: %v\n%s", tg.name, s, err, out)
	}
	accepted = time.Since(start)
	for {
		got, err := tg.delivered()
		if err != nil {
			t.Fatal(err)
		}
		if got-before >= n {
			if got-before > n {
				t.Fatalf("%s: %d messages delivered, sent %d", tg.name, got-before, n)
			}
			return accepted, time.Since(start)
		}
		if time.Since(start) > 10*time.Minute {
			t.Fatalf("%s: %d of %d messages delivered after 10 minutes", tg.name, got-before, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// caucusTarget starts caucus --dev (fsync on, as always) with a per-address
// connection limit above the load's 50 sessions.
func caucusTarget(t *testing.T, name string, storage config.Storage) loadTarget {
	srv := startDevWith(t, t.TempDir(), func(c *config.Config) {
		c.SMTP.MaxConnsPerAddr = 100
		c.Log.Level = "warn"
		if storage.Database != "" {
			c.Storage = storage
		}
	})
	a := newMailAccount(t, srv, "load@localhost")
	// The new app password's notice comes to the INBOX a moment later:
	// counted in a run, it made the run's count one too many.
	for i := 0; i < 200; i++ {
		mb, err := srv.mail.Mailbox(t.Context(), a.id, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if mb.Messages > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return loadTarget{name: name, addr: srv.addrs["smtp"], rcpt: a.login, delivered: func() (int, error) {
		mb, err := srv.mail.Mailbox(context.Background(), a.id, "INBOX")
		return int(mb.Messages), err
	}, settled: func() (bool, error) {
		var waiting bool
		err := srv.db.QueryRowContext(context.Background(), `SELECT EXISTS (SELECT 1 FROM blob_unindexed)`).Scan(&waiting)
		return !waiting, err
	}, roundTrips: srv.db.RoundTrips}
}

// postfixTarget starts a Postfix instance of its own (config, queue and
// data directories in a temporary directory) listening on 127.0.0.1 at a
// free port, delivering every recipient in domain load.test with virtual(8)
// to one Maildir under the temporary directory.
func postfixTarget(t *testing.T) loadTarget {
	postfix := testtool.Need(t, "postfix")
	if os.Geteuid() != 0 {
		t.Skip("the Postfix side needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private to root, and Postfix's
	// daemons run as postfix and (virtual) as nobody below dir.
	dir, err := os.MkdirTemp("", "caucus-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf, queue, data, mail := filepath.Join(dir, "conf"), filepath.Join(dir, "queue"), filepath.Join(dir, "data"), filepath.Join(dir, "mail")
	for _, d := range []string{conf, queue, data, mail} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	if err := os.Chown(mail, uid, gid); err != nil {
		t.Fatal(err)
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	pfUID, _ := strconv.Atoi(pf.Uid)
	if err := os.Chown(data, pfUID, -1); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %s
data_directory = %s
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.load.test
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
smtpd_banner = $myhostname ESMTP
maillog_file = %s
maillog_file_prefixes = /
virtual_mailbox_domains = load.test
virtual_mailbox_base = %s
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:%d
virtual_gid_maps = static:%d
virtual_minimum_uid = 1
message_size_limit = 33554432
`, queue, data, filepath.Join(dir, "maillog"), mail, uid, gid)
	masterCF := addr + ` inet n - n - - smtpd
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
local     unix - n n - - local
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "master.cf"), []byte(masterCF), 0o644); err != nil {
		t.Fatal(err)
	}
	maillog := filepath.Join(dir, "maillog")
	if out, err := exec.Command(postfix, "-c", conf, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(maillog)
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(postfix, "-c", conf, "stop").CombinedOutput(); err != nil {
			t.Errorf("postfix stop: %v\n%s", err, out)
		}
	})
	// Wait for smtpd to listen.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("postfix does not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	newDir := filepath.Join(mail, "box", "new")
	return loadTarget{name: "postfix", addr: addr, rcpt: "load@load.test", delivered: func() (int, error) {
		ents, err := os.ReadDir(newDir)
		if os.IsNotExist(err) {
			return 0, nil
		}
		return len(ents), err
	}}
}
