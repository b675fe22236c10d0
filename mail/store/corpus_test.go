package store

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// corpus makes realistic test messages for the storage benchmark: a Zipf
// vocabulary (few words common, most rare), headers as delivered mail
// carries them (Received, DKIM-Signature, Message-ID), quoted replies, and
// a mix of kinds: three in four plain text of 0.5–6 KB, one in five
// multipart/alternative with an HTML part, one in twenty with a base64
// attachment of 10–80 KB. The mean message is about 6–7 KB, like the mail
// the storage figures of issue 21 were measured on.
type corpus struct {
	rng   *rand.Rand
	zipf  *rand.Zipf
	vocab []string
}

func newCorpus(seed uint64) *corpus {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	syl := strings.Fields("ka to ri ne sa mo lu pe di an ver schaft ung lich ment tion al po li tik wahl par tei rat gen ber ei au ou es el la re de con pro")
	seen := map[string]bool{}
	c := &corpus{rng: rng}
	for len(c.vocab) < 40000 {
		var b strings.Builder
		for range 1 + rng.IntN(4) {
			b.WriteString(syl[rng.IntN(len(syl))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			c.vocab = append(c.vocab, w)
		}
	}
	c.zipf = rand.NewZipf(rng, 1.07, 2, uint64(len(c.vocab)-1))
	return c
}

// words returns about n bytes of prose.
func (c *corpus) words(n int) string {
	var b strings.Builder
	for b.Len() < n {
		switch r := c.rng.IntN(100); {
		case r < 2:
			fmt.Fprintf(&b, "%d", c.rng.IntN(100000))
		case r < 3:
			fmt.Fprintf(&b, "%s.%s@example.org", c.vocab[c.zipf.Uint64()], c.vocab[c.zipf.Uint64()])
		case r < 4:
			fmt.Fprintf(&b, "https://www.example.org/%s/%d", c.vocab[c.zipf.Uint64()], c.rng.IntN(1e6))
		default:
			b.WriteString(c.vocab[c.zipf.Uint64()])
		}
		if c.rng.IntN(12) == 0 {
			b.WriteString(".\r\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// header returns the header of message i, ending with the blank line's
// predecessor (the caller adds the Content-Type and the blank line).
func (c *corpus) header(i int, extra string) string {
	date := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * 7 * time.Minute)
	sig := make([]byte, 256)
	for j := range sig {
		sig[j] = byte(c.rng.Uint32())
	}
	from := c.vocab[c.zipf.Uint64()]
	return fmt.Sprintf("Received: from mail.example.net (mail.example.net [192.0.2.%d])\r\n\tby mx.example.org with ESMTPS id %x\r\n\tfor <members@example.org>; %s\r\n"+
		"DKIM-Signature: v=1; a=rsa-sha256; d=example.net; s=sel; h=from:to:subject:date;\r\n\tbh=%s;\r\n\tb=%s\r\n"+
		"From: %s %s <%s@example.net>\r\nTo: members@example.org\r\nSubject: %s %s %d\r\nDate: %s\r\nMessage-ID: <%x.%d@example.net>\r\nMIME-Version: 1.0\r\n%s",
		i%250, c.rng.Uint64(), date.Format(time.RFC1123Z), base64.StdEncoding.EncodeToString(sig[:32]), base64.StdEncoding.EncodeToString(sig),
		strings.ToUpper(from[:1])+from[1:], c.vocab[c.zipf.Uint64()], from, c.vocab[c.zipf.Uint64()], c.vocab[c.zipf.Uint64()], i,
		date.Format(time.RFC1123Z), c.rng.Uint64(), i, extra)
}

// message returns message i; marker, if not "", is put in its body.
func (c *corpus) message(i int, marker string) string {
	text := c.words(500 + c.rng.IntN(5500))
	if c.rng.IntN(3) == 0 { // a reply quoting the previous message
		text += "\r\n\r\nOn Monday someone wrote:\r\n> " + strings.ReplaceAll(c.words(300+c.rng.IntN(2000)), "\r\n", "\r\n> ")
	}
	if marker != "" {
		text += "\r\n" + marker + "\r\n"
	}
	switch r := c.rng.IntN(20); {
	case r == 0:
		att := make([]byte, 10<<10+c.rng.IntN(70<<10))
		for j := range att {
			att[j] = byte(c.rng.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(att)
		var b strings.Builder
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
		return c.header(i, "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n") +
			"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n" +
			"--b1\r\nContent-Type: application/pdf; name=\"minutes.pdf\"\r\nContent-Disposition: attachment; filename=\"minutes.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			b.String() + "--b1--\r\n"
	case r < 5:
		html := "<html><head><style>p { margin: 0 }</style></head><body><div style=\"font-family: Arial, sans-serif; font-size: 11pt\"><p>" +
			strings.ReplaceAll(text, "\r\n", "</p>\r\n<p style=\"margin: 0 0 8px 0\">") + "</p></div></body></html>"
		return c.header(i, "Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n") +
			"--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n" +
			"--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n--b2--\r\n"
	default:
		return c.header(i, "Content-Type: text/plain; charset=utf-8\r\n\r\n") + text
	}
}
