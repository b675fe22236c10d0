package submit

import (
	"errors"
	"fmt"
)

// Kinds of refusal, for errors.Is on an *Error.
var (
	ErrSendAs       = errors.New("submit: the sender may not send as this address")
	ErrRateLimited  = errors.New("submit: sending limit reached")
	ErrTooManyRcpts = errors.New("submit: too many recipients")
	ErrNoSuchUser   = errors.New("submit: no such user")
	ErrRelay        = errors.New("submit: relaying denied")
	ErrBadRecipient = errors.New("submit: bad recipient address")
	ErrBadHeader    = errors.New("submit: message header refused")
	ErrMailboxFull  = errors.New("submit: a recipient's mailbox is full")
	ErrTooLarge     = errors.New("submit: message too large")
	ErrNoRemote     = errors.New("submit: no outbound queue")
	ErrBounceOnly   = errors.New("submit: address takes only bounces")
	ErrTemporary    = errors.New("submit: temporary failure")
)

// Error is a refusal of a message or of a step of its envelope. It carries
// the SMTP reply (RFC 5321 section 4.2) and enhanced status code (RFC 3463)
// that mail/smtpserver answers with; Kind is one of the Err… values above, which
// a web page maps to a sentence of its own. Message never holds more of the
// client's input than a sanitised address. Cause, if set, is the internal
// failure behind a temporary error: for the log, never for the client.
type Error struct {
	Code     int    // SMTP reply code, e.g. 550
	Enhanced [3]int // enhanced status code, e.g. {5, 7, 1}
	Message  string // the reply text
	Kind     error  // ErrSendAs, ErrRateLimited, …
	Cause    error  // the internal error behind a temporary failure, or nil
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %d.%d.%d %s: %v", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Message)
}

// Unwrap gives errors.Is and errors.As the kind and the cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}

func refuse(code int, enh [3]int, kind error, msg string) *Error {
	return &Error{Code: code, Enhanced: enh, Message: msg, Kind: kind}
}

// temporary is the 451 4.3.0 that hides an internal failure (RFC 3463
// section 3.4: mail system status).
func temporary(what string, err error) *Error {
	return &Error{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: "Temporary failure, please try again later",
		Kind: ErrTemporary, Cause: fmt.Errorf("submit: %s: %w", what, err)}
}

func noSuchUser() *Error {
	return refuse(550, [3]int{5, 1, 1}, ErrNoSuchUser, "No such user here")
}
