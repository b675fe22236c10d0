package smtpserver

import (
	"fmt"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/submit"
)

// TestRecipientFloodAudit is issue 12 item 7: one submitted message to
// 1,000 recipients wrote 950 audit records (one per refused recipient over
// the limit of 50). The refusals are aggregated: at most one record at once
// and one with the count when the interval ends.
func TestRecipientFloodAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, withSubmitConfig(submit.Config{MaxRcptsPerMessage: 50}))
	anna := e.member(t, "anna@example-party.org")
	c := e.dial(t, e.sub, true)
	if err := c.Auth(sasl.NewPlainClient("", anna.Account.Login, anna.secret)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(anna.Account.Login, nil); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i := range 1000 {
		if err := c.Rcpt(fmt.Sprintf("r%d@outside.example", i), nil); code(err) == 452 {
			refused++
		}
	}
	if refused != 950 {
		t.Fatalf("%d recipients refused, want 950", refused)
	}
	c.Reset()
	ctx := t.Context()
	e.auth.Clock.Advance(audit.DefaultInterval * 2)
	if err := e.auth.Auth.Audit().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := e.auth.Auth.Audit().List(ctx, audit.Filter{Kind: "smtp.rate-limited", Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) > 2 {
		t.Errorf("950 refused recipients wrote %d audit records, want at most 2", len(recs))
	}
	if _, err := e.auth.Auth.Audit().Verify(ctx); err != nil {
		t.Error(err)
	}
}
