package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/caucus-org/caucus/auth"
)

// Key is a software security key: an ECDSA P-256 WebAuthn credential made
// and used as a browser's authenticator would (W3C WebAuthn Level 2, "none"
// attestation), so that tests outside a browser can prove a passkey or
// security key to the real service. The browser tests use Chromium's
// virtual authenticator instead.
type Key struct {
	id     []byte
	priv   *ecdsa.PrivateKey
	rpID   string
	origin string
	count  uint32
	aaguid []byte // the model, 16 bytes; zeros as "none" attestation sends
}

// AddSecurityKey registers a new software security key for u, from u's
// fresh session, and returns it. u.Session is updated when the service
// rotates the token.
func (e *Env) AddSecurityKey(t testing.TB, u *User) *Key {
	t.Helper()
	k, err := e.TryAddSecurityKey(t, u, nil)
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return k
}

// TryAddSecurityKey registers a new software security key of the model
// aaguid (16 bytes; nil for zeros) for u, and returns it, or the error
// of the registration.
func (e *Env) TryAddSecurityKey(t testing.TB, u *User, aaguid []byte) (*Key, error) {
	t.Helper()
	ctx := t.Context()
	cfg := e.Auth.Config()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if aaguid == nil {
		aaguid = make([]byte, 16)
	}
	k := &Key{id: material(32), priv: priv, rpID: cfg.RPID, origin: cfg.Origins[0], aaguid: aaguid}
	cc, err := e.Auth.BeginRegistration(ctx, e.session(t, u), auth.KindSecurityKey)
	if err != nil {
		t.Fatalf("BeginRegistration: %v", err)
	}
	clientData := k.clientData("webauthn.create", cc.Response.Challenge)
	authData := k.authData(0x01|0x04|0x40, k.coseKey()) // user present, verified, credential data
	att := cborMap(3)
	att = append(att, cborText("fmt")...)
	att = append(att, cborText("none")...)
	att = append(att, cborText("attStmt")...)
	att = append(att, cborMap(0)...)
	att = append(att, cborText("authData")...)
	att = append(att, cborBytes(authData)...)
	body := k.credential(map[string]any{"clientDataJSON": b64(clientData), "attestationObject": b64(att), "transports": []string{"usb"}})
	tok, err := e.Auth.FinishRegistration(ctx, e.session(t, u), "test key", body, auth.Client{})
	if err != nil {
		return nil, err
	}
	if tok != "" {
		u.Session = tok
	}
	return k, nil
}

// StepUpWebAuthn proves k in u's session, as the step-up page does, so the
// session holds a fresh WebAuthn proof (what the admin console asks of
// every action).
func (e *Env) StepUpWebAuthn(t testing.TB, u *User, k *Key) {
	t.Helper()
	ca, err := e.Auth.BeginWebAuthn(t.Context(), e.session(t, u))
	if err != nil {
		t.Fatalf("BeginWebAuthn: %v", err)
	}
	k.count++
	clientData := k.clientData("webauthn.get", ca.Response.Challenge)
	authData := k.authData(0x01|0x04, nil)
	digest := sha256.Sum256(clientData)
	signed := sha256.Sum256(append(authData, digest[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, signed[:])
	if err != nil {
		t.Fatal(err)
	}
	body := k.credential(map[string]any{"clientDataJSON": b64(clientData), "authenticatorData": b64(authData), "signature": b64(sig)})
	tok, err := e.Auth.FinishWebAuthn(t.Context(), e.session(t, u), body, auth.Client{})
	if err != nil {
		t.Fatalf("FinishWebAuthn: %v", err)
	}
	if tok != "" {
		u.Session = tok
	}
}

func (e *Env) session(t testing.TB, u *User) auth.Session {
	t.Helper()
	sess, err := e.Auth.Session(t.Context(), u.Session)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	return sess
}

func (k *Key) clientData(typ string, challenge []byte) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": b64(challenge), "origin": k.origin, "crossOrigin": false})
	return b
}

// authData is the authenticator data (WebAuthn section 6.1): the RP ID's
// hash, flags, the signature counter, and for a registration the
// attested credential data.
func (k *Key) authData(flags byte, cose []byte) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	d := append(h[:], flags)
	d = binary.BigEndian.AppendUint32(d, k.count)
	if cose != nil {
		d = append(d, k.aaguid...) // the model (AAGUID)
		d = binary.BigEndian.AppendUint16(d, uint16(len(k.id)))
		d = append(d, k.id...)
		d = append(d, cose...)
	}
	return d
}

// coseKey is the public key as a COSE_Key (RFC 9053 section 7.1.1):
// kty EC2, alg ES256, crv P-256, x, y.
func (k *Key) coseKey() []byte {
	x := k.priv.X.FillBytes(make([]byte, 32))
	y := k.priv.Y.FillBytes(make([]byte, 32))
	c := cborMap(5)
	c = append(c, 0x01, 0x02) // kty: EC2
	c = append(c, 0x03, 0x26) // alg: -7 (ES256)
	c = append(c, 0x20, 0x01) // crv (-1): P-256
	c = append(c, 0x21)       // x (-2)
	c = append(c, cborBytes(x)...)
	c = append(c, 0x22) // y (-3)
	return append(c, cborBytes(y)...)
}

func (k *Key) credential(response map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": b64(k.id), "rawId": b64(k.id), "type": "public-key", "response": response})
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// The few CBOR items (RFC 8949) the attestation object needs.
func cborHead(major byte, n int) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 256:
		return []byte{major<<5 | 24, byte(n)}
	default:
		return binary.BigEndian.AppendUint16([]byte{major<<5 | 25}, uint16(n))
	}
}

func cborBytes(b []byte) []byte { return append(cborHead(2, len(b)), b...) }
func cborText(s string) []byte  { return append(cborHead(3, len(s)), s...) }
func cborMap(n int) []byte      { return cborHead(5, n) }
