package msgview_test

import (
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/caucus-org/caucus/mail/msgview"
)

// How webmail shows a message: the page from the View (headers, banner,
// attachments, an iframe), the frame from SanitizeBody with FrameCSP, the
// parts from WritePart.
func Example() {
	msg := "Authentication-Results: mail.party.example; spf=pass smtp.mailfrom=x.example;\r\n" +
		" dkim=none; dmarc=pass header.from=x.example\r\n" +
		"From: =?utf-8?q?J=C3=B6rg?= <jorg@x.example>\r\n" +
		"Subject: Hello\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n" +
		`<p onclick="steal()">Hi <img src="https://tracker.example/p.gif"><a href="https://x.example/">www.mybank.de</a></p>`
	v, err := msgview.ParseBytes([]byte(msg), msgview.Options{Hostname: "mail.party.example"})
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Header.From[0], "|", v.Header.Subject, "| level", v.Findings.Level, v.Findings.DMARC)

	// GET /webmail/m/42/body, loaded by
	// <iframe sandbox="{{FrameSandbox}}" src="/webmail/m/42/body">.
	frame := httptest.NewRecorder()
	frame.Header().Set("Content-Type", "text/html; charset=utf-8")
	frame.Header().Set("X-Content-Type-Options", "nosniff")
	frame.Header().Set("Content-Security-Policy", msgview.FrameCSPWithImages("https://mail.party.example"))
	res, err := v.SanitizeBody(frame, "https://mail.party.example/webmail/m/42/part/{part}", msgview.SanitizeOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println("blocked", res.RemoteBlocked, "| look-alike links", len(res.Mismatches), res.Mismatches[0].TextDomain, "->", res.Mismatches[0].HrefDomain)
	fmt.Println(strings.Contains(frame.Body.String(), "onclick"), strings.Contains(frame.Body.String(), "tracker"))

	// GET /webmail/m/42/part/{id}: a download.
	w := httptest.NewRecorder()
	p := v.PartByID("1")
	w.Header().Set("Content-Type", p.ServeType())
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": p.DownloadName()}))
	if _, err := v.WritePart(w, p.ID); err != nil {
		http.Error(w, "not found", http.StatusNotFound)
	}
	fmt.Println(w.Header().Get("Content-Type"), p.DownloadName())
	// Output:
	// Jörg <jorg@x.example> | Hello | level outside pass
	// blocked 1 | look-alike links 1 mybank.de -> x.example
	// false false
	// application/octet-stream part-1.html
}
