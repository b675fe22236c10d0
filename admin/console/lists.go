package console

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/lists"
)

// Lists is what the mailing lists' pages work with (*lists.Service): the
// lists, their subscribers with the consent recorded and the addresses
// suspended after bounces, and the posts waiting for approval.
type Lists interface {
	All(ctx context.Context) ([]lists.List, error)
	Get(ctx context.Context, id int64) (lists.List, error)
	Create(ctx context.Context, actor string, l lists.List) (int64, error)
	Subscribers(ctx context.Context, listID int64) ([]lists.Subscriber, error)
	Subscribe(ctx context.Context, actor string, listID int64, address, source, detail string) error
	Posts(ctx context.Context, listID int64, state string, limit int) ([]lists.Post, error)
	Post(ctx context.Context, listID, postID int64) (lists.Post, error)
	SetModerators(ctx context.Context, actor string, listID int64, logins []string) error
	Forget(ctx context.Context, actor string, listID int64, address string) error
	Approve(ctx context.Context, actor string, postID int64) error
	Reject(ctx context.Context, actor string, postID int64) error
}

// maxShownPosts bounds the waiting and sent posts a list's page shows.
const maxShownPosts = 100

// listsView is the data of the lists' pages.
type listsView struct {
	Lists       []lists.List
	List        lists.List
	Subscribers []lists.Subscriber
	Waiting     []lists.Post
	Sent        []lists.Post
	Suspended   int
	Active      int
}

func (h *Handler) listRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /admin/lists":                              h.listsPage,
		"POST /admin/lists":                             h.action(h.listCreate),
		"GET /admin/lists/{id}":                         h.listPage,
		"POST /admin/lists/{id}/subscribers":            h.action(h.listSubscribe),
		"POST /admin/lists/{id}/moderators":             h.action(h.listModerators),
		"POST /admin/lists/{id}/forget":                 h.action(h.listForget),
		"POST /admin/lists/{id}/posts/{post}/{verdict}": h.action(h.listDecide),
	}
}

func (h *Handler) listsPage(w http.ResponseWriter, r *http.Request) {
	all, err := h.d.Lists.All(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "lists", page{Base: h.base(r, h.loc(r).T("console.nav.lists")), Lists: &listsView{Lists: all}})
}

// listOf reads the list of the path's {id}; 404 if there is none.
func (h *Handler) listOf(w http.ResponseWriter, r *http.Request) (lists.List, bool) {
	return byPathID(h, w, r, h.d.Lists.Get, lists.ErrNotFound)
}

// listPage shows a list: the posts waiting for approval, the subscribers
// with their consent and bounces, and the posts sent.
func (h *Handler) listPage(w http.ResponseWriter, r *http.Request) {
	l, ok := h.listOf(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	v := &listsView{List: l}
	var err error
	if v.Waiting, err = h.d.Lists.Posts(ctx, l.ID, lists.PostWaiting, maxShownPosts); err == nil {
		if v.Sent, err = h.d.Lists.Posts(ctx, l.ID, lists.PostSent, maxShownPosts); err == nil {
			v.Subscribers, err = h.d.Lists.Subscribers(ctx, l.ID)
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, s := range v.Subscribers {
		switch s.State {
		case lists.StateSuspended:
			v.Suspended++
		case lists.StateActive:
			v.Active++
		}
	}
	h.render(w, r, http.StatusOK, "list", page{Base: h.base(r, l.Name), Lists: v})
}

func (h *Handler) listCreate(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := lists.List{
		Address: r.PostFormValue("address"), Name: r.PostFormValue("name"), Group: r.PostFormValue("group"),
		Open: r.PostFormValue("open") == "on",
	}
	l.Moderators = splitList(r.PostFormValue("moderators"))
	id, err := h.d.Lists.Create(r.Context(), sess.Account.Login, l)
	if errors.Is(err, lists.ErrBadList) {
		h.done(w, r, "/admin/lists", notice{Error: h.loc(r).T("console.lists.bad", "address", l.Address)})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.done(w, r, "/admin/lists/"+strconv.FormatInt(id, 10), notice{Text: h.loc(r).T("console.lists.created", "address", strings.ToLower(strings.TrimSpace(l.Address)))})
}

// listSubscribe adds an outside address with the consent the admin
// vouches for: given in person or on paper (admin), or an import of a
// list the party kept elsewhere.
func (h *Handler) listSubscribe(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l, ok := h.listOf(w, r)
	if !ok {
		return
	}
	to := "/admin/lists/" + strconv.FormatInt(l.ID, 10)
	source := lists.SourceAdmin
	if r.PostFormValue("source") == lists.SourceImport {
		source = lists.SourceImport
	}
	addr, detail := r.PostFormValue("address"), strings.TrimSpace(r.PostFormValue("detail"))
	if len(detail) > 200 {
		detail = detail[:200]
	}
	err := h.d.Lists.Subscribe(r.Context(), sess.Account.Login, l.ID, addr, source, detail)
	if errors.Is(err, lists.ErrBadList) {
		h.done(w, r, to, notice{Error: h.loc(r).T("console.lists.bad_address", "address", addr)})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.done(w, r, to, notice{Text: h.loc(r).T("console.lists.subscribed", "address", strings.ToLower(strings.TrimSpace(addr)))})
}

// listDecide approves or rejects a waiting post of the list.
func (h *Handler) listDecide(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l, ok := h.listOf(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("post"), 10, 64)
	if err != nil {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	ctx := r.Context()
	if _, err := h.d.Lists.Post(ctx, l.ID, id); errors.Is(err, lists.ErrNoPost) {
		web.Error(w, r, http.StatusNotFound)
		return
	} else if err != nil {
		h.fail(w, r, err)
		return
	}
	to := "/admin/lists/" + strconv.FormatInt(l.ID, 10)
	var text string
	switch r.PathValue("verdict") {
	case "approve":
		err = h.d.Lists.Approve(ctx, sess.Account.Login, id)
		text = h.loc(r).T("console.lists.approved")
	case "reject":
		err = h.d.Lists.Reject(ctx, sess.Account.Login, id)
		text = h.loc(r).T("console.lists.rejected")
	default:
		web.Error(w, r, http.StatusNotFound)
		return
	}
	if errors.Is(err, lists.ErrNoPost) {
		h.done(w, r, to, notice{Error: h.loc(r).T("console.lists.decided")})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.done(w, r, to, notice{Text: text})
}

// splitList splits a comma-separated form field, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, m := range strings.Split(v, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// listModerators replaces the list's moderators.
func (h *Handler) listModerators(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l, ok := h.listOf(w, r)
	if !ok {
		return
	}
	if err := h.d.Lists.SetModerators(r.Context(), sess.Account.Login, l.ID, splitList(r.PostFormValue("moderators"))); err != nil {
		h.fail(w, r, err)
		return
	}
	h.done(w, r, "/admin/lists/"+strconv.FormatInt(l.ID, 10), notice{Text: h.loc(r).T("console.lists.moderators_saved")})
}

// listForget deletes a subscriber's row (erasure on request).
func (h *Handler) listForget(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l, ok := h.listOf(w, r)
	if !ok {
		return
	}
	to := "/admin/lists/" + strconv.FormatInt(l.ID, 10)
	addr := r.PostFormValue("address")
	err := h.d.Lists.Forget(r.Context(), sess.Account.Login, l.ID, addr)
	if errors.Is(err, lists.ErrBadList) {
		h.done(w, r, to, notice{Error: h.loc(r).T("console.lists.not_on", "address", addr)})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.done(w, r, to, notice{Text: h.loc(r).T("console.lists.forgotten", "address", addr)})
}
