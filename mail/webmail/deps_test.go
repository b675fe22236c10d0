package webmail

import (
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/msgauth"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
	"github.com/caucus-org/caucus/mail/submit"
)

// The parts the server wires in satisfy the interfaces webmail declares.
var (
	_ Store             = (*store.Store)(nil)
	_ Submitter         = (*submit.Service)(nil)
	_ Accounts          = (*auth.Service)(nil)
	_ Aliases           = (*route.Directory)(nil)
	_ msgauth.Directory = (*route.Directory)(nil)
	_ Guard             = (*login.Handler)(nil)
	_ store.Changes     = (*store.Bus)(nil)
	_ Auditor           = (*audit.Log)(nil)
)
