package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
)

// The WebAuthn ceremonies themselves need an authenticator; a browser test
// drives them. These tests check the options sent to the browser and that
// answers which are not real assertions are refused without a panic.

func TestBeginRegistrationOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind     FactorKind
		resident protocol.ResidentKeyRequirement
		uv       protocol.UserVerificationRequirement
	}{
		{KindPasskey, protocol.ResidentKeyRequirementRequired, protocol.VerificationRequired},
		{KindSecurityKey, protocol.ResidentKeyRequirementDiscouraged, protocol.VerificationDiscouraged},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			s, _ := newTestService(t)
			ctx := t.Context()
			id, enrol := invite(t, s, "una@example.org", RoleAdmin)
			_, credID := addFakeCredential(t, s, id, KindSecurityKey)
			sess := mustSession(t, s, enrol)
			creation, err := s.BeginRegistration(ctx, sess, tc.kind)
			if err != nil {
				t.Fatalf("BeginRegistration: %v", err)
			}
			o := creation.Response
			sel := o.AuthenticatorSelection
			if sel.ResidentKey != tc.resident || sel.UserVerification != tc.uv {
				t.Errorf("authenticatorSelection = %+v, want residentKey %q, userVerification %q", sel, tc.resident, tc.uv)
			}
			b, err := json.Marshal(creation)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{`"residentKey":"` + string(tc.resident) + `"`, `"userVerification":"` + string(tc.uv) + `"`} {
				if !bytes.Contains(b, []byte(want)) {
					t.Errorf("options JSON lacks %s:\n%s", want, b)
				}
			}
			if o.RelyingParty.ID != "localhost" || o.Attestation != protocol.PreferNoAttestation {
				t.Errorf("rp %q, attestation %q", o.RelyingParty.ID, o.Attestation)
			}
			uid, _ := json.Marshal(o.User.ID)
			if want, _ := json.Marshal(protocol.URLEncodedBase64(sess.Account.webauthnID)); !bytes.Equal(uid, want) || len(sess.Account.webauthnID) != 64 {
				t.Errorf("user.id = %s, want the account's random handle %s", uid, want)
			}
			if bytes.Contains(b, []byte(base64.RawURLEncoding.EncodeToString([]byte("una@example.org")))) {
				t.Error("the login is used as the user handle")
			}
			if len(o.CredentialExcludeList) != 1 || !bytes.Equal(o.CredentialExcludeList[0].CredentialID, credID) {
				t.Errorf("excludeCredentials = %+v, want the existing credential", o.CredentialExcludeList)
			}
			if len(o.Challenge) < 16 {
				t.Errorf("challenge of %d bytes", len(o.Challenge))
			}

			// Garbage answers are refused.
			sess = mustSession(t, s, enrol)
			for _, body := range garbageBodies() {
				if _, err := s.FinishRegistration(ctx, sess, "my key", body, cl); !errors.Is(err, ErrInvalid) {
					t.Errorf("FinishRegistration(%.40q) = %v, want ErrInvalid", body, err)
				}
			}
			if _, err := s.FinishRegistration(ctx, sess, "", []byte("{}"), cl); !errors.Is(err, ErrInvalid) {
				t.Errorf("FinishRegistration(no name) = %v, want ErrInvalid", err)
			}
			if a, _ := s.Account(ctx, id); a.State != StateInvited {
				t.Errorf("state after refused registrations = %q", a.State)
			}
		})
	}
}

func TestBeginRegistrationRefused(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	_, enrol := invite(t, s, "val@example.org", RoleMember)
	sess := mustSession(t, s, enrol)
	if _, err := s.BeginRegistration(ctx, sess, KindTOTP); !errors.Is(err, ErrInvalid) {
		t.Errorf("BeginRegistration(totp) = %v, want ErrInvalid", err)
	}
	if _, err := s.FinishRegistration(ctx, sess, "key", []byte(`{}`), cl); !errors.Is(err, ErrInvalid) {
		t.Errorf("FinishRegistration without Begin = %v, want ErrInvalid", err)
	}
	// A TOTP ceremony is not a registration.
	if _, err := s.BeginTOTP(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishRegistration(ctx, mustSession(t, s, enrol), "key", []byte(`{}`), cl); !errors.Is(err, ErrInvalid) {
		t.Errorf("FinishRegistration after BeginTOTP = %v, want ErrInvalid", err)
	}
	// The ceremony lasts five minutes.
	if _, err := s.BeginRegistration(ctx, sess, KindPasskey); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5*time.Minute + time.Second)
	if _, err := s.FinishRegistration(ctx, mustSession(t, s, enrol), "key", plausibleAssertion(nil, nil), cl); !errors.Is(err, ErrInvalid) {
		t.Errorf("FinishRegistration after 5 min = %v, want ErrInvalid", err)
	}
}

func TestFinishWebAuthnGarbage(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "wes@example.org")
	_, credID := addFakeCredential(t, s, m.ID, KindSecurityKey)
	tok, st, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
	if err != nil || st != StageSecond {
		t.Fatal(st, err)
	}
	sess := mustSession(t, s, tok)
	if _, err := s.FinishWebAuthn(ctx, sess, []byte("{}"), cl); !errors.Is(err, ErrInvalid) {
		t.Errorf("FinishWebAuthn without Begin = %v, want ErrInvalid", err)
	}
	assertion, err := s.BeginWebAuthn(ctx, sess)
	if err != nil {
		t.Fatalf("BeginWebAuthn: %v", err)
	}
	if o := assertion.Response; len(o.AllowedCredentials) != 1 || !bytes.Equal(o.AllowedCredentials[0].CredentialID, credID) || o.UserVerification != protocol.VerificationDiscouraged {
		t.Errorf("assertion options = %+v", o)
	}
	sess = mustSession(t, s, tok)
	bodies := append(garbageBodies(), plausibleAssertion(credID, sess.Account.webauthnID))
	for _, body := range bodies {
		forgetFailures(s, m.Login, cl)
		if _, err := s.FinishWebAuthn(ctx, sess, body, cl); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("FinishWebAuthn(%.40q) = %v, want ErrBadCredentials", body, err)
		}
	}
	if mustSession(t, s, tok).Stage != StageSecond {
		t.Error("a refused assertion changed the session")
	}
	// An enrolment session has no WebAuthn sign-in.
	_, enrol := invite(t, s, "xia@example.org", RoleMember)
	if _, err := s.BeginWebAuthn(ctx, mustSession(t, s, enrol)); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("BeginWebAuthn(enrol) = %v, want ErrSessionInvalid", err)
	}
	// Nor does an account without credentials.
	m2 := enrolMember(t, s, clk, "yul@example.org")
	if _, err := s.BeginWebAuthn(ctx, mustSession(t, s, m2.Token)); !errors.Is(err, ErrInvalid) {
		t.Errorf("BeginWebAuthn(no credentials) = %v, want ErrInvalid", err)
	}
}

func TestPasskeySignInGarbage(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "zoe@example.org")
	_, credID := addFakeCredential(t, s, m.ID, KindPasskey)
	a, _ := s.Account(ctx, m.ID)
	sessionsBefore, _ := s.Sessions(ctx, m.ID)

	if _, err := s.FinishPasskeySignIn(ctx, "no-such-ceremony", []byte("{}"), cl); !errors.Is(err, ErrInvalid) {
		t.Errorf("FinishPasskeySignIn(unknown ceremony) = %v, want ErrInvalid", err)
	}
	assertion, cer, err := s.BeginPasskeySignIn(ctx)
	if err != nil {
		t.Fatalf("BeginPasskeySignIn: %v", err)
	}
	if o := assertion.Response; o.UserVerification != protocol.VerificationRequired || len(o.AllowedCredentials) != 0 || o.RelyingPartyID != "localhost" {
		t.Errorf("passkey options = %+v", o)
	}
	bodies := append(garbageBodies(),
		plausibleAssertion(credID, a.webauthnID),
		plausibleAssertion(credID, []byte("no such user")),
		plausibleAssertion([]byte("unknown credential"), a.webauthnID),
	)
	for i, body := range bodies {
		if i > 0 {
			if _, cer, err = s.BeginPasskeySignIn(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// A new address each time: failures are throttled per address.
		from := Client{Addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})}
		if _, err := s.FinishPasskeySignIn(ctx, cer, body, from); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("FinishPasskeySignIn(%.40q) = %v, want ErrBadCredentials", body, err)
		}
		// The ceremony is used up whatever the outcome.
		if _, err := s.FinishPasskeySignIn(ctx, cer, body, from); !errors.Is(err, ErrInvalid) {
			t.Errorf("FinishPasskeySignIn with a used ceremony = %v, want ErrInvalid", err)
		}
	}
	_, cer, _ = s.BeginPasskeySignIn(ctx)
	clk.Advance(5 * time.Minute)
	if _, err := s.FinishPasskeySignIn(ctx, cer, bodies[0], cl); !errors.Is(err, ErrInvalid) {
		t.Errorf("FinishPasskeySignIn after 5 min = %v, want ErrInvalid", err)
	}
	if list, _ := s.Sessions(ctx, m.ID); len(list) != len(sessionsBefore) {
		t.Errorf("sessions after refused passkeys: %d, before %d", len(list), len(sessionsBefore))
	}
}

// garbageBodies are answers no browser would send.
func garbageBodies() [][]byte {
	return [][]byte{
		nil,
		[]byte(""),
		[]byte("null"),
		[]byte("{}"),
		[]byte("[]"),
		[]byte(`{"id":"","type":"public-key"}`),
		[]byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`),
		[]byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA","authenticatorData":"AA","signature":"AA"}}`),
		[]byte(strings.Repeat("[", 10000)),
		[]byte("\xff\xfe\x00garbage"),
		bytes.Repeat([]byte("A"), MaxWebAuthnBody+1),
	}
}

// plausibleAssertion builds an assertion that parses but carries no valid
// signature: for credID, signed for userHandle (nil: none).
func plausibleAssertion(credID, userHandle []byte) []byte {
	if credID == nil {
		credID = []byte("credential")
	}
	b64 := base64.RawURLEncoding.EncodeToString
	cd, _ := json.Marshal(map[string]any{"type": "webauthn.get", "challenge": b64(make([]byte, 32)), "origin": "https://localhost:8443"})
	rp := sha256.Sum256([]byte("localhost"))
	ad := append(rp[:], 0x05, 0, 0, 0, 1) // UP, UV; sign count 1
	resp := map[string]any{"clientDataJSON": b64(cd), "authenticatorData": b64(ad), "signature": b64(make([]byte, 70))}
	if userHandle != nil {
		resp["userHandle"] = b64(userHandle)
	}
	body, _ := json.Marshal(map[string]any{"id": b64(credID), "rawId": b64(credID), "type": "public-key", "response": resp})
	return body
}

// TestPasskeySignInThrottledPerAddress: failed passkey assertions from one
// address slow that address down (no account is known before the assertion).
func TestPasskeySignInThrottledPerAddress(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := t.Context()
	var last error
	for range addrFree + 2 {
		_, cer, err := s.BeginPasskeySignIn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, last = s.FinishPasskeySignIn(ctx, cer, []byte("{}"), cl)
	}
	if !errors.Is(last, ErrThrottled) {
		t.Fatalf("failed passkey sign-in %d from one address: %v, want ErrThrottled", addrFree+2, last)
	}
	other := Client{Addr: netip.MustParseAddr("203.0.113.7")}
	_, cer, _ := s.BeginPasskeySignIn(ctx)
	if _, err := s.FinishPasskeySignIn(ctx, cer, []byte("{}"), other); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("another address: %v, want ErrBadCredentials (not throttled)", err)
	}
}
