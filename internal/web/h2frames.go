package web

import (
	"io"
	"net/http"
)

// H2FrameData is the most content one write of a response should carry
// over HTTP/2: a DATA frame of that many bytes and its 9-byte header (RFC
// 9113 section 4.1) fill one TLS record, whose plaintext is at most 2^14
// bytes (RFC 8446 section 5.1). Go's HTTP/2 server cuts a handler's write
// into frames as large as the client allows (SETTINGS_MAX_FRAME_SIZE,
// 2^14 unless the client raises it, as curl and browsers do not: RFC 9113
// section 6.5.2), and crypto/tls cuts each frame of 2^14 + 9 bytes into
// two records, the second of 9 bytes: one record, write(2), packet and
// decryption more per 16 KiB for both ends than needed.
const H2FrameData = 1<<14 - 9

// FrameWrites returns the writer through which to write r's response
// body to w: over HTTP/2 one that hands w at most [H2FrameData] bytes a
// write, so that each write becomes one DATA frame in one TLS record;
// otherwise w itself (HTTP/1.1 sends a large write in full records).
func FrameWrites(w io.Writer, r *http.Request) io.Writer {
	if r.ProtoMajor != 2 {
		return w
	}
	return frameWriter{w}
}

// frameWriter cuts writes into pieces of at most H2FrameData bytes.
type frameWriter struct{ w io.Writer }

func (f frameWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k, err := f.w.Write(p[:min(len(p), H2FrameData)])
		n += k
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}
