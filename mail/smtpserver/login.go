package smtpserver

import (
	"crypto/tls"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/connauth"
)

// AUTH on the submission ports (RFC 4954, RFC 8314): PLAIN and LOGIN,
// only after TLS (go-smtp refuses it before), only with mail-scoped app
// passwords, through the server's connauth gate.

func (ss *subSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (ss *subSession) Auth(mech string) (sasl.Server, error) {
	check := func(identity, username, password string) error {
		if identity != "" && !strings.EqualFold(identity, username) {
			return errAuthFailed
		}
		return ss.login(username, password)
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(check), nil
	case sasl.Login:
		return newLoginServer(func(u, p string) error { return check("", u, p) }), nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

// login signs the connection in: the account's connection limit is
// answered 454 4.7.0 (RFC 4954 section 6, temporary authentication
// failure), as is a throttled address.
func (ss *subSession) login(username, password string) error {
	if ss.release != nil {
		return smtpErr(503, gosmtp.EnhancedCode{5, 5, 1}, "Already authenticated")
	}
	err := ss.gc.SignIn(username, password, "smtp", ss.cut)
	switch {
	case errors.Is(err, auth.ErrThrottled):
		return smtpErr(454, gosmtp.EnhancedCode{4, 7, 0}, "Too many failed attempts, try again later")
	case errors.Is(err, connauth.ErrTooManyConns):
		return smtpErr(454, gosmtp.EnhancedCode{4, 7, 0}, "Too many connections for this account, try again later")
	case errors.Is(err, connauth.ErrSignedIn):
		return smtpErr(503, gosmtp.EnhancedCode{5, 5, 1}, "Already authenticated")
	case err != nil:
		return errAuthFailed
	}
	ss.ctx, ss.acct, ss.log = ss.gc.Context(), ss.gc.Account, ss.gc.Log
	ss.release = ss.gc.Close
	return nil
}

// cut closes the connection underneath TLS when access is revoked,
// whatever it is doing.
func (ss *subSession) cut() {
	raw := ss.conn.Conn()
	if tc, ok := raw.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	raw.Close()
}

// loginServer is the server side of the AUTH LOGIN mechanism (obsolete but
// still used by some mail apps): "Username:" then "Password:", each answer
// base64 (go-smtp decodes it).
type loginServer struct {
	check    func(username, password string) error
	username string
	step     int
}

func newLoginServer(check func(username, password string) error) sasl.Server {
	return &loginServer{check: check}
}

// maxLoginField bounds each answer.
const maxLoginField = 1024

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	if len(response) > maxLoginField {
		return nil, true, errors.New("smtp: AUTH LOGIN answer too long")
	}
	switch l.step {
	case 0:
		l.step++
		if len(response) > 0 { // initial response carries the user name
			l.username = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.username, string(response))
	}
	return nil, true, errors.New("smtp: unexpected AUTH LOGIN step")
}
