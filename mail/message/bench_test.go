package message

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
)

// benchHeader is the header of a typical list message, about 3 KB.
var benchHeader = strings.ReplaceAll(`Received: from mx.example.org ([192.0.2.1]) by mx.example-party.org with ESMTPS; Mon, 01 Jun 2026 10:00:00 +0000
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s1; h=from:to:subject:date:message-id; bh=`+strings.Repeat("A", 44)+`; b=`+strings.Repeat("B", 340)+`
From: "Anna Svensson" <anna.svensson@example.org>
Sender: lists@example.org
Reply-To: Board: anna@example.org, "Bo B." <bo@example.org>;
To: undisclosed-recipients:;
Cc: =?utf-8?q?Bj=C3=B8rn_=C3=98deg=C3=A5rd?= <bjorn@example.org>, carl@example.org (Carl)
Subject: =?utf-8?q?Agenda_f=C3=B6r_torsdag?=
Date: Mon, 01 Jun 2026 10:00:00 +0200
Message-ID: <agenda-1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
List-Id: <board.example.org>
List-Unsubscribe: <mailto:unsub@example.org>

body
`, "\n", "\r\n")

// BenchmarkParse: Parse, Check and the author as submission and the MX
// read them, against net/mail reading the same From (the peer it
// replaces). go test -bench Parse ./mail/message/
func BenchmarkParse(b *testing.B) {
	msg := []byte(benchHeader)
	b.Run("message", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			h, err := Parse(msg)
			if err != nil {
				b.Fatal(err)
			}
			if err := h.Check(); err != nil {
				b.Fatal(err)
			}
			if _, err := h.From(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net-mail", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			m, err := mail.ReadMessage(bytes.NewReader(msg))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.Header.AddressList("From"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
