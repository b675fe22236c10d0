package web

import (
	"io"
	"net/http"
	"time"
)

// ioIdle is how long one read of an upload or one write of a download may
// take. The server's ReadTimeout and WriteTimeout bound a whole request,
// which a large file on a slow line outlasts; transfers instead move the
// connection's deadline forward after every read and write, so a stalled
// client is still cut off but a slow one is not.
const ioIdle = time.Minute

// slidingReader reads from r, moving rc's read deadline forward before
// each read.
type slidingReader struct {
	r  io.Reader
	rc *http.ResponseController
}

func (s slidingReader) Read(p []byte) (int, error) {
	s.rc.SetReadDeadline(time.Now().Add(ioIdle)) // an error: the writer does not support deadlines, as in tests' recorders
	return s.r.Read(p)
}

// slidingWriter is a ResponseWriter that moves the write deadline forward
// before each write.
type slidingWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (s slidingWriter) Write(p []byte) (int, error) {
	s.rc.SetWriteDeadline(time.Now().Add(ioIdle))
	return s.ResponseWriter.Write(p)
}

// Unwrap lets [http.ResponseController] reach the writer underneath.
func (s slidingWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func sliding(w http.ResponseWriter) slidingWriter {
	return slidingWriter{ResponseWriter: w, rc: http.NewResponseController(w)}
}
