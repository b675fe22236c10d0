package importweb

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// create declares an upload; it returns the status and the answer.
func (m *member) create(t testing.TB, name string, size int) (int, uploadJSON, string) {
	t.Helper()
	res := m.post(t, "/mail/import/uploads", url.Values{"name": {name}, "size": {strconv.Itoa(size)}})
	var u uploadJSON
	json.Unmarshal([]byte(res.body), &u)
	return res.code, u, res.body
}

// patch sends a piece at offset.
func (m *member) patch(t testing.TB, id string, offset int64, piece []byte, token string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "PATCH", m.e.ts.URL+"/mail/import/uploads/"+id, bytes.NewReader(piece))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("X-CSRF-Token", token)
	return m.do(t, req)
}

// state asks where the upload stands.
func (m *member) state(t testing.TB, id string) (int, uploadJSON) {
	t.Helper()
	res := m.get(t, "/mail/import/uploads/"+id)
	var u uploadJSON
	json.Unmarshal([]byte(res.body), &u)
	return res.code, u
}

// cutPatch sends a PATCH declaring a piece of declared bytes, sends only
// sent of them, and drops the connection.
func (m *member) cutPatch(t testing.TB, id string, piece []byte, declared int) {
	t.Helper()
	tc := m.e.ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tc.NextProtos = []string{"http/1.1"}
	c, err := tls.Dial("tcp", m.e.ts.Listener.Addr().String(), tc)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "PATCH /mail/import/uploads/%s HTTP/1.1\r\nHost: %s\r\nCookie: %s=%s\r\nX-CSRF-Token: %s\r\nUpload-Offset: 0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n", id, m.e.ts.Listener.Addr(), login.SessionCookie, m.u.Session, m.csrf(t), declared)
	c.Write(piece)
	time.Sleep(20 * time.Millisecond) // let the bytes leave before the close (ordering, not a timing check)
	c.Close()
}

// TestUploadResume: an mbox upload cut off mid-piece keeps what arrived;
// a piece at the wrong offset is refused with the server's offset; after
// a "reload" the same file resumes from there; the last piece starts the
// job, whose messages land in the member's mailbox.
func TestUploadResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.member(t, "anna")
	data := []byte(testMbox(200))
	code, u, body := m.create(t, "Takeout/Mail/All mail Including Spam and Trash.mbox", len(data))
	if code != http.StatusCreated || u.Offset != 0 || u.Size != int64(len(data)) {
		t.Fatalf("create: %d %s", code, body)
	}
	m.cutPatch(t, u.ID, data[:3000], 10000)
	var st uploadJSON
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, st = m.state(t, u.ID); st.Offset == 3000 {
			break
		}
	}
	if st.Offset != 3000 || st.State != "receiving" {
		t.Fatalf("after the cut: %+v, want offset 3000", st)
	}
	tok := m.csrf(t)
	for _, off := range []int64{0, 2999, 3001} {
		res := m.patch(t, u.ID, off, data[off:off+100], tok)
		if res.code != http.StatusConflict || res.hdr.Get("Upload-Offset") != "3000" {
			t.Errorf("piece at %d: %d offset %q, want 409 and 3000", off, res.code, res.hdr.Get("Upload-Offset"))
		}
	}
	if res := m.patch(t, u.ID, 3000, data[3000:4000], "wrong"); res.code != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d", res.code)
	}
	// A reload: the page declares the same file again and gets the same upload.
	_, again, _ := m.create(t, "Takeout/Mail/All mail Including Spam and Trash.mbox", len(data))
	if again.ID != u.ID || again.Offset != 3000 {
		t.Fatalf("resume: %+v", again)
	}
	if res := m.patch(t, u.ID, 3000, nil, tok); res.code != http.StatusNoContent || res.hdr.Get("Upload-Offset") != "3000" {
		t.Errorf("empty piece: %d %q", res.code, res.hdr.Get("Upload-Offset"))
	}
	res := m.patch(t, u.ID, 3000, data[3000:20000], tok)
	if res.code != http.StatusNoContent || res.hdr.Get("Upload-Offset") != "20000" {
		t.Fatalf("piece: %d %s", res.code, res.body)
	}
	res = m.patch(t, u.ID, 20000, data[20000:], tok)
	var done uploadJSON
	json.Unmarshal([]byte(res.body), &done)
	if res.code != http.StatusOK || done.Job == 0 || done.State != "handed" {
		t.Fatalf("last piece: %d %s", res.code, res.body)
	}
	e.start(t)
	j := m.waitJob(t, done.Job)
	if j.State != mailimport.StateDone || j.Copied != 200 {
		t.Errorf("job: %+v", j)
	}
	if mb, err := e.st.Mailbox(t.Context(), m.u.Account.ID, "Campaign 2027"); err != nil || mb.Messages != 200 {
		t.Errorf("Campaign 2027: %+v %v", mb, err)
	}
	for _, p := range []string{"/mail/import", fmt.Sprintf("/mail/import/jobs/%d", done.Job)} {
		page := m.get(t, p)
		if !strings.Contains(page.body, "All mail Including Spam and Trash.mbox") || strings.Contains(page.body, e.dir) {
			t.Errorf("%s does not name the file, or shows where the server keeps it", p)
		}
	}
	// The job has ended: the sweep deletes the file.
	if n, err := e.h.d.Uploads.Sweep(t.Context(), e.h.jobEnded); n != 1 || err != nil {
		t.Errorf("sweep: %d %v", n, err)
	}
}

// TestUploadLimits: the size limit is the member's free quota; a piece
// past the declared size is refused; a Takeout archive is refused with
// its own message until the takeout kind exists, accepted after; a file
// of another kind is refused.
func TestUploadLimits(t *testing.T) {
	t.Parallel()
	var started []string
	e := newEnv(t)
	m := e.member(t, "anna")
	if err := e.st.SetQuota(t.Context(), m.u.Account.ID, 10000); err != nil {
		t.Fatal(err)
	}
	if code, _, body := m.create(t, "big.mbox", 10001); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than the 10.0 kB") {
		t.Errorf("over quota: %d %s", code, body)
	}
	code, u, _ := m.create(t, "small.mbox", 100)
	if code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if res := m.patch(t, u.ID, 0, bytes.Repeat([]byte("x"), 101), m.csrf(t)); res.code != http.StatusRequestEntityTooLarge {
		t.Errorf("piece past the size: %d", res.code)
	}
	if _, st := m.state(t, u.ID); st.Offset != 0 {
		t.Errorf("offset %d after a refused piece", st.Offset)
	}
	if code, _, body := m.create(t, "takeout-20261206.zip", 100); code != http.StatusUnsupportedMediaType || !strings.Contains(body, "cannot be imported yet") {
		t.Errorf("zip: %d %s", code, body)
	}
	if code, _, body := m.create(t, "photo.jpg", 100); code != http.StatusUnsupportedMediaType || !strings.Contains(body, "not a file caucus can import") {
		t.Errorf("jpg: %d %s", code, body)
	}
	for _, bad := range []url.Values{{"name": {""}, "size": {"10"}}, {"name": {"a.mbox"}, "size": {"-5"}}, {"name": {"a.mbox"}, "size": {"x"}}} {
		if res := m.post(t, "/mail/import/uploads", bad); res.code != http.StatusBadRequest {
			t.Errorf("%v: %d", bad, res.code)
		}
	}
	// The server's disk has no room.
	e.h.d.Uploads.Free = func() (int64, error) { return 50 << 20, nil }
	if code, _, body := m.create(t, "more.mbox", 100); code != http.StatusInsufficientStorage || !strings.Contains(body, "no room") {
		t.Errorf("disk full: %d %s", code, body)
	}
	// When the takeout kind is wired, archives go to it.
	e2 := newEnv(t, func(c *envConfig) {
		c.hdeps = func(d *Deps) {
			d.Kinds[KindTakeout] = func(_ context.Context, req mailimport.Request, path string) (int64, error) {
				started = append(started, req.Subject+" "+filepath.Base(path))
				return 77, nil
			}
		}
	})
	m2 := e2.member(t, "bob")
	code, u, _ = m2.create(t, "takeout.tgz", 4)
	if code != http.StatusCreated {
		t.Fatalf("tgz with the takeout kind: %d", code)
	}
	res := m2.patch(t, u.ID, 0, []byte("abcd"), m2.csrf(t))
	if res.code != http.StatusOK || len(started) != 1 || started[0] != "bob@example.org takeout.tgz" {
		t.Errorf("takeout hand-over: %d %s %v", res.code, res.body, started)
	}
}

// TestUploadOtherMember: another member's upload id answers 404 to
// every request and is left as it was.
func TestUploadOtherMember(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna, bob := e.member(t, "anna"), e.member(t, "bob")
	_, u, _ := anna.create(t, "a.mbox", 10)
	if code, _ := bob.state(t, u.ID); code != http.StatusNotFound {
		t.Errorf("GET: %d", code)
	}
	if res := bob.patch(t, u.ID, 0, []byte("0123456789"), bob.csrf(t)); res.code != http.StatusNotFound {
		t.Errorf("PATCH: %d", res.code)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "DELETE", e.ts.URL+"/mail/import/uploads/"+u.ID, nil)
	req.Header.Set("X-CSRF-Token", bob.csrf(t))
	if res := bob.do(t, req); res.code != http.StatusNotFound {
		t.Errorf("DELETE: %d", res.code)
	}
	if code, st := anna.state(t, u.ID); code != http.StatusOK || st.Offset != 0 || st.State != "receiving" {
		t.Errorf("anna's upload: %d %+v", code, st)
	}
	if page := bob.get(t, "/mail/import"); strings.Contains(page.body, "a.mbox") {
		t.Error("bob's page shows anna's upload")
	}
	req, _ = http.NewRequestWithContext(t.Context(), "DELETE", e.ts.URL+"/mail/import/uploads/"+u.ID, nil)
	req.Header.Set("X-CSRF-Token", anna.csrf(t))
	if res := anna.do(t, req); res.code != http.StatusNoContent {
		t.Errorf("anna's DELETE: %d", res.code)
	}
	if code, _ := anna.state(t, u.ID); code != http.StatusNotFound {
		t.Errorf("after DELETE: %d", code)
	}
}

// TestUploadAbandoned: an upload left for a day is deleted, and the
// page no longer offers to resume it.
func TestUploadAbandoned(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.member(t, "anna")
	_, u, _ := m.create(t, "old.mbox", 10)
	if res := m.patch(t, u.ID, 0, []byte("01234"), m.csrf(t)); res.code != http.StatusNoContent {
		t.Fatalf("piece: %d", res.code)
	}
	if page := m.get(t, "/mail/import"); !strings.Contains(page.body, "Not finished: old.mbox") {
		t.Error("the page does not offer to resume")
	}
	e.a.Clock.Advance(25 * time.Hour)
	e.a.SignIn(t, m.u) // the session has expired meanwhile
	if n, err := e.h.d.Uploads.Sweep(t.Context(), e.h.jobEnded); n != 1 || err != nil {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if code, _ := m.state(t, u.ID); code != http.StatusNotFound {
		t.Errorf("after a day: %d", code)
	}
	if page := m.get(t, "/mail/import"); strings.Contains(page.body, "old.mbox") {
		t.Error("the page still shows the abandoned upload")
	}
}

// TestUploadCompleteNotHanded: an upload whose every byte is in but
// whose job did not start (the answer to the last piece was lost, or
// caucus stopped in between) starts it on an empty piece at the end,
// once.
func TestUploadCompleteNotHanded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.member(t, "anna")
	data := []byte(testMbox(2))
	_, u, _ := m.create(t, "a.mbox", len(data))
	if _, err := e.h.d.Uploads.Write(t.Context(), m.u.Account.ID, u.ID, 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	_, again, _ := m.create(t, "a.mbox", len(data))
	if again.ID != u.ID || again.Offset != int64(len(data)) {
		t.Fatalf("the reload finds %+v", again)
	}
	res := m.patch(t, u.ID, int64(len(data)), nil, m.csrf(t))
	var got uploadJSON
	json.Unmarshal([]byte(res.body), &got)
	if res.code != http.StatusOK || got.Job == 0 || got.State != "handed" {
		t.Fatalf("empty last piece: %d %s", res.code, res.body)
	}
	if res := m.patch(t, u.ID, int64(len(data)), nil, m.csrf(t)); res.code != http.StatusOK {
		t.Errorf("again: %d", res.code)
	}
	if jobs, _ := e.im.Jobs(t.Context(), m.u.Account.ID); len(jobs) != 1 {
		t.Errorf("%d jobs, want 1", len(jobs))
	}
}
