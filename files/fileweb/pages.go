package fileweb

import (
	"net/http"

	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
)

// page is what every template of this package reads.
type page struct {
	ui.Base
	Tabs   []tab
	Crumbs []crumb

	Folder       entry   // browse: the folder shown
	Entries      []entry // browse, public folder link
	Item         entry   // item page
	Versions     []version
	Folders      []folderChoice // item page: where Move may put it
	Preview      preview        // item page: what it shows of a file
	Dav          davSetup       // connect page
	SharedNotice shareNotice    // browse: what was newly shared with one

	MaxDays, DefaultDays int // link form
	MaxDropMB            int64
	Link, LinkInfo       string

	Trash     []trashRow
	TrashDays int
	Shares    []shareRow
	Links     []linkRow
	AllLinks  bool

	// Public link pages.
	Token        string
	NeedPassword bool
	Drop         bool
	DropLimits   string // what a file drop still takes
	Name, Size   string
	Owner        string
	Expires      string
	Message      string
}

type tab struct {
	Name, Href string
	Current    bool
}

// entry is a file or folder as the pages show it.
type entry struct {
	ID       int64
	Name     string
	Path     string // view path
	EPath    string // view path escaped for URLs
	Parent   string
	IsDir    bool
	Size     string
	Modified string
	Note     string
	CanWrite bool
	CanShare bool
}

type version struct {
	ID       int64
	Size     string
	Modified string
}

type trashRow struct {
	ID      int64
	Name    string
	Where   string
	Deleted string
}

type shareRow struct {
	ID   int64
	Path string
	With string
	Mode string
}

type linkRow struct {
	ID        int64
	Path      string
	Owner     string
	Kind      string
	Password  bool
	State     string
	Live      bool
	Expires   string
	Downloads string
}

// tabs are the file pages' own navigation; current is the Href of the
// one shown.
func tabs(l *i18n.Localizer, current string, admin bool) []tab {
	t := []tab{
		{Name: l.T("files.tab.home"), Href: "/files/p/Home"},
		{Name: l.T("files.tab.groups"), Href: "/files/p/Groups"},
		{Name: l.T("files.tab.shared"), Href: "/files/p/Shared"},
		{Name: l.T("files.tab.trash"), Href: "/files/trash"},
		{Name: l.T("files.tab.my_shares"), Href: "/files/shares"},
		{Name: l.T("files.tab.my_links"), Href: "/files/links"},
		{Name: l.T("files.connect.tab"), Href: "/files/connect"},
	}
	if admin {
		t = append(t, tab{Name: l.T("files.tab.all_links"), Href: "/files/admin/links"})
	}
	for i := range t {
		t[i].Current = t[i].Href == current
	}
	return t
}

// base is the layout's data for a signed-in page in l's language, with
// the tabs.
func (h *Handler) base(r *http.Request, l *i18n.Localizer, title, current string) page {
	sess, _ := login.SessionFrom(r.Context())
	admin := sess.Account.IsAdmin()
	return page{
		Base: ui.Base{Title: title, CSRF: sess.CSRF, UserName: sess.Account.DisplayName, IsAdmin: admin, L: l},
		Tabs: tabs(l, current, admin),
	}
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	if err := h.pages.Render(w, code, name, p); err != nil {
		h.log.Error("render page", "page", name, "err", err)
		iweb.Error(w, r, http.StatusInternalServerError)
	}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("files request failed", "path", r.URL.Path, "err", err)
	iweb.Error(w, r, http.StatusInternalServerError)
}

// gone answers a public link that cannot be used with a page that says
// so, and never with the file; its title and text are the messages
// titleKey and msgKey, in the reader's language.
func (h *Handler) gone(w http.ResponseWriter, r *http.Request, code int, titleKey, msgKey string) {
	l := h.login.Localizer(r)
	h.goneText(w, r, code, l.T(titleKey), l.T(msgKey)) // i18n:keyed (callers mark them)
}

// goneText is gone with the words already written.
func (h *Handler) goneText(w http.ResponseWriter, r *http.Request, code int, title, msg string) {
	h.render(w, r, code, "gone", page{Base: ui.Base{Title: title, L: h.login.Localizer(r)}, Message: msg})
}
