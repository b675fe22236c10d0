package console

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/store"
)

// Messages finds a message in every mailbox by its Message-ID
// (*store.Store).
type Messages interface {
	FindEverywhere(ctx context.Context, m store.Match) ([]store.Found, error)
}

// traceKinds are the audit kinds that say who had a file or a message:
// reads and downloads, shares and links, exports, reports.
var traceKinds = []string{"files.", "mail.export", "mail.phish-report", "phish.", "mail.successor"}

// traceScan bounds the audit records one trace looks through.
const traceScan = 1000

// traceView is the data of the "Who had this?" page.
type traceView struct {
	Query    string
	IsMsgID  bool
	Copies   []whereRow // the message's copies now, by member
	NCopies  int
	Rows     []auditRow // what the audit log says about it, newest first
	Scanned  int
	MoreLeft bool // the scan stopped at traceScan records
}

// tracePage answers "who had this, and when" for a file (by name or path)
// or a message (by Message-ID): where the message is now, and every read,
// download, share, link, export and report the audit log holds about it.
func (h *Handler) tracePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	l := h.loc(r)
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 200 {
		q = q[:200]
	}
	v := &traceView{Query: q}
	p := page{Base: h.base(r, l.T("console.nav.trace")), Trace: v}
	if q == "" {
		h.render(w, r, http.StatusOK, "trace", p)
		return
	}
	if msgID, ok := messageID(q); ok && h.d.Messages != nil {
		v.IsMsgID = true
		found, err := h.d.Messages.FindEverywhere(ctx, store.Match{MessageID: msgID})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v.NCopies = len(found)
		if v.Copies, err = h.byAccount(ctx, found); err != nil {
			h.fail(w, r, err)
			return
		}
		q = msgID
	}
	recs, err := h.od.Audit.List(ctx, audit.Filter{Text: q, Limit: traceScan})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v.Scanned, v.MoreLeft = len(recs), len(recs) == traceScan
	for _, rec := range recs {
		for _, k := range traceKinds {
			if strings.HasPrefix(rec.Kind, k) {
				v.Rows = append(v.Rows, newAuditRow(l, rec))
				break
			}
		}
	}
	h.render(w, r, http.StatusOK, "trace", p)
}

// messageID says whether q is a Message-ID (RFC 5322 3.6.4: id-left "@"
// id-right, with or without the angle brackets) and returns it bare.
func messageID(q string) (string, bool) {
	id := strings.TrimSuffix(strings.TrimPrefix(q, "<"), ">")
	at := strings.IndexByte(id, '@')
	if at <= 0 || at == len(id)-1 || strings.ContainsAny(id, " \t<>\"") || strings.Count(id, "@") != 1 {
		return "", false
	}
	return id, true
}

// byAccount groups copies by member, in the order found.
func (h *Handler) byAccount(ctx context.Context, found []store.Found) ([]whereRow, error) {
	var rows []whereRow
	index := map[int64]int{}
	for _, f := range found {
		i, ok := index[f.AccountID]
		if !ok {
			a, err := h.svc.Account(ctx, f.AccountID)
			if err != nil && !errors.Is(err, auth.ErrNotFound) {
				return nil, err
			}
			if a.Login == "" {
				a.Login = h.ownerName(ctx, f.AccountID)
			}
			i = len(rows)
			index[f.AccountID] = i
			rows = append(rows, whereRow{Account: a})
		}
		rows[i].Mailboxes = append(rows[i].Mailboxes, f.Mailbox)
	}
	return rows, nil
}

// ownerName names a mailbox owner that is no account: a role mailbox by
// its address (roles.go), else "#id".
func (h *Handler) ownerName(ctx context.Context, owner int64) string {
	if store.IsRoleOwner(owner) && h.od.Roles != nil {
		if ro, err := h.od.Roles.RoleByID(ctx, -owner); err == nil {
			return ro.Address
		}
	}
	return "#" + strconv.FormatInt(owner, 10)
}
