package msgview

import (
	"strings"
	"testing"
)

// crlf turns "\n" into "\r\n".
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

const altMessage = `Received: from mx.sender.example ([192.0.2.1])
	by mail.party.example with ESMTP; Sun, 6 Dec 2026 10:00:00 +0000
Authentication-Results: mail.party.example;
	spf=pass smtp.mailfrom=sender.example;
	dkim=pass header.d=sender.example header.s=s1;
	dmarc=pass (p=reject) header.from=sender.example
From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@sender.example>
To: Anna <anna@party.example>, team: bob@party.example, carl@party.example;
Subject: =?iso-8859-1?q?Gr=FC=DFe?= aus Berlin
Date: Sat, 05 Dec 2026 18:30:00 +0100
Message-ID: <abc@sender.example>
References: <r1@x> <r2@x>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Hallo Anna
--alt
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<p>Hallo Anna, Gr=FC=DFe <img src=3D"cid:logo@x"></p>
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
--alt--
--outer
Content-Type: application/pdf; name="=?utf-8?q?Rechnung=E2=80=AEfdp.exe?="
Content-Disposition: attachment; filename*=utf-8''..%2F..%2Fetc%2Fpasswd
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer--
`

func TestParseAlternative(t *testing.T) {
	t.Parallel()
	v, err := ParseBytes([]byte(crlf(altMessage)), Options{Hostname: "mail.party.example"})
	if err != nil {
		t.Fatal(err)
	}
	h := v.Header
	if len(h.From) != 1 || h.From[0].Name != "Jörg Müller" || h.From[0].Addr != "jorg@sender.example" {
		t.Errorf("From = %+v", h.From)
	}
	if h.Subject != "Grüße aus Berlin" {
		t.Errorf("Subject = %q", h.Subject)
	}
	if len(h.To) != 3 || h.To[1].Group != "team" {
		t.Errorf("To = %+v", h.To)
	}
	if h.Date.IsZero() || h.MessageID != "<abc@sender.example>" || len(h.References) != 2 {
		t.Errorf("Date %v, Message-ID %q, References %q", h.Date, h.MessageID, h.References)
	}
	var ids []string
	for _, p := range v.Parts {
		ids = append(ids, p.ID+" "+p.Type)
	}
	want := "1 multipart/alternative,1.1 text/plain,1.2 multipart/related,1.2.1 text/html,1.2.2 image/png,2 application/pdf"
	if got := strings.Join(ids, ","); got != want {
		t.Fatalf("parts:\n got %s\nwant %s", got, want)
	}
	if v.Body == nil || v.Body.ID != "1.2.1" {
		t.Fatalf("Body = %+v", v.Body)
	}
	if len(v.Attachments) != 2 || v.Attachments[0].ID != "1.2.2" || !v.Attachments[0].Inline || v.Attachments[0].ContentID != "logo@x" {
		t.Fatalf("Attachments = %+v", v.Attachments)
	}
	pdf := v.Attachments[1]
	if pdf.Filename != "passwd" || pdf.Size != 9 || pdf.Disposition != "attachment" {
		t.Errorf("pdf = %+v", pdf)
	}
	var b strings.Builder
	if _, err := v.WritePart(&b, "2"); err != nil || b.String() != "%PDF-1.4\n" {
		t.Errorf("WritePart = %q, %v", b.String(), err)
	}
	b.Reset()
	res, err := v.SanitizeBody(&b, "https://caucus.test/m/1/part/{part}", SanitizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Grüße") || !strings.Contains(b.String(), `src="https://caucus.test/m/1/part/1.2.2"`) {
		t.Errorf("body:\n%s", b.String())
	}
	_ = res
	b.Reset()
	if _, err := v.WriteText(&b, "1.1"); err != nil || b.String() != "Hallo Anna" {
		t.Errorf("WriteText = %q, %v", b.String(), err)
	}
	f := v.Findings
	if !f.Checked || f.SPF != "pass" || f.DKIM != "pass" || f.DMARC != "pass" || f.FromDomain != "sender.example" || f.Level != LevelOutside {
		t.Errorf("Findings = %+v", f)
	}
}
