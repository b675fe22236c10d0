package caldav_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
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
