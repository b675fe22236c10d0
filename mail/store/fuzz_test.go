package store

import (
	"bytes"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// FuzzDeliver delivers arbitrary bytes: Deliver must never panic, must
// store every non-empty message, and what it stored must come back from
// Messages with an envelope and a body structure, and be searchable.
//
// Each run commits to disk, so new inputs are slow to minimize; run it with
// a bounded minimization, e.g.
//
//	go test -run x -fuzz FuzzDeliver -fuzztime 30s -fuzzminimizetime 20x ./mail/store
func FuzzDeliver(f *testing.F) {
	for _, raw := range fixtures {
		f.Add([]byte(raw))
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/alternative; boundary=y\r\n\r\n--y\r\n\r\n--y--\r\n--x--\r\n"))
	f.Add([]byte("Subject: =?UTF-8?B?broken\r\nContent-Type: text/html; charset=x-unknown\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64<b>"))
	f.Add([]byte("no header at all"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte{0xff, 0xfe, 0x00, '\n', ':'})
	e := newEnv(f)
	acct := e.account(f, 1)
	in := e.mailbox(f, acct, "INBOX")

	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := t.Context()
		uids, err := e.s.Deliver(ctx, []int64{acct}, bytes.NewReader(data))
		if len(data) == 0 {
			if err == nil {
				t.Fatal("empty message stored")
			}
			return
		}
		if err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		uid := uids[acct]
		msgs, err := e.s.Messages(ctx, in.ID, []imap.UID{uid})
		if err != nil {
			t.Fatalf("Messages: %v", err)
		}
		if len(msgs) != 1 || msgs[0].Envelope == nil || msgs[0].BodyStructure == nil || msgs[0].Size != int64(len(data)) {
			t.Fatalf("stored message %+v", msgs)
		}
		msgs[0].BodyStructure.Walk(func(path []int, part imap.BodyStructure) bool { return true })
		if _, err := e.s.Search(ctx, in.ID, &imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(uid)}, Text: []string{"xyz", "q"},
			Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "a"}}}); err != nil {
			t.Fatalf("Search: %v", err)
		}
	})
}
