package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newTestLog opens a fresh database in a temporary directory with a clock
// that advances one second per record, starting at t0.
func newTestLog(t *testing.T) (*Log, *db.DB) {
	t.Helper()
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	d := dbtest.Open(t)
	if err := d.Migrate(ctx, Component()); err != nil {
		t.Fatal(err)
	}
	var tick atomic.Int64
	now := func() time.Time { return t0.Add(time.Duration(tick.Add(1)-1) * time.Second) }
	return New(d, now, log), d
}

func record(t *testing.T, l *Log, evs ...Event) {
	t.Helper()
	for _, e := range evs {
		if err := l.Record(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, l *Log, want int) {
	t.Helper()
	n, err := l.Verify(t.Context())
	if err != nil || n != want {
		t.Fatalf("Verify = %d, %v; want %d, nil", n, err, want)
	}
}

func TestChain(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	verify(t, l, 0)
	for i := range 200 {
		record(t, l, Event{Actor: "admin", Subject: fmt.Sprint("user", i), Kind: "invite.create", Detail: fmt.Sprint("n=", i)})
	}
	verify(t, l, 200)
	recs, err := l.List(t.Context(), Filter{Limit: MaxLimit})
	if err != nil || len(recs) != 200 {
		t.Fatalf("List: %d records, %v", len(recs), err)
	}
	first := recs[len(recs)-1]
	if first.ID != 1 || !bytes.Equal(first.PrevHash, make([]byte, 32)) || first.Outcome != OK || !first.Time.Equal(t0) {
		t.Fatalf("first record: %+v", first)
	}
	for i := 0; i+1 < len(recs); i++ {
		if recs[i].ID != recs[i+1].ID+1 || !bytes.Equal(recs[i].PrevHash, recs[i+1].Hash) || len(recs[i].Hash) != 32 {
			t.Fatalf("records %d and %d do not chain", recs[i].ID, recs[i+1].ID)
		}
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	l, d := newTestLog(t)
	ctx := t.Context()
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := Event{Actor: fmt.Sprint("w", w), Kind: "login.password", Detail: fmt.Sprint(i)}
				if i%2 == 0 {
					errs <- l.Record(ctx, e)
					continue
				}
				errs <- d.Tx(ctx, func(tx *sql.Tx) error { return l.RecordTx(ctx, tx, e) })
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	verify(t, l, writers*each)
}

func TestTamper(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		sql    string
		wantID int64
		wantN  int
	}{
		{"edit detail", `UPDATE audit_log SET detail = 'nothing happened' WHERE id = 5`, 5, 4},
		{"edit time", `UPDATE audit_log SET time = time + 1 WHERE id = 7`, 7, 6},
		{"edit outcome of last", `UPDATE audit_log SET outcome = 'ok' WHERE id = 10`, 10, 9},
		{"delete middle", `DELETE FROM audit_log WHERE id = 5`, 6, 4},
		{"delete first", `DELETE FROM audit_log WHERE id = 1`, 2, 0},
		{"renumber", `UPDATE audit_log SET id = id + 100 WHERE id >= 5`, 105, 4},
		{"swap hash of recomputed row", `UPDATE audit_log SET detail = 'x', hash = ? WHERE id = 3`, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, d := newTestLog(t)
			for i := range 10 {
				record(t, l, Event{Actor: "mallory", Kind: "factor.add", Outcome: Fail, Detail: fmt.Sprint("event ", i+1)})
			}
			verify(t, l, 10)
			var args []any
			if strings.Contains(tc.sql, "?") {
				args = append(args, make([]byte, 32))
			}
			if _, err := d.ExecContext(t.Context(), tc.sql, args...); err != nil {
				t.Fatal(err)
			}
			n, err := l.Verify(t.Context())
			var be *BrokenError
			if !errors.Is(err, ErrBroken) || !errors.As(err, &be) || be.ID != tc.wantID || n != tc.wantN {
				t.Fatalf("Verify = %d, %v; want %d and broken at id %d", n, err, tc.wantN, tc.wantID)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("id %d", tc.wantID)) {
				t.Errorf("error %q does not name the id", err)
			}
		})
	}
}

func TestRecordTxRollback(t *testing.T) {
	t.Parallel()
	l, d := newTestLog(t)
	ctx := t.Context()
	record(t, l, Event{Kind: "revoke", Subject: "alice"})
	errAbort := errors.New("action failed")
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		if err := l.RecordTx(ctx, tx, Event{Actor: "admin", Subject: "bob", Kind: "revoke"}); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Tx = %v", err)
	}
	if recs, err := l.List(ctx, Filter{Account: "bob"}); err != nil || len(recs) != 0 {
		t.Fatalf("rolled-back record is there: %v %v", recs, err)
	}
	verify(t, l, 1)
	err = d.Tx(ctx, func(tx *sql.Tx) error {
		return l.RecordTx(ctx, tx, Event{Actor: "admin", Subject: "bob", Kind: "revoke"})
	})
	if err != nil {
		t.Fatal(err)
	}
	verify(t, l, 2)
}

func TestList(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := t.Context()
	// Record i (id i+1) is at t0 + i seconds.
	record(t, l,
		Event{Actor: "alice", Kind: "login.password"},                             // 1
		Event{Actor: "alice", Kind: "login.webauthn"},                             // 2
		Event{Actor: "admin", Subject: "alice", Kind: "apppassword.revoke"},       // 3
		Event{Actor: "bob", Kind: "login.password", Outcome: Fail, Reason: "bad"}, // 4
		Event{Actor: "admin", Subject: "bob", Kind: "revoke"},                     // 5
		Event{Kind: "loginx"},                                                       // 6
		Event{Actor: "alice", Kind: "factor.add"},                                   // 7
		Event{Actor: "bob", Kind: "login*.odd"},                                     // 8
		Event{Actor: "carol", Kind: "LOGIN.password"},                               // 9
		Event{Actor: "alice", Subject: "alice", Kind: "login.totp", Detail: "last"}, // 10
	)
	ids := func(f Filter) string {
		t.Helper()
		recs, err := l.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, r := range recs {
			s = append(s, fmt.Sprint(r.ID))
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		{"all", Filter{}, "10,9,8,7,6,5,4,3,2,1"},
		{"account actor or subject", Filter{Account: "alice"}, "10,7,3,2,1"},
		{"account subject only", Filter{Account: "bob"}, "8,5,4"},
		{"kind prefix", Filter{Kind: "login."}, "10,4,2,1"},
		{"kind prefix without dot", Filter{Kind: "login"}, "10,8,6,4,2,1"},
		{"kind glob chars literal", Filter{Kind: "login*"}, "8"},
		{"kind exact", Filter{Kind: "revoke"}, "5"},
		{"account and kind", Filter{Account: "alice", Kind: "login."}, "10,2,1"},
		{"since", Filter{Since: t0.Add(7 * time.Second)}, "10,9,8"},
		{"until exclusive", Filter{Until: t0.Add(2 * time.Second)}, "2,1"},
		{"since until", Filter{Since: t0.Add(3 * time.Second), Until: t0.Add(5 * time.Second)}, "5,4"},
		{"limit", Filter{Limit: 3}, "10,9,8"},
		{"page 2", Filter{Limit: 3, BeforeID: 8}, "7,6,5"},
		{"last page", Filter{Limit: 3, BeforeID: 2}, "1"},
		{"page with filter", Filter{Account: "alice", Limit: 2, BeforeID: 7}, "3,2"},
		{"no match", Filter{Account: "nobody"}, ""},
	} {
		if got := ids(tc.f); got != tc.want {
			t.Errorf("%s: ids %s, want %s", tc.name, got, tc.want)
		}
	}

	recs, err := l.List(ctx, Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := recs[0]
	want := Event{Actor: "alice", Subject: "alice", Kind: "login.totp", Outcome: OK, Detail: "last"}
	if r.Event != want || !r.Time.Equal(t0.Add(9*time.Second)) || r.Time.Location() != time.UTC {
		t.Errorf("record read back as %+v", r)
	}
}

func TestListLimits(t *testing.T) {
	t.Parallel()
	l, d := newTestLog(t)
	ctx := t.Context()
	// Rows made in bulk, without a valid chain: only the counts matter here.
	_, err := d.ExecContext(ctx, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?)
		INSERT INTO audit_log SELECT i, i, '', '', 'invite.create', 'ok', '', '', '', '', ?, ? FROM c`, MaxLimit+5, make([]byte, 32), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	for limit, want := range map[int]int{0: DefaultLimit, -1: DefaultLimit, 7: 7, MaxLimit + 1: MaxLimit} {
		recs, err := l.List(ctx, Filter{Limit: limit})
		if err != nil || len(recs) != want {
			t.Errorf("Limit %d: %d records, %v; want %d", limit, len(recs), err, want)
		}
	}
	var buf bytes.Buffer
	if err := l.WriteCSV(ctx, &buf, Filter{}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 1+MaxLimit+5 {
		t.Fatalf("CSV of everything: %d rows, %v", len(rows), err)
	}
	if rows[1][0] != fmt.Sprint(MaxLimit+5) || rows[len(rows)-1][0] != "1" {
		t.Fatalf("CSV order: first %s, last %s", rows[1][0], rows[len(rows)-1][0])
	}
	buf.Reset()
	if err := l.WriteCSV(ctx, &buf, Filter{Limit: MaxLimit + 2}); err != nil {
		t.Fatal(err)
	}
	if rows, err := csv.NewReader(&buf).ReadAll(); err != nil || len(rows) != 1+MaxLimit+2 || rows[len(rows)-1][0] != "4" {
		t.Fatalf("CSV with limit above a batch: %d rows, %v", len(rows), err)
	}
}

func TestWriteCSV(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := t.Context()
	record(t, l,
		Event{Actor: "alice", Kind: "login.password", Addr: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11)"},
		Event{Actor: "=HYPERLINK(\"http://evil\")", Kind: "login.password", Outcome: Fail, Reason: "unknown-account", Detail: `comma, "quote"`},
		Event{Actor: "admin", Subject: "bob", Kind: "revoke", Detail: "sessions: 2, app passwords: 1"},
	)
	var buf bytes.Buffer
	if err := l.WriteCSV(ctx, &buf, Filter{}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != "id,time,actor,subject,kind,outcome,reason,detail,addr,user_agent,prev_hash,hash" {
		t.Fatalf("CSV rows: %q", rows)
	}
	recs, _ := l.List(ctx, Filter{})
	for i, row := range rows[1:] {
		r := recs[i]
		tm, err := time.Parse(time.RFC3339, row[1])
		if err != nil || !tm.Equal(r.Time) {
			t.Errorf("row %d time %q: %v", i, row[1], err)
		}
		if row[0] != fmt.Sprint(r.ID) || row[10] != hex.EncodeToString(r.PrevHash) || row[11] != hex.EncodeToString(r.Hash) || len(row[11]) != 64 {
			t.Errorf("row %d: %q", i, row)
		}
	}
	if rows[1][7] != "sessions: 2, app passwords: 1" || rows[2][7] != `comma, "quote"` || rows[3][9] != "Mozilla/5.0 (X11)" {
		t.Errorf("fields not round-tripped: %q", rows)
	}
	if rows[2][2] != `'=HYPERLINK("http://evil")` {
		t.Errorf("formula not defused: %q", rows[2][2])
	}

	buf.Reset()
	if err := l.WriteCSV(ctx, &buf, Filter{Kind: "login.", Limit: 1}); err != nil {
		t.Fatal(err)
	}
	if rows, err := csv.NewReader(&buf).ReadAll(); err != nil || len(rows) != 2 || rows[1][0] != "2" {
		t.Fatalf("filtered CSV: %q %v", rows, err)
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := t.Context()
	long := strings.Repeat("é", 600) // 1200 bytes
	record(t, l, Event{
		Actor:     "ali\x00ce\x1b[31m",
		Kind:      "login.password",
		Outcome:   "fail\u202e",
		Reason:    "bad\npassword",
		Detail:    long,
		Addr:      "192.0.2.1\r\n",
		UserAgent: strings.Repeat("a", 300) + "\xff",
		Subject:   "bad\xffutf8\u0085", // NEL is a line break: a space
	})
	recs, err := l.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	e := recs[0].Event
	if e.Actor != "alice[31m" || e.Outcome != "fail" || e.Reason != "bad password" || e.Addr != "192.0.2.1  " || e.Subject != "bad\uFFFDutf8 " {
		t.Errorf("not sanitized: %+q", e)
	}
	if len(e.Detail) != 1024 || !utf8.ValidString(e.Detail) {
		t.Errorf("Detail %d bytes, valid %v", len(e.Detail), utf8.ValidString(e.Detail))
	}
	if len(e.UserAgent) != 256 {
		t.Errorf("UserAgent %d bytes", len(e.UserAgent))
	}
	if err := l.Record(ctx, Event{Kind: "\x00"}); err == nil || !strings.HasPrefix(err.Error(), "audit: ") {
		t.Errorf("event without kind: %v", err)
	}
	verify(t, l, 1)
}

func TestSlogLine(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := dbtest.Open(t)
	if err := d.Migrate(ctx, Component()); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	l := New(d, nil, slog.New(slog.NewTextHandler(&buf, nil)))
	record(t, l, Event{Actor: "admin", Subject: "alice", Kind: "revoke", Reason: "offboarded", Addr: "192.0.2.1", Detail: "all access"})
	out := buf.String()
	for _, want := range []string{"level=INFO", "msg=audit", "id=1", "kind=revoke", "actor=admin", "subject=alice", "outcome=ok", "reason=offboarded", "addr=192.0.2.1", `detail="all access"`, "hash="} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %q lacks %q", out, want)
		}
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("want one line, got %q", out)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "alice", "a\x00b\nc", "\u202eevil", "é\xff", strings.Repeat("€", 400)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		whole := clean(s, len(s)*utf8.UTFMax)
		for _, limit := range []int{MaxUserAgent, MaxField} {
			c := clean(s, limit)
			if len(c) > limit || !utf8.ValidString(c) {
				t.Fatalf("clean(%q) = %q: too long or invalid", s, c)
			}
			for _, r := range c {
				// A line break of any kind (Unicode Standard Annex
				// #14: BK, NL) would start a new line in a viewer.
				if unicode.IsControl(r) || isBidi(r) || unicode.In(r, unicode.Zl, unicode.Zp) {
					t.Fatalf("clean(%q) = %q keeps %U", s, c, r)
				}
			}
			if clean(c, limit) != c {
				t.Fatalf("clean not idempotent on %q", s)
			}
			// Only the end is cut, and only as much as the limit needs.
			if !strings.HasPrefix(whole, c) {
				t.Fatalf("clean(%q, %d) = %q is not a prefix of %q", s, limit, c, whole)
			}
			if rest := whole[len(c):]; rest != "" {
				if r, n := utf8.DecodeRuneInString(rest); len(c)+n <= limit {
					t.Fatalf("clean(%q, %d) = %q: cut before %q, which fits", s, limit, c, r)
				}
			}
		}
	})
}

// TestContextCanceled checks that a canceled context fails cleanly.
func TestContextCanceled(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.Record(ctx, Event{Kind: "revoke"}); err == nil {
		t.Fatal("Record with canceled context succeeded")
	}
	verify(t, l, 0)
}
