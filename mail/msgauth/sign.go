package msgauth

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/caucus-org/caucus/mail/message"
)

// ErrKey says that a DKIM key is unusable: not PKCS#8 PEM, not Ed25519 or
// RSA, RSA shorter than 1024 bits (RFC 8301 section 3.2), or with a bad
// domain or selector.
var ErrKey = errors.New("msgauth: unusable DKIM key")

// ErrHeaderTooLong says that a message to be signed has a header block
// longer than maxSignHeader.
var ErrHeaderTooLong = errors.New("msgauth: message header too long to sign")

// ErrMalformed says that a message cannot be signed as it is: its first
// line starts with white space, so it would continue the DKIM-Signature
// field put above it, or its header fails mail/message's checks (not
// exactly one From mailbox, several Sender or Reply-To fields, a line
// that is no field), so that readers could take another author than the
// one the signature vouches for.
var ErrMalformed = errors.New("msgauth: malformed message")

// maxSignHeader bounds the header block Sign reads into memory.
const maxSignHeader = 1 << 20

// rsaBits is the size of the RSA keys GenerateKeys makes (RFC 8301 section
// 3.2: at least 1024, 2048 recommended; larger keys no longer fit one
// 255-byte TXT string and gain nothing against the threat here).
const rsaBits = 2048

// DKIMKey is a private key that signs mail for Domain, published under
// Selector (RFC 6376 section 3.1).
type DKIMKey struct {
	Domain   string
	Selector string
	// Signer is an ed25519.PrivateKey (RFC 8463) or an *rsa.PrivateKey.
	Signer crypto.Signer
}

// GenerateKeys makes one Ed25519 and one RSA-2048 key for domain, the pair
// that RFC 8463 section 4 recommends signing with while receivers that
// understand only RSA remain. Their selectors name the year and the
// algorithm, "c2026e" and "c2026r", so that next year's keys can be
// published beside this year's.
func GenerateKeys(domain string, now time.Time) ([]DKIMKey, error) {
	d := asciiDomain(domain)
	if d == "" {
		return nil, fmt.Errorf("%w: invalid domain %q", ErrKey, domain)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("msgauth: generating Ed25519 key: %w", err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("msgauth: generating RSA key: %w", err)
	}
	year := now.UTC().Year()
	return []DKIMKey{
		{Domain: d, Selector: fmt.Sprintf("c%de", year), Signer: ed},
		{Domain: d, Selector: fmt.Sprintf("c%dr", year), Signer: rk},
	}, nil
}

// MarshalKey encodes the private key as a PKCS#8 PEM block ("PRIVATE KEY").
func MarshalKey(k DKIMKey) ([]byte, error) {
	switch k.Signer.(type) {
	case ed25519.PrivateKey, *rsa.PrivateKey:
	default:
		return nil, fmt.Errorf("%w: key type %T", ErrKey, k.Signer)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey decodes a PKCS#8 PEM private key, as MarshalKey writes it, into
// a DKIMKey for domain and selector.
func ParseKey(domain, selector string, pemData []byte) (DKIMKey, error) {
	d := asciiDomain(domain)
	if d == "" {
		return DKIMKey{}, fmt.Errorf("%w: invalid domain %q", ErrKey, domain)
	}
	if !validSelector(selector) {
		return DKIMKey{}, fmt.Errorf("%w: invalid selector %q", ErrKey, selector)
	}
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "PRIVATE KEY" {
		return DKIMKey{}, fmt.Errorf("%w: no PKCS#8 PEM block", ErrKey)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return DKIMKey{}, fmt.Errorf("%w: %w", ErrKey, err)
	}
	k := DKIMKey{Domain: d, Selector: strings.ToLower(selector)}
	switch key := key.(type) {
	case ed25519.PrivateKey:
		k.Signer = key
	case *rsa.PrivateKey:
		if key.N.BitLen() < 1024 {
			return DKIMKey{}, fmt.Errorf("%w: RSA key of %d bits", ErrKey, key.N.BitLen())
		}
		k.Signer = key
	default:
		return DKIMKey{}, fmt.Errorf("%w: key type %T", ErrKey, key)
	}
	return k, nil
}

// validSelector reports whether s is a selector: dot-separated labels of
// letters, digits and hyphens (RFC 6376 section 3.1).
func validSelector(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// DNSRecord returns the TXT record that publishes the key's public half
// (RFC 6376 section 3.6.1): name "<selector>._domainkey.<domain>" and a
// value "v=DKIM1; k=ed25519; p=<32 raw bytes, base64>" (RFC 8463 section
// 4.2) or "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo DER, base64>". The value
// has no spaces inside p=, so it may be cut anywhere into the 255-byte
// strings of a TXT record (RFC 6376 section 3.6.2.2: verifiers join them
// without separators). It is "" for an unsupported key.
func (k DKIMKey) DNSRecord() (name, value string) {
	name = k.Selector + "._domainkey." + k.Domain
	if k.Signer == nil {
		return name, ""
	}
	switch pub := k.Signer.Public().(type) {
	case ed25519.PublicKey:
		value = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err == nil {
			value = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
		}
	}
	return name, value
}

// headerKeys returns the h= list for a header (RFC 6376 section 5.4): each
// field of the list below as many times as it occurs (at most twice: RFC
// 5322 allows each once; Sign refuses a second From, Sender or Reply-To
// before it gets here), and each but the list-* fields once more,
// "oversigned" (section 8.15), so that a field added later, such as a
// second From or a Reply-To that sends replies elsewhere, breaks the
// signature. List fields are not oversigned: a mailing list adds them.
func headerKeys(fields []message.Field) []string {
	// The fields RFC 6376 section 5.4.1 recommends, in the order h= lists
	// them, and the list fields of RFC 2369, 2919 and 8058.
	signed := []string{
		"from", "reply-to", "to", "cc", "subject", "date", "message-id",
		"in-reply-to", "references", "mime-version", "content-type",
		"content-transfer-encoding",
		"list-id", "list-help", "list-unsubscribe", "list-unsubscribe-post",
		"list-subscribe", "list-post", "list-owner", "list-archive",
	}
	count := map[string]int{}
	for _, f := range fields {
		if f.Colon {
			count[strings.ToLower(f.Name)]++
		}
	}
	var keys []string
	for _, name := range signed {
		n := min(count[name], 2)
		if !strings.HasPrefix(name, "list-") {
			n++
		}
		for range n {
			keys = append(keys, name)
		}
	}
	return keys
}

// Sign reads a message from msg and writes it to w with one DKIM-Signature
// field per key prepended (RFC 6376; Ed25519 per RFC 8463), in the order of
// keys. Signatures use relaxed/relaxed canonicalization (RFC 6376 section
// 3.4) and sha256, and sign the usual fields, oversigned (see headerKeys).
// Bare LF line endings are written, and signed, as CRLF, as an SMTP client
// sends them. The message is held in memory; Signatures does the same work
// without holding it.
func Sign(w io.Writer, msg io.Reader, keys []DKIMKey) error {
	var buf bytes.Buffer
	sigs, err := signatures(msg, keys, &buf)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, sigs); err != nil {
		return fmt.Errorf("msgauth: %w", err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("msgauth: %w", err)
	}
	return nil
}

// Signatures reads a message and returns the DKIM-Signature fields Sign
// would prepend to it, each folded and ending in CRLF, for a caller that
// streams the message from its own storage. The message must then be sent
// with CRLF line endings (bare LF counts as CRLF).
func Signatures(msg io.Reader, keys []DKIMKey) (string, error) {
	return signatures(msg, keys, nil)
}

func signatures(msg io.Reader, keys []DKIMKey, copyTo io.Writer) (string, error) {
	if len(keys) == 0 {
		return "", fmt.Errorf("%w: no keys", ErrKey)
	}
	br := bufio.NewReader(&crlfReader{br: bufio.NewReader(msg)})
	var header []byte
	for partial := false; ; {
		line, err := br.ReadSlice('\n')
		header = append(header, line...)
		if len(header) > maxSignHeader {
			return "", ErrHeaderTooLong
		}
		if err == bufio.ErrBufferFull {
			partial = true
			continue
		}
		if err == io.EOF {
			// A message without a body: end the header for the
			// verifier as a sender would.
			if len(header) > 0 && !bytes.HasSuffix(header, []byte("\r\n")) {
				header = append(header, "\r\n"...)
			}
			header = append(header, "\r\n"...)
			break
		}
		if err != nil {
			return "", fmt.Errorf("msgauth: reading message: %w", err)
		}
		if !partial && string(line) == "\r\n" {
			break
		}
		partial = false
	}
	if header[0] == ' ' || header[0] == '\t' {
		return "", fmt.Errorf("%w: header starts with white space", ErrMalformed)
	}
	h, err := message.Parse(header)
	if err == nil {
		err = h.Check()
	}
	if err != nil {
		// Sign only what the send-as check read: one From (mail/message).
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	hkeys := headerKeys(h.Fields)

	signers := make([]*dkim.Signer, 0, len(keys))
	defer func() {
		for _, s := range signers {
			s.Close()
		}
	}()
	writers := make([]io.Writer, 0, len(keys)+1)
	for _, k := range keys {
		if k.Signer == nil || !validSelector(k.Selector) || asciiDomain(k.Domain) == "" {
			return "", fmt.Errorf("%w: %q for %q", ErrKey, k.Selector, k.Domain)
		}
		s, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 asciiDomain(k.Domain),
			Selector:               k.Selector,
			Signer:                 k.Signer,
			Hash:                   crypto.SHA256,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             hkeys,
		})
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrKey, err)
		}
		signers = append(signers, s)
		writers = append(writers, s)
	}
	if copyTo != nil {
		writers = append(writers, copyTo)
	}
	mw := io.MultiWriter(writers...)
	if _, err := mw.Write(header); err != nil {
		return "", fmt.Errorf("msgauth: signing: %w", err)
	}
	if _, err := io.Copy(mw, br); err != nil {
		return "", fmt.Errorf("msgauth: signing: %w", err)
	}
	var out strings.Builder
	for _, s := range signers {
		if err := s.Close(); err != nil {
			return "", fmt.Errorf("msgauth: signing: %w", err)
		}
		out.WriteString(s.Signature())
	}
	return out.String(), nil
}

// crlfReader turns bare LF line endings into CRLF (RFC 5322 section 2.1).
type crlfReader struct {
	br        *bufio.Reader
	prevCR    bool
	pendingLF bool
}

func (c *crlfReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if c.pendingLF {
			p[n] = '\n'
			n++
			c.pendingLF, c.prevCR = false, false
			continue
		}
		if n > 0 && c.br.Buffered() == 0 {
			break // do not wait for more input with some in hand
		}
		b, err := c.br.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b == '\n' && !c.prevCR {
			p[n] = '\r'
			n++
			c.pendingLF = true
			continue
		}
		p[n] = b
		n++
		c.prevCR = b == '\r'
	}
	return n, nil
}
