package importweb

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/mail/mailimport"
)

// TestSource: the form's provider and server field.
func TestSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ provider, server, addr, security string }{
		{"gmail", "ignored.example", "imap.gmail.com:993", mailimport.TLSImplicit},
		{"microsoft", "", "outlook.office365.com:993", mailimport.TLSImplicit},
		{"other", " mail.example.org ", "mail.example.org:993", mailimport.TLSImplicit},
		{"other", "mail.example.org:143", "mail.example.org:143", mailimport.TLSStart},
		{"other", "[2001:db8::1]:993", "[2001:db8::1]:993", mailimport.TLSImplicit},
		{"other", "mail.example.org:9993", "mail.example.org:9993", mailimport.TLSImplicit},
		{"other", "", "", ""},
		{"other", "a b", "", ""},
		{"other", "user@mail.example.org", "", ""},
		{"other", "https://mail.example.org/", "", ""},
		{"other", "mail.example.org:0", "", ""},
		{"other", ":993", "", ""},
		{"other", "[", "", ""},
		{"other", "a:b:c", "", ""},
		{"other", "-mail.example.org", "", ""},
		{"other", "[fe80::1%eth0]:993", "", ""},
		{"other", strings.Repeat("a", 256), "", ""},
		{"", "mail.example.org", "", ""},
	} {
		addr, sec, err := source(tc.provider, tc.server)
		if addr != tc.addr || sec != tc.security || (err == nil) != (tc.addr != "") {
			t.Errorf("source(%q, %q) = %q %q %v, want %q %q", tc.provider, tc.server, addr, sec, err, tc.addr, tc.security)
		}
	}
}

// FuzzSource: whatever the server field holds, the result is a
// host:port with a port from 1 to 65535 and a security the importer
// accepts, or an error.
func FuzzSource(f *testing.F) {
	for _, s := range []string{"mail.example.org", "mail.example.org:143", "[::1]:993", "a:b:c", "x:65536", "é.example:993", ""} {
		f.Add("other", s)
	}
	f.Add("gmail", "")
	f.Fuzz(func(t *testing.T, provider, server string) {
		addr, sec, err := source(provider, server)
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(addr)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 || len(addr) > maxServer+8 {
			t.Fatalf("source(%q, %q) = %q", provider, server, addr)
		}
		if sec != mailimport.TLSImplicit && sec != mailimport.TLSStart {
			t.Fatalf("security %q", sec)
		}
		if strings.ContainsAny(host, " /@\r\n\t") {
			t.Fatalf("host %q", host)
		}
	})
}

// TestKindOf: what a file is, by its name.
func TestKindOf(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"All mail Including Spam and Trash.mbox": KindMbox, "Inbox": KindMbox, "old.MBX": KindMbox,
		"takeout-20261206T101010Z-001.zip": KindTakeout, "takeout.tgz": KindTakeout, "takeout.TAR.GZ": KindTakeout,
		"photo.jpg": "", "mail.mbox.exe": "", "notes.txt": "",
	} {
		if got := kindOf(name); got != want {
			t.Errorf("kindOf(%q) = %q, want %q", name, got, want)
		}
	}
}
