package fileweb

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
)

// TestLinkRanges is issue 12 item 13: the Range requests of one download
// (a resuming browser, a download manager) use up one download of a
// limited link, not one each.
func TestLinkRanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"video.bin", "0123456789abcdef"}), http.StatusSeeOther)
	tok := makeLink(t, anna, "Home/video.bin", url.Values{"days": {"3"}, "limit": {"2"}})
	v := e.agent(nil)
	for i := 0; i < 16; i += 4 {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+"/s/"+tok+"/dl", nil)
		req.Header.Set("Range", "bytes="+strconv.Itoa(i)+"-"+strconv.Itoa(i+3))
		r := v.do(t, req)
		want(t, "range "+strconv.Itoa(i), r, http.StatusPartialContent)
	}
	want(t, "the whole file again, same visitor", v.get(t, "/s/"+tok+"/dl"), http.StatusOK)
	other := e.agent(nil)
	other.from = "127.0.0.2"
	if r := other.get(t, "/s/"+tok+"/dl"); r.code != http.StatusOK || r.body != "0123456789abcdef" {
		t.Fatalf("second recipient: %d %q", r.code, r.body)
	}
	third := e.agent(nil)
	third.from = "127.0.0.3"
	want(t, "a third recipient of a two-download link", third.get(t, "/s/"+tok+"/dl"), http.StatusGone)
}

// TestLinkPasswordNoLockout is issue 12 item 13: wrong guesses at a link's
// password from one address slow down that address only; the recipient
// with the password, elsewhere, gets in at once.
func TestLinkPasswordNoLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"list.csv", "names"}), http.StatusSeeOther)
	tok := makeLink(t, anna, "Home/list.csv", url.Values{"days": {"3"}, "password": {"harbour-lantern"}})
	guesser := e.agent(nil)
	guesser.from = "127.0.0.2"
	throttled := false
	for i := 0; i < 12 && !throttled; i++ {
		throttled = guesser.post(t, "/s/"+tok, url.Values{"password": {"guess" + strconv.Itoa(i)}}).code == http.StatusTooManyRequests
	}
	if !throttled {
		t.Fatal("the guesser was never slowed down")
	}
	friend := e.agent(nil)
	r := friend.post(t, "/s/"+tok, url.Values{"password": {"harbour-lantern"}})
	want(t, "the recipient with the password, from another address", r, http.StatusSeeOther)
	if b := friend.get(t, "/s/"+tok+"/dl").body; b != "names" {
		t.Fatalf("download: %q", b)
	}
	if strings.Contains(r.body, "Too many") {
		t.Fatal("the recipient was told to wait")
	}
}

// TestFolderLinkFileAsFolder is issue 12 item 14: a folder link asked to
// list a file (?d=<file id>) answers 404, not 500 with an ERROR log.
func TestFolderLinkFileAsFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "mkdir", anna.post(t, "/files/mkdir/Home", url.Values{"name": {"Press"}}), http.StatusSeeOther)
	want(t, "upload", anna.upload(t, "/files/upload/Home/Press", anna.csrf(t), false, [2]string{"a.txt", "a"}), http.StatusSeeOther)
	f, err := e.store.Stat(t.Context(), actorOf(anna), "/Home/Press/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	tok := makeLink(t, anna, "Home/Press", url.Values{"days": {"3"}})
	v := e.agent(nil)
	for _, d := range []string{strconv.FormatInt(f.ID, 10), "-1", "99999999", "x"} {
		want(t, "?d="+d, v.get(t, "/s/"+tok+"?d="+d), http.StatusNotFound)
	}
}

// TestSuspendCutsLinkDownload: incident mode's suspension of public links
// (and a link's revocation) cuts the downloads under way through them,
// not only the next ones (issue 12 item 8's cut transfers, for links).
func TestSuspendCutsLinkDownload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	home, err := e.store.Stat(t.Context(), actorOf(anna), "/Home")
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	if _, err := e.store.Put(t.Context(), actorOf(anna), home.ID, "big.bin", io.LimitReader(zeroes{}, size), size); err != nil {
		t.Fatal(err)
	}
	for _, stop := range []string{"suspend", "revoke"} {
		tok := makeLink(t, anna, "Home/big.bin", url.Values{"days": {"3"}})
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+"/s/"+tok+"/dl", nil)
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("download: %d", resp.StatusCode)
		}
		if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		if stop == "suspend" {
			_, err = e.store.SuspendPublicLinks(t.Context(), "admin")
		} else {
			_, err = e.store.RevokeLinksOf(t.Context(), "admin", anna.u.Account.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && got == size-(1<<20) {
			t.Fatalf("%s: the download went on to the end", stop)
		}
		if stop == "suspend" {
			if _, err := e.store.ResumePublicLinks(t.Context(), "admin"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) { clear(p); return len(p), nil }
