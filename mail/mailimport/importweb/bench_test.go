package importweb

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkUpload sends a 256 MB file over TLS on loopback: through the
// upload protocol in 4 MiB pieces, each fsynced before it is
// acknowledged (caucus), and, in the same run, as one plain PUT to a
// stdlib handler that copies the body to a file and fsyncs once (the
// floor: what the disk and TLS give without resumability). Reported as
// MB/s; run with -benchtime 1x -count 3 and compare the pairs.
//
//	go test ./mail/mailimport/importweb -run '^$' -bench Upload -benchtime 1x -count 3
func BenchmarkUpload(b *testing.B) {
	const size = 256 << 20
	data := bytes.Repeat([]byte("From a@b Mon Jan  5 10:00:00 2026\nSubject: x\n\nbody line of a message\n\n"), size/70+1)[:size]
	b.Run("caucus", func(b *testing.B) {
		e := newEnv(b)
		m := e.member(b, "anna")
		tok := m.csrf(b)
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			_, u, body := m.create(b, "bench"+strconv.Itoa(i)+".mbox", size)
			if u.ID == "" {
				b.Fatal(body)
			}
			for off := int64(0); off < size; off += chunkSize {
				res := m.patch(b, u.ID, off, data[off:min(off+chunkSize, size)], tok)
				if res.code != http.StatusNoContent && res.code != http.StatusOK {
					b.Fatalf("piece at %d: %d %s", off, res.code, res.body)
				}
			}
		}
	})
	b.Run("plain-put", func(b *testing.B) {
		dir := b.TempDir()
		ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, err := os.Create(filepath.Join(dir, "put"))
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			defer f.Close()
			if _, err := io.Copy(f, r.Body); err != nil || f.Sync() != nil {
				http.Error(w, "write", 500)
				return
			}
			w.WriteHeader(http.StatusCreated)
		}))
		defer ts.Close()
		b.SetBytes(size)
		for b.Loop() {
			req, _ := http.NewRequest("PUT", ts.URL+"/put", bytes.NewReader(data))
			res, err := ts.Client().Do(req)
			if err != nil || res.StatusCode != http.StatusCreated {
				b.Fatalf("%v %v", res, err)
			}
			res.Body.Close()
		}
	})
}
