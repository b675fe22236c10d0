package fileweb

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/i18n"
)

// What the file pages announce of shares made with the member: shares
// made since they last opened Shared (remembered per browser, in
// sharesSeenCookie), at most noticeWindow old, at most maxNoticed named.
const (
	sharesSeenCookie = "__Host-caucus-shares-seen"
	noticeWindow     = 14 * 24 * time.Hour
	maxNoticed       = 5
)

// shareNotice is the notice above a folder: one line per new share, and
// how many more there are.
type shareNotice struct {
	Lines []string
	More  int
}

// newShares lists the shares made with a since the browser last opened
// Shared, newest first.
func (h *Handler) newShares(ctx context.Context, r *http.Request, a files.Actor, l *i18n.Localizer) (shareNotice, error) {
	var n shareNotice
	since := h.now().Add(-noticeWindow)
	if c, err := r.Cookie(sharesSeenCookie); err == nil {
		if ms, err := strconv.ParseInt(c.Value, 10, 64); err == nil && time.UnixMilli(ms).After(since) {
			since = time.UnixMilli(ms)
		}
	}
	list, err := h.store.SharedWith(ctx, a)
	if err != nil {
		return n, err
	}
	slices.SortFunc(list, func(x, y files.Share) int { return y.CreatedAt.Compare(x.CreatedAt) })
	for _, s := range list {
		if !s.CreatedAt.After(since) || s.OwnerID == a.ID {
			continue
		}
		if len(n.Lines) == maxNoticed {
			n.More++
			continue
		}
		n.Lines = append(n.Lines, l.T("files.sharenotice.line", "owner", s.Owner, "name", s.NodeName))
	}
	return n, nil
}

// sawShares remembers in the browser that the member opened Shared now.
func (h *Handler) sawShares(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: sharesSeenCookie, Value: strconv.FormatInt(h.now().UnixMilli(), 10), Path: "/",
		MaxAge: int(noticeWindow / time.Second), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}
