package ctl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Size bounds of the protocol.
const (
	// MaxRequest bounds one request line, newline included.
	MaxRequest = 256 << 10
	// MaxResponse bounds one response line, newline included (an audit
	// listing of many records).
	MaxResponse = 16 << 20
	// maxOp bounds an operation's name.
	maxOp = 32
)

// Errors.
var (
	// ErrTooLarge reports a line over its bound.
	ErrTooLarge = errors.New("ctl: line too long")
	// ErrBadRequest reports a line that is not one well-formed request.
	ErrBadRequest = errors.New("ctl: bad request")
	// ErrNotRunning reports that no server answers on the socket.
	ErrNotRunning = errors.New("ctl: the caucus server is not running (no control socket)")
	// ErrUnknownOp reports an operation the server does not have.
	ErrUnknownOp = errors.New("ctl: unknown operation")
)

// Request is one line the client sends: an operation and its arguments,
// a JSON object whose fields depend on the operation.
type Request struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Response is the one line the server answers a request with.
type Response struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// RemoteError is an operation's failure as the server reported it.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// readLine reads one line of at most max bytes, newline included, and
// returns it without the newline. A line over max is ErrTooLarge; EOF
// before any byte is io.EOF, after some bytes io.ErrUnexpectedEOF.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			return nil, ErrTooLarge
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// DecodeRequest parses one request line: a JSON object with a known
// shape (no unknown field, nothing after it), an operation name of
// lower-case letters, digits and '-' of at most 32 bytes, and arguments
// that are an object if present.
func DecodeRequest(line []byte) (Request, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if rest := line[dec.InputOffset():]; len(bytes.TrimSpace(rest)) > 0 {
		return Request{}, fmt.Errorf("%w: data after the request", ErrBadRequest)
	}
	if !validOp(req.Op) {
		return Request{}, fmt.Errorf("%w: operation %q", ErrBadRequest, clip(req.Op, maxOp))
	}
	if a := bytes.TrimSpace(req.Args); len(a) > 0 && !bytes.Equal(a, []byte("null")) && a[0] != '{' {
		return Request{}, fmt.Errorf("%w: arguments must be an object", ErrBadRequest)
	}
	return req, nil
}

func validOp(op string) bool {
	if op == "" || len(op) > maxOp {
		return false
	}
	for _, c := range []byte(op) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// writeJSON writes v as one line.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
