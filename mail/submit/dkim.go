package submit

import (
	"bytes"
	"context"
	"fmt"

	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// DKIMSigner signs outgoing mail with the keys of the From domain (RFC 6376
// with an ed25519 and an RSA signature, RFC 8463), and passes other mail
// through unchanged. It lives here, beside the one path that sends, and
// signs with mail/msgauth's primitives.
type DKIMSigner struct {
	Keys map[string][]msgauth.DKIMKey // by lower-case domain
}

// Sign implements Signer. The keys are those of the domain of the From
// that mail/message reads, the one submission checked; a message without
// exactly one From mailbox is not signed but refused (msgauth.ErrMalformed).
func (s DKIMSigner) Sign(_ context.Context, msg []byte) ([]byte, error) {
	h, err := message.Parse(msg)
	if err != nil {
		return nil, fmt.Errorf("submit: dkim: %w: %w", msgauth.ErrMalformed, err)
	}
	from, err := h.From()
	if err != nil {
		return nil, fmt.Errorf("submit: dkim: %w: %w", msgauth.ErrMalformed, err)
	}
	keys := s.Keys[from.Domain()]
	if len(keys) == 0 {
		return msg, nil
	}
	var b bytes.Buffer
	b.Grow(len(msg) + 2048)
	if err := msgauth.Sign(&b, bytes.NewReader(msg), keys); err != nil {
		return nil, fmt.Errorf("submit: dkim: %w", err)
	}
	return b.Bytes(), nil
}
