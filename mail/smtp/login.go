package smtp

import (
	"errors"

	"github.com/emersion/go-sasl"
)

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
