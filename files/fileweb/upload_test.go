package fileweb

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caucus-org/caucus/internal/i18n"
)

// FuzzReceive: whatever the multipart body, receive never hands a file to
// the store before a valid token, never more than maxUploadFiles, and
// reads each file it hands over to the end of its part.
func FuzzReceive(f *testing.F) {
	body := func(token string, files ...string) []byte {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary("BOUNDARY")
		if token != "" {
			mw.WriteField("csrf", token)
		}
		for _, name := range files {
			w, _ := mw.CreateFormFile("file", name)
			io.WriteString(w, "content of "+name)
		}
		mw.Close()
		return b.Bytes()
	}
	f.Add(body("good", "a.txt", "b.txt"))
	f.Add(body("bad", "a.txt"))
	f.Add(body("", "a.txt"))
	f.Add([]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../x\"\r\n\r\nx\r\n--BOUNDARY--\r\n"))
	f.Add([]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"size\"\r\n\r\n12\r\n--BOUNDARY--\r\n"))
	f.Add([]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--BOUNDARY--\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := httptest.NewRequest("POST", "/files/upload/Home", bytes.NewReader(b))
		r.Header.Set("Content-Type", "multipart/form-data; boundary=BOUNDARY")
		sawGood := false
		n, put := 0, 0
		n, _ = receive(r, false, func(tok string) bool {
			sawGood = tok == "good"
			return sawGood
		}, func(name string, size int64, body io.Reader) error {
			if !sawGood {
				t.Fatalf("file %q handed over without a valid token", name)
			}
			if name == "" {
				t.Fatal("file without a name handed over")
			}
			if size < -1 {
				t.Fatalf("file %q handed over with size %d", name, size)
			}
			if _, err := io.Copy(io.Discard, body); err != nil {
				return err
			}
			put++
			return nil
		})
		if n != put || n > maxUploadFiles {
			t.Fatalf("receive reported %d files, handed over %d", n, put)
		}
	})
}

func TestReceiveNotMultipart(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("POST", "/files/upload/Home", bytes.NewReader([]byte("name=x")))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := receive(r, true, nil, nil); err == nil {
		t.Fatal("receive accepted a form that is not multipart")
	}
	if code, _ := uploadStatus(i18n.Builtin().Localizer("en", nil), errNoToken); code != http.StatusForbidden {
		t.Errorf("upload without token answers %d", code)
	}
}
