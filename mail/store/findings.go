package store

import (
	"bytes"
	"fmt"
	"io"

	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// withoutOwnFindings returns r with the header fields only this host's MX
// writes removed: Authentication-Results claiming Options.Hostname and
// X-Caucus-Warning (msgauth.RemoveOwnFindings). A message that did not
// come through the MX (IMAP APPEND, an imported mailbox) could otherwise
// carry a "dmarc=pass" in caucus's name, which readers would believe (RFC
// 8601 section 5). It reads the header into memory, at most
// message.MaxHeader bytes (what readers of the header read: a field past
// it is read by nobody), and streams the rest.
func (s *Store) withoutOwnFindings(r io.Reader) (io.Reader, error) {
	head := make([]byte, 0, 4096)
	buf := make([]byte, 4096)
	for len(head) < message.MaxHeader {
		n, err := r.Read(buf[:min(len(buf), message.MaxHeader-len(head))])
		head = append(head, buf[:n]...)
		if message.HeaderEnd(head) < len(head) || err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("store: reading message: %w", err)
		}
	}
	head = msgauth.RemoveOwnFindings(head, s.opts.Hostname)
	return io.MultiReader(bytes.NewReader(head), r), nil
}
