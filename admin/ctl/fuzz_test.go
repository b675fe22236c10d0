package ctl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// FuzzDecodeRequest: any line decodes to a valid request or ErrBadRequest,
// never a panic; what decodes re-encodes to an equal request.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{`{"op":"list"}`, `{"op":"invite","args":{"login":"a@b"}}`, `{"op":"x","args":null}`,
		`{"op":"x"}   `, `{"op":"x"}{}`, `[]`, `{"op":1}`, `{"op":"a","op":"b"}`, "{\"op\":\"\\u0000\"}", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := DecodeRequest(line)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error kind: %v", err)
			}
			return
		}
		if !validOp(req.Op) {
			t.Fatalf("accepted op %q", req.Op)
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeRequest(b)
		if err != nil || again.Op != req.Op {
			t.Fatalf("re-decode of %s: %+v, %v", b, again, err)
		}
	})
}

// FuzzReadLine: lines are cut at newlines and never exceed the bound.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("a\nb\n"), 4)
	f.Add([]byte("abcdef"), 3)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max <= 0 || max > 1<<16 {
			return
		}
		r := bufio.NewReaderSize(bytes.NewReader(in), 16)
		total := 0
		for {
			line, err := readLine(r, max)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrTooLarge) {
					t.Fatal(err)
				}
				return
			}
			if len(line)+1 > max || bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("line %q with max %d", line, max)
			}
			total += len(line) + 1
			if total > len(in) {
				t.Fatal("read more than the input")
			}
		}
	})
}
