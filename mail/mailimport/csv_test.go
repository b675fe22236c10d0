package mailimport

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestCSV parses a bulk-start CSV with a header and starts the jobs; an
// unknown member is reported, the others start.
func TestCSV(t *testing.T) {
	t.Parallel()
	rows, err := ParseCSV(strings.NewReader("address,server,login,password\nanna@party.test, imap.gmail.com ,anna@gmail.com,abcd efgh ijkl mnop\n\nbob@party.test,mail.example.org:143,bob,\"pw,with,commas\"\nnobody@party.test,imap.example.org,x,y\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Addr != "imap.gmail.com:993" || rows[1].Addr != "mail.example.org:143" || rows[1].Password != "pw,with,commas" || rows[0].Line != 2 {
		t.Fatalf("rows: %+v", rows)
	}
	e := newEnv(t)
	res := e.im.StartCSV(context.Background(), "admin", rows, func(_ context.Context, login string) (int64, error) {
		switch login {
		case "anna@party.test":
			return 1, nil
		case "bob@party.test":
			return 2, nil
		}
		return 0, errors.New("no such member")
	})
	if res[0].Job == 0 || res[1].Job == 0 || res[2].Job != 0 || !strings.Contains(res[2].Err, "no such member") {
		t.Fatalf("results: %+v", res)
	}
	for _, bad := range []string{
		"a@b,server,login\n",     // three fields
		"a@b,,login,pw\n",        // empty server
		"a@b,s,l,pw\nc@d,s,l,\n", // a missing password after the first line
		"a@b,bad host,l,pw\n",    // a server name with a space
	} {
		if _, err := ParseCSV(strings.NewReader(bad)); !errors.Is(err, ErrBadSource) {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := ParseCSV(strings.NewReader(strings.Repeat("a@b,s,l,p\n", maxCSVRows+1))); !errors.Is(err, ErrBadSource) {
		t.Errorf("%d rows: %v", maxCSVRows+1, err)
	}
}

// FuzzCSV parses arbitrary CSV: rows it accepts are complete.
func FuzzCSV(f *testing.F) {
	f.Add("address,server,login,password\na@b,imap.example.org,a,pw\n")
	f.Add("a@b,[::1]:993,a,\"p\"\"w\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := ParseCSV(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, r := range rows {
			if !strings.Contains(r.Login, "@") || r.SourceLogin == "" || r.Password == "" || r.Addr == "" {
				t.Fatalf("incomplete row %+v", r)
			}
		}
	})
}
