package console

import (
	"context"
	"fmt"
	"net/http"

	"github.com/caucus-org/caucus/auth"
)

// GroupDiaries switches a group's shared calendar and address book
// between writable by its members and read-only (admins still write):
// what a press office or a campaign's official diary wants.
type GroupDiaries interface {
	ReadOnly(ctx context.Context, g auth.Group) (bool, error)
	SetReadOnly(ctx context.Context, actor string, g auth.Group, readOnly bool) error
}

// setGroupDiary is the groups page's switch of a group's calendar and
// address book.
func (h *Handler) setGroupDiary(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	if h.d.Diaries == nil {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	name := r.PathValue("name")
	g, ok, err := h.group(ctx, name)
	if err == nil && !ok {
		err = fmt.Errorf("group %s: %w", name, auth.ErrNotFound)
	}
	if err != nil {
		h.groupError(w, r, err, name)
		return
	}
	ro := r.PostFormValue("readonly") == "1"
	if err := h.d.Diaries.SetReadOnly(ctx, sess.Account.Login, g, ro); err != nil {
		h.fail(w, r, err)
		return
	}
	text := h.loc(r).T("console.groups.diary_writable_done", "group", g.Name)
	if ro {
		text = h.loc(r).T("console.groups.diary_readonly_done", "group", g.Name)
	}
	h.done(w, r, "/admin/groups", notice{Text: text})
}

// group finds a group by name.
func (h *Handler) group(ctx context.Context, name string) (auth.Group, bool, error) {
	gs, err := h.svc.Groups(ctx)
	if err != nil {
		return auth.Group{}, false, err
	}
	for _, g := range gs {
		if g.Name == name {
			return g, true, nil
		}
	}
	return auth.Group{}, false, nil
}
