package caldav_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool"
)

// pythonCalDAV returns a python3 that can import caldav (Debian's
// python3-caldav), or skips (fails under CI=true). The python3 first on
// PATH may be another installation than Debian's, so /usr/bin/python3 is
// tried too.
func pythonCalDAV(t *testing.T) string {
	t.Helper()
	for _, py := range []string{testtool.Need(t, "python3"), "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import caldav").Run() == nil {
			return py
		}
	}
	msg := "python3 cannot import caldav; install python3-caldav (apt-get install python3-caldav, or run bash .ci/run)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// pyCalDAV drives python-caldav: discovery from the server's root,
// events saved, a time-range search, a sync by token, a deletion.
const pyCalDAV = `
import sys, datetime, caldav
url, user, password = sys.argv[1:4]
ics = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//python-caldav test//EN
BEGIN:VEVENT
UID:%s
DTSTAMP:20260101T000000Z
DTSTART:%s
DTEND:%s
SUMMARY:%s
END:VEVENT
END:VCALENDAR
"""
client = caldav.DAVClient(url=url, username=user, password=password)
principal = client.principal()
cals = principal.calendars()
print("calendars", " ".join(sorted(str(c.url).rstrip("/").rsplit("/", 1)[1] for c in cals)))
cal = [c for c in cals if str(c.url).rstrip("/").endswith("/personal")][0]
june = cal.save_event(ics % ("py-june", "20260610T090000Z", "20260610T100000Z", "Debate"))
cal.save_event(ics % ("py-july", "20260710T090000Z", "20260710T100000Z", "Rally"))
cal.save_event((ics % ("py-weekly", "20260105T090000Z", "20260105T100000Z", "Canvass")).replace("SUMMARY", "RRULE:FREQ=WEEKLY\nSUMMARY"))
found = cal.date_search(start=datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc), end=datetime.datetime(2026, 7, 1, tzinfo=datetime.timezone.utc), expand=False)
print("june", " ".join(sorted(str(e.vobject_instance.vevent.uid.value) for e in found)))
objs = cal.objects_by_sync_token(load_objects=False)
token = objs.sync_token
print("synced", len(list(objs)))
june.delete()
objs = cal.objects_by_sync_token(sync_token=token, load_objects=False)
print("changed", len(list(objs)))
left = cal.events()
print("left", " ".join(sorted(str(e.vobject_instance.vevent.uid.value) for e in left)))
`

// TestPythonCalDAV: python-caldav finds the calendars from /caldav/,
// creates events, queries a month, syncs by token and deletes one.
func TestPythonCalDAV(t *testing.T) {
	py := pythonCalDAV(t)
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	dir := t.TempDir()
	script := filepath.Join(dir, "client.py")
	if err := os.WriteFile(script, []byte(pyCalDAV), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), py, script, e.srv.URL+"/caldav/", alice.login, alice.secret)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("python-caldav:\n%s", out)
	if err != nil {
		t.Fatalf("python-caldav: %v", err)
	}
	for _, want := range []string{
		"calendars personal\n",
		"june py-june py-weekly\n", // not July's; the weekly one from January has June instances
		"synced 3\n",
		"changed 1\n", // the deletion
		"left py-july py-weekly\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("python-caldav's output lacks %q", want)
		}
	}
}

// vdirsyncerConfig pairs the member's CalDAV calendars (side a) with
// local directories (side b); conflict is its conflict_resolution.
func vdirsyncerConfig(dir, url, login, secret, conflict string) string {
	return `[general]
status_path = "` + filepath.Join(dir, "status") + `"

[pair cal]
a = "server"
b = "local"
collections = ["from a"]
conflict_resolution = ` + conflict + `

[storage server]
type = "caldav"
url = "` + url + `"
username = "` + login + `"
password = "` + secret + `"

[storage local]
type = "filesystem"
path = "` + filepath.Join(dir, "cal") + `"
fileext = ".ics"
`
}

// TestVdirsyncerAndKhal syncs both ways with vdirsyncer: events made on
// the server and on disk reach the other side, an edit on each side
// too, and an event edited on both is a conflict vdirsyncer reports
// (then resolves, the server winning). khal then reads what was synced.
func TestVdirsyncerAndKhal(t *testing.T) {
	vdirsyncer := testtool.Need(t, "vdirsyncer")
	khal := testtool.Need(t, "khal")
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	cal := alice.home() + "personal/"
	dir := t.TempDir()
	env := append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	run := func(conflict string, args ...string) (string, error) {
		conf := filepath.Join(dir, "vdirsyncer.conf")
		if err := os.WriteFile(conf, []byte(vdirsyncerConfig(dir, e.srv.URL+"/caldav/", alice.login, alice.secret, conflict)), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), vdirsyncer, append([]string{"-c", conf}, args...)...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader("y\ny\ny\n")
		out, err := cmd.CombinedOutput()
		t.Logf("vdirsyncer %s:\n%s", strings.Join(args, " "), out)
		return string(out), err
	}
	mustRun := func(args ...string) {
		t.Helper()
		if _, err := run(`"a wins"`, args...); err != nil {
			t.Fatalf("vdirsyncer %s: %v", strings.Join(args, " "), err)
		}
	}
	for _, uid := range []string{"both", "server-edit", "local-edit"} {
		if code, _, _ := e.do(t, alice, "PUT", cal+uid+".ics", event(uid, "20260610T090000Z", "20260610T100000Z", "")); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d", uid, code)
		}
	}
	mustRun("discover")
	mustRun("sync")
	local := filepath.Join(dir, "cal", "personal")
	// A new event on each side, an edit on each side, and one event
	// edited on both.
	writeLocal := func(name, data string) {
		if err := os.WriteFile(filepath.Join(local, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeLocal("local-new.ics", event("local-new", "20260612T090000Z", "20260612T100000Z", ""))
	writeLocal("local-edit.ics", strings.Replace(event("local-edit", "20260610T090000Z", "20260610T100000Z", ""), "Canvassing", "Edited on disk", 1))
	writeLocal("both.ics", strings.Replace(event("both", "20260610T090000Z", "20260610T100000Z", ""), "Canvassing", "Disk's version", 1))
	for uid, summary := range map[string]string{"server-new": "Canvassing", "server-edit": "Edited on the server", "both": "Server's version"} {
		_, _, h := e.do(t, alice, "GET", cal+uid+".ics", "")
		cond := []string{"If-Match", h.Get("ETag")}
		if uid == "server-new" {
			cond = []string{"If-None-Match", "*"}
		}
		body := strings.Replace(event(uid, "20260611T090000Z", "20260611T100000Z", ""), "Canvassing", summary, 1)
		if code, _, _ := e.do(t, alice, "PUT", cal+uid+".ics", body, cond...); code != http.StatusCreated && code != http.StatusNoContent {
			t.Fatalf("PUT %s: %d", uid, code)
		}
	}
	out, err := run("null", "sync")
	if err == nil || !strings.Contains(strings.ToLower(out), "conflict") && !strings.Contains(out, "both") {
		t.Fatalf("vdirsyncer did not report the conflict: %v", err)
	}
	mustRun("sync") // the server wins
	for uid, want := range map[string]string{"local-new": "Canvassing", "local-edit": "Edited on disk", "server-edit": "Edited on the server", "both": "Server's version"} {
		code, body, _ := e.do(t, alice, "GET", cal+uid+".ics", "")
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("server's %s: %d, want %q\n%s", uid, code, want, body)
		}
	}
	files, _ := filepath.Glob(filepath.Join(local, "*.ics"))
	var all strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all.Write(b)
	}
	for _, want := range []string{"UID:server-new", "Edited on the server", "Server's version", "Edited on disk"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("the local calendar lacks %q", want)
		}
	}
	if strings.Contains(all.String(), "Disk's version") {
		t.Error("the conflict's losing side is still on disk")
	}
	checkKhal(t, khal, dir, local, env)
}

// checkKhal lists June 2026 with khal from the synced directory.
func checkKhal(t *testing.T, khal, dir, local string, env []string) {
	conf := filepath.Join(dir, "khal.conf")
	khalConf := `[calendars]
[[personal]]
path = ` + local + `
type = calendar

[locale]
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
default_timezone = UTC
local_timezone = UTC
`
	if err := os.WriteFile(conf, []byte(khalConf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), khal, "-c", conf, "list", "2026-06-01", "30d")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	t.Logf("khal list:\n%s", out)
	if err != nil {
		t.Fatalf("khal: %v", err)
	}
	for _, want := range []string{"Edited on the server", "Server's version", "Edited on disk"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("khal does not list %q", want)
		}
	}
}
