package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Client talks to a running server over its socket. It is not safe for
// concurrent use.
type Client struct {
	conn *net.UnixConn
	r    *bufio.Reader
}

// Dial connects to the server whose data directory is dataDir. When no
// server is running it returns an error matching ErrNotRunning.
func Dial(ctx context.Context, dataDir string) (*Client, error) {
	path := filepath.Join(dataDir, SocketName)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: %s", ErrNotRunning, path)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("ctl: %s: permission denied; run this as the caucus service user or root", path)
		}
		return nil, fmt.Errorf("ctl: %w", err)
	}
	return &Client{conn: c.(*net.UnixConn), r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// Call performs op with args (encoded as a JSON object; nil for none) and
// decodes its result into result (nil to ignore it). An operation that
// failed on the server is a *RemoteError with the server's message.
func (c *Client) Call(ctx context.Context, op string, args, result any) error {
	req := Request{Op: op}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("ctl: %w", err)
		}
		req.Args = b
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Minute)
	}
	c.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	if len(b)+1 > MaxRequest {
		return fmt.Errorf("%w: request of %d bytes", ErrTooLarge, len(b))
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("ctl: send: %w", err)
	}
	line, err := readLine(c.r, MaxResponse)
	if err != nil {
		return fmt.Errorf("ctl: read answer: %w", err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("ctl: bad answer: %w", err)
	}
	if !resp.OK {
		return &RemoteError{Msg: resp.Error}
	}
	if result != nil && len(resp.Result) > 0 {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("ctl: bad result: %w", err)
		}
	}
	return nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
