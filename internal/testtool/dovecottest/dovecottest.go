// Package dovecottest starts a private Dovecot 2.3 IMAP server for tests
// and benchmarks that need a real peer: its configuration, state and mail
// live in a temporary directory, it listens with implicit TLS (RFC 8314) on
// 127.0.0.1 only, and it touches nothing else on the machine. Dovecot
// comes from Debian (dovecot-imapd); [testtool.Need] skips without it, and
// fails when CI is set.
package dovecottest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
)

// Options says what the server holds.
type Options struct {
	// Users are the accounts, login → password (PLAIN, over TLS only).
	Users map[string]string
	// CertFile and KeyFile are the TLS certificate and key (PEM).
	CertFile, KeyFile string
	// Populate, if set, writes mail before the server starts: a login's
	// Maildir is Server.Maildir(login).
	Populate func(s *Server) error
	// CreateSpecial has Dovecot create Sent and Drafts (special-use
	// \Sent and \Drafts) on first login.
	CreateSpecial bool
	// MaxUserIPConns is Dovecot's mail_max_userip_connections (default
	// Dovecot's own, 10): a load test's many clients need more.
	MaxUserIPConns int
}

// Server is a running Dovecot.
type Server struct {
	Addr string // host:port, implicit TLS
	Dir  string // its directory: configuration, state, log, mail
}

// Maildir is where login's mail is (Maildir++, "/" as the IMAP separator).
func (s *Server) Maildir(login string) string {
	return filepath.Join(s.Dir, "mail", login, "Maildir")
}

// Start starts Dovecot with o and stops it when the test ends. It needs
// root (Dovecot drops to its own users), and skips otherwise.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	dovecot := testtool.Need(t, "dovecot")
	if os.Geteuid() != 0 {
		t.Skip("Dovecot needs root to start")
	}
	// Not t.TempDir: its parent is private to root, and Dovecot's
	// processes run as dovecot, dovenull and nobody below dir.
	dir, err := os.MkdirTemp("", "caucus-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{Dir: dir}
	if err := s.prepare(&o); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	_, port, _ := net.SplitHostPort(s.Addr)
	ln.Close()
	conf := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(conf, []byte(config(dir, port, o)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dovecot, "-F", "-c", conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if i == 200 {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Fatalf("dovecot does not listen on %s: %v\n%s\n%s", s.Addr, err, out.Bytes(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// prepare writes the password file and the mail, owned by nobody (as
// whom Dovecot reads and writes it), and makes the key readable by
// Dovecot's configuration parser.
func (s *Server) prepare(o *Options) error {
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		return err
	}
	var passwd bytes.Buffer
	for login, pass := range o.Users {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s::::::\n", login, pass)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "passwd"), passwd.Bytes(), 0o644); err != nil {
		return err
	}
	// Copies of the certificate and key that Dovecot's processes may
	// read (the caller's may sit in a directory private to root).
	for _, f := range []*string{&o.CertFile, &o.KeyFile} {
		b, err := os.ReadFile(*f)
		if err != nil {
			return err
		}
		*f = filepath.Join(s.Dir, filepath.Base(*f)+".dovecot")
		if err := os.WriteFile(*f, b, 0o644); err != nil {
			return err
		}
	}
	mail := filepath.Join(s.Dir, "mail")
	if err := os.MkdirAll(mail, 0o755); err != nil {
		return err
	}
	if o.Populate != nil {
		if err := o.Populate(s); err != nil {
			return fmt.Errorf("dovecottest: populate: %w", err)
		}
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	return filepath.Walk(mail, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, uid, gid)
		}
		return err
	})
}

// config is a complete Dovecot 2.3 configuration that touches nothing
// outside dir: Maildir++ under each user's home, "/" as the separator.
func config(dir, port string, o Options) string {
	auto := ""
	if o.CreateSpecial {
		auto = "\n    auto = create"
	}
	limits := ""
	if o.MaxUserIPConns > 0 {
		limits = fmt.Sprintf("protocol imap {\n  mail_max_userip_connections = %d\n}\n", o.MaxUserIPConns)
	}
	return fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = caucus-test-%[4]s
listen = 127.0.0.1
protocols = imap
log_path = %[1]s/dovecot.log
ssl = required
ssl_cert = <%[2]s
ssl_key = <%[3]s
disable_plaintext_auth = yes
auth_mechanisms = plain
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:%[1]s/mail/%%u/Maildir
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN %[1]s/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=%[1]s/mail/%%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \Sent%[5]s
  }
  mailbox Drafts {
    special_use = \Drafts%[5]s
  }
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[4]s
    ssl = yes
  }
}
%[6]s`, dir, o.CertFile, o.KeyFile, port, auto, limits)
}
