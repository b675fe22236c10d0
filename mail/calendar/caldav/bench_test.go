package caldav_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/mail/calendar"
)

// benchEvents is the size of the benchmarks' calendar.
const benchEvents = 10000

// benchCalendar fills alice's personal calendar with benchEvents events
// over 2026 and 2027 (about 410 a month), one in twenty of them weekly
// without end, and returns the env and alice.
func benchCalendar(b *testing.B) (*env, person) {
	e := newEnv(b)
	alice := e.person(b, "alice", auth.ScopeCalendar)
	objs := make(map[string]*calendar.Object, benchEvents)
	start := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := range benchEvents {
		t := start.Add(time.Duration(i) * 730 * 24 * time.Hour / benchEvents)
		extra := "LOCATION:Town hall\r\nDESCRIPTION:Shift " + fmt.Sprint(i) + "\r\n"
		if i%20 == 0 {
			extra += "RRULE:FREQ=WEEKLY\r\n"
		}
		uid := fmt.Sprintf("ev-%05d", i)
		o, err := calendar.Parse([]byte(event(uid, t.Format("20060102T150405Z"), t.Add(time.Hour).Format("20060102T150405Z"), extra)))
		if err != nil {
			b.Fatal(err)
		}
		objs[uid+".ics"] = o
	}
	if err := e.store.Import(b.Context(), storeMember(alice), calendar.PersonalSlug, objs); err != nil {
		b.Fatal(err)
	}
	return e, alice
}

// load1 is the host's one-minute load average, reported next to every
// figure (other work on the host disturbs them).
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}

// cpuTime is the process's CPU time so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start, which the
// host's load disturbs less than the wall-clock time, and the load.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(load1(), "load1")
}

// serve runs one request through the handler in process: the server's
// time, without a network in between.
func serve(b *testing.B, e *env, p person, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(b.Context(), method, path, strings.NewReader(body))
	req.SetBasicAuth(p.login, p.secret)
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Depth", "1")
	w := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(w, req)
	if w.Code != http.StatusMultiStatus {
		b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
	return w
}

// BenchmarkCalendarQueryMonth is one month's calendar-query on a
// calendar of 10,000 events, in process (server time), with the events'
// data as clients ask for it and with their ETags only:
//
//	go test ./mail/calendar/caldav -run '^$' -bench CalendarQueryMonth
func BenchmarkCalendarQueryMonth(b *testing.B) {
	e, alice := benchCalendar(b)
	for _, c := range []struct{ name, body string }{
		{"data", query("20260601T000000Z", "20260701T000000Z")},
		{"etags", strings.Replace(query("20260601T000000Z", "20260701T000000Z"), "<C:calendar-data/>", "", 1)},
	} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			cpu := cpuTime()
			for b.Loop() {
				w := serve(b, e, alice, "REPORT", alice.home()+"personal/", c.body)
				n = strings.Count(w.Body.String(), "<response")
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(n), "events")
		})
	}
}

// BenchmarkSyncInitial is a first sync-collection of the calendar (no
// token): every event's ETag, as a new device asks.
func BenchmarkSyncInitial(b *testing.B) {
	e, alice := benchCalendar(b)
	cpu := cpuTime()
	var n int
	for b.Loop() {
		w := serve(b, e, alice, "REPORT", alice.home()+"personal/", syncReport(""))
		n = strings.Count(w.Body.String(), "</response>")
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(n), "events")
}

// BenchmarkSyncNoChange is an incremental sync-collection of the same
// calendar with nothing changed since the token.
func BenchmarkSyncNoChange(b *testing.B) {
	e, alice := benchCalendar(b)
	w := serve(b, e, alice, "REPORT", alice.home()+"personal/", strings.Replace(syncReport(""), "<D:getetag/>", "", 1))
	tok := tokenRE.FindStringSubmatch(w.Body.String())[1]
	cpu := cpuTime()
	for b.Loop() {
		w := serve(b, e, alice, "REPORT", alice.home()+"personal/", syncReport(tok))
		if strings.Contains(w.Body.String(), "<response") {
			b.Fatal("changes in a calendar that did not change")
		}
	}
	reportCPU(b, cpu)
}

// startRadicale runs Radicale (Debian's radicale), the peer, on
// 127.0.0.1 over a storage folder holding the same events as the
// caucus calendar, written as Radicale stores them (a file per item), and
// returns its URL of that calendar.
func startRadicale(b *testing.B, events map[string][]byte) string {
	radicale := testtool.Need(b, "radicale")
	dir := b.TempDir()
	cal := filepath.Join(dir, "collections", "collection-root", "alice", "personal")
	if err := os.MkdirAll(cal, 0o700); err != nil {
		b.Fatal(err)
	}
	props := `{"C:supported-calendar-component-set": "VEVENT,VTODO,VJOURNAL", "D:displayname": "Calendar", "tag": "VCALENDAR"}`
	if err := os.WriteFile(filepath.Join(cal, ".Radicale.props"), []byte(props), 0o600); err != nil {
		b.Fatal(err)
	}
	for name, data := range events {
		if err := os.WriteFile(filepath.Join(cal, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(dir, "config")
	cfg := "[server]\nhosts = " + addr + "\n[auth]\ntype = none\n[rights]\ntype = owner_only\n[storage]\nfilesystem_folder = " + filepath.Join(dir, "collections") + "\n[logging]\nlevel = warning\n"
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(radicale, "--config", conf)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i > 600 {
			b.Fatalf("radicale does not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "http://" + addr + "/alice/personal/"
}

// report sends a REPORT over the loopback and returns the number of
// events in the answer.
func report(b *testing.B, c *http.Client, url, login, secret, body string) int {
	req, _ := http.NewRequestWithContext(b.Context(), "REPORT", url, strings.NewReader(body))
	req.SetBasicAuth(login, secret)
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Depth", "1")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusMultiStatus {
		b.Fatalf("REPORT %s: %s\n%s", url, resp.Status, got)
	}
	return strings.Count(string(got), "BEGIN:VEVENT")
}

// BenchmarkCalendarQueryMonthPeer runs the month's calendar-query of
// BenchmarkCalendarQueryMonth over HTTP on the loopback against caucus
// and Radicale holding the same 10,000 events, in turns
// (CAUCUS_BENCH_ROUNDS rounds, default 2):
//
//	go test ./mail/calendar/caldav -run '^$' -bench CalendarQueryMonthPeer -benchtime 20x
func BenchmarkCalendarQueryMonthPeer(b *testing.B) {
	e, alice := benchCalendar(b)
	rs, err := e.store.List(b.Context(), storeMember(alice), calendar.PersonalSlug)
	if err != nil {
		b.Fatal(err)
	}
	events := make(map[string][]byte, len(rs))
	for _, r := range rs {
		events[r.Name] = r.Data
	}
	peer := startRadicale(b, events)
	c := &http.Client{}
	q := query("20260601T000000Z", "20260701T000000Z")
	report(b, c, peer, "alice", "x", q) // Radicale builds its cache of the items
	rounds := 2
	if n, err := strconv.Atoi(os.Getenv("CAUCUS_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	for range rounds {
		for _, s := range []struct{ name, url, login, secret string }{
			{"caucus", e.srv.URL + alice.home() + "personal/", alice.login, alice.secret},
			{"radicale", peer, "alice", "x"},
		} {
			b.Run(s.name, func(b *testing.B) {
				var n int
				for b.Loop() {
					n = report(b, c, s.url, s.login, s.secret, q)
				}
				b.ReportMetric(float64(n), "events")
				b.ReportMetric(load1(), "load1")
			})
		}
	}
}
