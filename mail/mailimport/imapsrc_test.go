package mailimport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestNoSTARTTLS: a server that does not offer STARTTLS never gets the
// password, and the job fails saying why.
func TestNoSTARTTLS(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		fmt.Fprintf(c, "* OK plain server\r\n")
		var all strings.Builder
		for {
			line, err := r.ReadString('\n')
			all.WriteString(line)
			if err != nil {
				break
			}
			tag, _, _ := strings.Cut(line, " ")
			fmt.Fprintf(c, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n%s OK done\r\n", tag)
		}
		got <- all.String()
	}()
	_, err = DialIMAP(context.Background(), IMAPConfig{Addr: ln.Addr().String(), Security: TLSStart, Login: "u", Password: "secret-pw"})
	if !errors.Is(err, ErrTLS) {
		t.Fatalf("err %v, want ErrTLS", err)
	}
	if sent := <-got; strings.Contains(sent, "AUTHENTICATE") || strings.Contains(sent, "LOGIN") {
		t.Fatalf("the client tried to log in without TLS: %q", sent)
	}
}

// TestFolderNames: source folder names become valid caucus names; "/"
// inside a level is not a hierarchy; names differing only in Unicode
// normalisation are one folder, names differing only in case two.
func TestFolderNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, delim, want string }{
		{"a.b/c", ".", "a/b\u2215c"},
		{"a/b", "/", "a/b"},
		{"x/y", "NIL", "x\u2215y"},
	} {
		if got := sourcePath(tc.name, tc.delim); got != tc.want {
			t.Errorf("sourcePath(%q, %q) = %q, want %q", tc.name, tc.delim, got, tc.want)
		}
	}
	n := newNamer()
	steps := []struct{ key, want, dest string }{
		{"folder:Caf\u00e9", "Caf\u00e9", "Caf\u00e9"},
		{"folder:Cafe\u0301", "Cafe\u0301", "Caf\u00e9"},
		{"folder:caf\u00e9", "caf\u00e9", "caf\u00e9 (2)"},
		{"folder:bad", "a//b/../*", "a/b/_/_"},
		{"folder:empty", "///", "Imported"},
	}
	for _, s := range steps {
		if got, _, _ := n.name(s.key, s.want); got != s.dest {
			t.Errorf("name(%q) = %q, want %q", s.want, got, s.dest)
		}
	}
}
