package console

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/internal/i18n"
)

// peopleView is the people list: search, filters with their counts,
// sortable columns and pages, for a party of thousands.
type peopleView struct {
	Q       admin.PeopleQuery
	Rows    []personSummary
	Total   int
	Tabs    []peopleLink // the filters
	Columns []peopleLink // the sortable columns
	Prev    template.URL // "" on the first page
	Next    template.URL // "" on the last
	From    int          // the first row shown, from 1
	To      int
	Page    int
	Pages   int

	query url.Values // the list's query, for links
}

// peopleLink is a link of the list that changes one part of its query.
type peopleLink struct {
	Label string
	Count int
	URL   template.URL
	On    bool
	Desc  bool // a column sorted in descending order
	ID    string
}

// filterLabels are the message keys of the filters' names.
var filterLabels = map[string]string{
	admin.FilterAll: i18n.Key("console.filter.all"), admin.FilterActive: i18n.Key("console.filter.active"),
	admin.FilterInvited: i18n.Key("console.filter.invited"), admin.FilterSuspended: i18n.Key("console.filter.suspended"),
	admin.FilterOffboarded: i18n.Key("console.filter.offboarded"), admin.FilterExpiring: i18n.Key("console.filter.expiring"),
	admin.FilterNoFactor: i18n.Key("console.filter.nofactor"), admin.FilterIdle: i18n.Key("console.filter.idle"),
	admin.FilterAdmins: i18n.Key("console.filter.admins"),
}

// peopleColumns are the sortable columns: the key of PeopleQuery.Sort
// and the heading's message key.
var peopleColumns = []struct{ key, label string }{
	{"name", i18n.Key("console.people.col.name")}, {"address", i18n.Key("console.people.col.address")},
	{"state", i18n.Key("console.people.col.state")}, {"last", i18n.Key("console.people.col.last")},
	{"expires", i18n.Key("console.people.col.expires")},
}

// peopleQuery reads the list's query from a URL: q, filter, sort, desc,
// page, per.
func peopleQuery(v url.Values) admin.PeopleQuery {
	q := admin.PeopleQuery{Search: strings.TrimSpace(v.Get("q")), Filter: v.Get("filter"), Sort: v.Get("sort"), Desc: v.Get("desc") == "1"}
	if _, ok := filterLabels[q.Filter]; !ok {
		q.Filter = admin.FilterAll
	}
	q.Page, _ = strconv.Atoi(v.Get("page"))
	q.PerPage, _ = strconv.Atoi(v.Get("per"))
	if len(q.Search) > 200 {
		q.Search = q.Search[:200]
	}
	return q
}

// values is q as a URL query, without its defaults.
func queryValues(q admin.PeopleQuery) url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("q", q.Search)
	set("filter", q.Filter)
	if q.Sort != "" && q.Sort != "name" {
		v.Set("sort", q.Sort)
	}
	if q.Desc {
		v.Set("desc", "1")
	}
	if q.PerPage > 0 && q.PerPage != admin.DefaultPerPage {
		v.Set("per", strconv.Itoa(q.PerPage))
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

// link is the list's address with q changed by fn.
func peopleURL(q admin.PeopleQuery, fn func(*admin.PeopleQuery)) template.URL {
	fn(&q)
	// Query encoding leaves nothing that HTML or a URL attribute reads
	// otherwise: a safe URL, not escaped again by the template.
	return auditURL("/admin/people", queryValues(q))
}

// newPeopleView builds the list's view of one page.
func newPeopleView(l *i18n.Localizer, q admin.PeopleQuery, pg admin.PeoplePage) *peopleView {
	v := &peopleView{Q: q, Total: pg.Total, Page: pg.Page, Pages: pg.Pages}
	for _, p := range pg.People {
		v.Rows = append(v.Rows, personSummary{p})
	}
	if len(v.Rows) > 0 {
		v.From = (pg.Page-1)*pg.PerPage + 1
		v.To = v.From + len(v.Rows) - 1
	}
	for _, f := range admin.Filters {
		v.Tabs = append(v.Tabs, peopleLink{Label: l.T(filterLabels[f]), // i18n:keyed
			Count: pg.Counts[f], On: f == q.Filter, ID: "filter-" + cmpOr(f, "all"),
			URL: peopleURL(q, func(q *admin.PeopleQuery) { q.Filter, q.Page = f, 0 })})
	}
	sort := cmpOr(q.Sort, "name")
	for _, c := range peopleColumns {
		on := c.key == sort
		v.Columns = append(v.Columns, peopleLink{Label: l.T(c.label), // i18n:keyed
			On: on, Desc: on && q.Desc, ID: "sort-" + c.key,
			URL: peopleURL(q, func(q *admin.PeopleQuery) { q.Sort, q.Desc, q.Page = c.key, on && !q.Desc, 0 })})
	}
	if pg.Page > 1 {
		v.Prev = peopleURL(q, func(q *admin.PeopleQuery) { q.Page = pg.Page - 1 })
	}
	if pg.Page < pg.Pages {
		v.Next = peopleURL(q, func(q *admin.PeopleQuery) { q.Page = pg.Page + 1 })
	}
	return v
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (h *Handler) people(w http.ResponseWriter, r *http.Request) {
	h.peoplePage(w, r, http.StatusOK, page{Form: inviteForm{Role: "member"}})
}

// peoplePage shows the people list of the request's query, with the
// invite forms (p.Form filled in after a refused invite).
func (h *Handler) peoplePage(w http.ResponseWriter, r *http.Request, code int, p page) {
	q := peopleQuery(r.URL.Query())
	pg, err := h.ops.People(r.Context(), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l := h.login.Localizer(r)
	b := h.base(r, l.T("console.nav.people"))
	b.Error = p.Error
	p.Base, p.List = b, newPeopleView(l, q, pg)
	h.render(w, r, code, "people", p)
}
