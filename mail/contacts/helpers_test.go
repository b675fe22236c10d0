package contacts_test

import (
	"fmt"
	"testing"

	"github.com/emersion/go-vcard"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/mail/contacts"
)

type env struct {
	*authtest.Env
	store *contacts.Store
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := authtest.New(t, auth.Config{}, contacts.Component())
	return &env{Env: e, store: contacts.New(e.DB, contacts.Deps{Auth: e.Auth, Now: e.Clock.Now})}
}

// member enrols login and returns it as a contacts.Member.
func (e *env) member(t testing.TB, login string, role auth.Role) contacts.Member {
	t.Helper()
	u := e.User(t, login, role)
	return contacts.MemberOf(u.Account)
}

func card(uid, fn string) vcard.Card {
	c := vcard.Card{}
	c.SetValue(vcard.FieldVersion, "4.0")
	c.SetValue(vcard.FieldUID, uid)
	c.SetValue(vcard.FieldFormattedName, fn)
	return c
}

func vcf(uid, fn string) []byte {
	return fmt.Appendf(nil, "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:%s\r\nFN:%s\r\nEND:VCARD\r\n", uid, fn)
}
