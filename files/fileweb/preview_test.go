package fileweb

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
)

// Images and text are shown in the browser under the download sandbox;
// anything that could run (HTML, SVG) or that the sandbox stops the
// browser's viewer from showing (PDF) is only downloaded.
func TestPreview(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false,
		[2]string{"pic.png", "\x89PNG\r\n\x1a\n"}, [2]string{"notes.txt", "Agenda <b>1</b>\nbudget\n"},
		[2]string{"page.html", "<script>alert(1)</script>"}, [2]string{"logo.svg", "<svg/>"}, [2]string{"plan.pdf", "%PDF-1.4"}), http.StatusSeeOther)

	for _, c := range []struct{ name, typ string }{{"pic.png", "image/png"}, {"notes.txt", "text/plain; charset=utf-8"}} {
		r := anna.get(t, "/files/view/Home/"+c.name)
		want(t, "view "+c.name, r, http.StatusOK)
		if r.hdr.Get("Content-Type") != c.typ || !strings.HasPrefix(r.hdr.Get("Content-Disposition"), "inline;") ||
			r.hdr.Get("Content-Security-Policy") != DownloadCSP || r.hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("view %s: headers %v", c.name, r.hdr)
		}
	}
	for _, name := range []string{"page.html", "logo.svg", "plan.pdf"} {
		want(t, "view "+name, anna.get(t, "/files/view/Home/"+name), http.StatusNotFound)
		if item := anna.get(t, "/files/item/Home/"+name); strings.Contains(item.body, "/files/view/") {
			t.Errorf("item page of %s offers a preview", name)
		}
	}
	ben := e.user(t, "ben@example.org", auth.RoleMember)
	want(t, "ben views anna's file", ben.get(t, "/files/view/Shared/anna@example.org/pic.png"), http.StatusNotFound)

	if item := anna.get(t, "/files/item/Home/pic.png"); !strings.Contains(item.body, `<img id="preview" src="/files/view/Home/pic.png"`) {
		t.Errorf("image item page shows no preview:\n%s", item.body)
	}
	if item := anna.get(t, "/files/item/Home/notes.txt"); !strings.Contains(item.body, "Agenda &lt;b&gt;1&lt;/b&gt;\nbudget") || !strings.Contains(item.body, `id="textpreview"`) {
		t.Errorf("text item page shows no preview:\n%s", item.body)
	}
	if item := anna.get(t, "/files/item/Home/plan.pdf"); !strings.Contains(item.body, "PDF") {
		t.Errorf("PDF item page does not say why it is not shown:\n%s", item.body)
	}
}
