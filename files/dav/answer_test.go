package dav_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/files/filestest"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// answerServer serves /dav/ over TLS with HTTP/2 enabled and returns it
// with an app password of anna@example.org's for files.
func answerServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	fe := filestest.New(t, files.Options{})
	mux := http.NewServeMux()
	dav.New(fe.Store, fe.Auth, nil, nil).Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := fe.Person(t, "anna@example.org")
	secret := fe.AppPassword(t, u, "laptop", auth.ScopeFiles)
	return srv, secret
}

// TestSuccessAnswersWithoutContent: a PUT, MKCOL, COPY or MOVE that
// succeeds is answered with its status and headers alone (RFC 9110
// section 15.3.2 lets a 201 carry no content), not x/net/webdav's
// "Created" as text/plain. TestPutAnswerOneFrame sees the frames.
func TestSuccessAnswersWithoutContent(t *testing.T) {
	t.Parallel()
	srv, secret := answerServer(t)
	h2 := srv.Client()
	h1 := &http.Client{Transport: h2.Transport.(*http.Transport).Clone()}
	h1.Transport.(*http.Transport).ForceAttemptHTTP2 = false
	h1.Transport.(*http.Transport).TLSClientConfig.NextProtos = []string{"http/1.1"}

	for _, tc := range []struct {
		c      *http.Client
		proto  int
		method string
		path   string
		body   string
		want   int
		hdr    []string
	}{
		{h2, 2, "PUT", "/dav/Home/a.txt", "hello", http.StatusCreated, nil},
		{h2, 2, "MKCOL", "/dav/Home/d", "", http.StatusCreated, nil},
		{h2, 2, "COPY", "/dav/Home/a.txt", "", http.StatusCreated, []string{"Destination", srv.URL + "/dav/Home/d/b.txt"}},
		{h2, 2, "MOVE", "/dav/Home/d/b.txt", "", http.StatusCreated, []string{"Destination", srv.URL + "/dav/Home/c.txt"}},
		{h1, 1, "PUT", "/dav/Home/e.txt", "hello", http.StatusCreated, nil},
		{h1, 1, "MKCOL", "/dav/Home/f", "", http.StatusCreated, nil},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("anna@example.org", secret)
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			req.Header.Set(tc.hdr[i], tc.hdr[i+1])
		}
		resp, err := tc.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode != tc.want || resp.ProtoMajor != tc.proto:
			t.Fatalf("%s %s over HTTP/%d: %s over HTTP/%d", tc.method, tc.path, tc.proto, resp.Status, resp.ProtoMajor)
		case resp.ContentLength != 0 || resp.Header.Get("Content-Type") != "":
			t.Errorf("%s %s over HTTP/%d: Content-Length %d, Content-Type %q, want no content", tc.method, tc.path, tc.proto, resp.ContentLength, resp.Header.Get("Content-Type"))
		case resp.Header.Get("X-Content-Type-Options") != "nosniff":
			t.Errorf("%s %s: X-Content-Type-Options %q", tc.method, tc.path, resp.Header.Get("X-Content-Type-Options"))
		}
	}
}

// TestPutAnswerOneFrame: over HTTP/2 a PUT's 201 is one HEADERS frame
// that ends the stream, where a DATA frame of "Created" followed it, for
// which the handler waited on the connection's serve loop once more.
func TestPutAnswerOneFrame(t *testing.T) {
	t.Parallel()
	srv, secret := answerServer(t)

	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{
		RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, NextProtos: []string{"h2"}, ServerName: "example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	body := bytes.Repeat([]byte("x"), 40<<10)
	for _, f := range [][2]string{
		{":method", "PUT"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/dav/Home/a.bin"},
		{"authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("anna@example.org:"+secret))},
		{"content-length", strconv.Itoa(len(body))},
	} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	for len(body) > 0 {
		n := min(len(body), 16<<10)
		fr.WriteData(1, n == len(body), body[:n])
		body = body[n:]
	}
	var got []string
	for done := false; !done; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if f.Header().StreamID != 1 {
			continue
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			got = append(got, "HEADERS "+f.PseudoValue("status"))
			done = f.StreamEnded()
		case *http2.DataFrame:
			got = append(got, fmt.Sprintf("DATA %q", f.Data()))
			done = f.StreamEnded()
		case *http2.RSTStreamFrame:
			t.Fatalf("after %v: %v", got, f.ErrCode)
		}
	}
	if want := []string{"HEADERS 201"}; !slices.Equal(got, want) {
		t.Errorf("frames of the answer %q, want %q", got, want)
	}
}

// pipeBody is an HTTP/2 request body whose content has all arrived:
// each Read returns as much of it as fits, as Go's HTTP/2 server's pipe
// does, and counts the reads that returned data, each of which the
// server answers with WINDOW_UPDATE frames from its serve loop.
type pipeBody struct {
	r     *bytes.Reader
	reads int
}

func (p *pipeBody) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.reads++
	}
	return n, err
}

func (p *pipeBody) Close() error { return nil }

// TestPutReadsBodyAtOnce: over HTTP/2, a PUT of up to dav.WholeBody bytes
// whose content has arrived takes it from the connection in one read, not
// in the pieces the store asks for (16 KiB and a byte to tell a small
// content, then the rest): every read that returns data costs a hand-off
// to the connection's serve loop and WINDOW_UPDATE frames. A larger body,
// or one over HTTP/1.1, is read as the store asks.
func TestPutReadsBodyAtOnce(t *testing.T) {
	t.Parallel()
	fe := filestest.New(t, files.Options{})
	mux := http.NewServeMux()
	dav.New(fe.Store, fe.Auth, nil, nil).Register(mux)
	u, a := fe.Person(t, "anna@example.org")
	secret := fe.AppPassword(t, u, "laptop", auth.ScopeFiles)
	for i, tc := range []struct {
		size, proto, maxReads int
	}{
		{64 << 10, 2, 1},
		{10 << 10, 2, 1},
		{dav.WholeBody, 2, 1},
		{dav.WholeBody + 1, 2, 1 << 20},
		{64 << 10, 1, 1 << 20},
	} {
		content := bytes.Repeat([]byte{byte(i)}, tc.size)
		pb := &pipeBody{r: bytes.NewReader(content)}
		req := httptest.NewRequestWithContext(t.Context(), "PUT", fmt.Sprintf("/dav/Home/f%d", i), pb)
		req.ContentLength = int64(tc.size)
		req.ProtoMajor = tc.proto
		req.SetBasicAuth("anna@example.org", secret)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Fatalf("PUT of %d bytes over HTTP/%d: %d %s", tc.size, tc.proto, rec.Code, rec.Body)
		}
		if pb.reads > tc.maxReads {
			t.Errorf("PUT of %d bytes over HTTP/%d: %d reads of the body, want at most %d", tc.size, tc.proto, pb.reads, tc.maxReads)
		}
		_, rc, err := fe.Store.OpenPath(t.Context(), a, fmt.Sprintf("/Home/f%d", i))
		var got []byte
		if err == nil {
			got, err = io.ReadAll(rc)
			rc.Close()
		}
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("PUT of %d bytes over HTTP/%d stored %d bytes (%v)", tc.size, tc.proto, len(got), err)
		}
	}
}
