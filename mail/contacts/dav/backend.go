package dav

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/emersion/go-vcard"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/carddav"

	"github.com/caucus-org/caucus/mail/contacts"
)

// backend is go-webdav's carddav.Backend (and SyncBackend) over the store,
// for the member of each request's context.
type backend struct {
	store *contacts.Store
	log   *slog.Logger
}

var _ carddav.SyncBackend = (*backend)(nil)

var forbidden = webdav.NewHTTPError(http.StatusForbidden, errSimple("address books are made by caucus: the member's own, one per group and the directory"))

type errSimple string

func (e errSimple) Error() string { return string(e) }

func (b *backend) CurrentUserPrincipal(ctx context.Context) (string, error) {
	req, err := requestOf(ctx)
	if err != nil {
		return "", err
	}
	return principal(req.member), nil
}

func (b *backend) AddressBookHomeSetPath(ctx context.Context) (string, error) {
	req, err := requestOf(ctx)
	if err != nil {
		return "", err
	}
	return home(req.member), nil
}

// resolve returns the request and what p names, which must be a book or
// (withName) a card.
func (b *backend) resolve(ctx context.Context, p string, withName bool) (*request, target, error) {
	req, err := requestOf(ctx)
	if err != nil {
		return nil, target{}, err
	}
	t, err := parsePath(p, req.member)
	if err == nil && (t.book == "" || withName != (t.name != "")) {
		err = contacts.ErrNotFound
	}
	return req, t, toHTTP(err, b.log)
}

// addressBook is a store book as go-webdav describes it, named in the
// request's language.
func (b *backend) addressBook(req *request, bk contacts.Book) carddav.AddressBook {
	l := req.l
	name, desc := l.T("contacts.book.personal"), ""
	switch bk.Kind {
	case contacts.KindGroup:
		name = l.T("contacts.book.group", "group", bk.Group)
	case contacts.KindDirectory:
		name = l.T("contacts.book.directory")
	}
	if !bk.Writable {
		desc = l.T("contacts.readonly")
	}
	return carddav.AddressBook{
		Path:            home(req.member) + bk.Slug + "/",
		Name:            name,
		Description:     desc,
		MaxResourceSize: contacts.MaxCardBytes,
		SupportedAddressData: []carddav.AddressDataType{
			{ContentType: vcard.MIMEType, Version: "3.0"},
			{ContentType: vcard.MIMEType, Version: "4.0"},
		},
		SyncToken: bk.Token,
		ReadOnly:  !bk.Writable,
	}
}

func (b *backend) ListAddressBooks(ctx context.Context) ([]carddav.AddressBook, error) {
	req, err := requestOf(ctx)
	if err != nil {
		return nil, err
	}
	books, err := b.store.Books(ctx, req.member)
	if err != nil {
		return nil, toHTTP(err, b.log)
	}
	out := make([]carddav.AddressBook, 0, len(books))
	for _, bk := range books {
		out = append(out, b.addressBook(req, bk))
	}
	return out, nil
}

func (b *backend) GetAddressBook(ctx context.Context, p string) (*carddav.AddressBook, error) {
	req, t, err := b.resolve(ctx, p, false)
	if err != nil {
		return nil, err
	}
	bk, err := b.store.Book(ctx, req.member, t.book)
	if err != nil {
		return nil, toHTTP(err, b.log)
	}
	ab := b.addressBook(req, bk)
	return &ab, nil
}

func (b *backend) CreateAddressBook(ctx context.Context, ab *carddav.AddressBook) error {
	return forbidden
}

func (b *backend) DeleteAddressBook(ctx context.Context, p string) error {
	return forbidden
}

// object turns a stored card into go-webdav's object, which serves the
// stored bytes (Data, caucus's go-webdav patch 11): what a client reads
// is what the ETag hashes. The card is parsed only when parse is set (an
// addressbook-query matches on it).
func (b *backend) object(bookPath string, c contacts.Card, parse bool) (carddav.AddressObject, error) {
	ao := carddav.AddressObject{Path: bookPath + c.Name, ModTime: c.Modified, ETag: c.ETag, Data: c.Data, ContentLength: int64(len(c.Data))}
	if !parse {
		return ao, nil
	}
	card, err := parseCard(c.Data)
	if err != nil {
		b.log.Error("carddav: stored card does not parse", "card", c.Name, "err", err)
		return carddav.AddressObject{}, webdav.NewHTTPError(http.StatusInternalServerError, errSimple("internal error"))
	}
	ao.Card = card
	return ao, nil
}

func bookPath(m contacts.Member, t target) string { return home(m) + t.book + "/" }

func (b *backend) GetAddressObject(ctx context.Context, p string, _ *carddav.AddressDataRequest) (*carddav.AddressObject, error) {
	req, t, err := b.resolve(ctx, p, true)
	if err != nil {
		return nil, err
	}
	bk, err := req.book(ctx, b.store, t.book)
	if err != nil {
		return nil, toHTTP(err, b.log)
	}
	c, err := b.store.CardIn(ctx, bk, t.name)
	if err != nil {
		return nil, toHTTP(err, b.log)
	}
	ao, err := b.object(bookPath(req.member, t), c, false)
	return &ao, err
}

func (b *backend) ListAddressObjects(ctx context.Context, p string, _ *carddav.AddressDataRequest) ([]carddav.AddressObject, error) {
	req, t, err := b.resolve(ctx, p, false)
	if err != nil {
		return nil, err
	}
	cs, err := b.store.Cards(ctx, req.member, t.book)
	if err != nil {
		return nil, toHTTP(err, b.log)
	}
	return b.objects(bookPath(req.member, t), cs, false)
}

func (b *backend) objects(bp string, cs []contacts.Card, parse bool) ([]carddav.AddressObject, error) {
	out := make([]carddav.AddressObject, 0, len(cs))
	for _, c := range cs {
		ao, err := b.object(bp, c, parse)
		if err != nil {
			return nil, err
		}
		out = append(out, ao)
	}
	return out, nil
}

func (b *backend) QueryAddressObjects(ctx context.Context, p string, q *carddav.AddressBookQuery) ([]carddav.AddressObject, error) {
	req, t, err := b.resolve(ctx, p, false)
	if err != nil {
		return nil, err
	}
	cs, err := b.store.Cards(ctx, req.member, t.book)
	if err != nil {
		return nil, toHTTP(err, b.log)
	}
	aos, err := b.objects(bookPath(req.member, t), cs, true)
	if err != nil {
		return nil, err
	}
	found, err := carddav.Filter(q, aos)
	if !q.DataRequest.AllProp && len(q.DataRequest.Props) > 0 {
		// Only some properties were asked for: serve the filtered card.
		for i := range found {
			found[i].Data, found[i].ContentLength = nil, 0
		}
	}
	return found, err
}

func (b *backend) PutAddressObject(ctx context.Context, p string, card vcard.Card, opts *carddav.PutAddressObjectOptions) (*carddav.AddressObject, error) {
	req, t, err := b.resolve(ctx, p, true)
	if err != nil {
		return nil, err
	}
	cond := contacts.Cond{IfMatch: string(opts.IfMatch), IfNoneMatch: string(opts.IfNoneMatch)}
	c, _, err := b.store.Put(ctx, req.member, t.book, t.name, card, cond)
	if err != nil {
		return nil, toHTTP(err, b.log)
	}
	return &carddav.AddressObject{Path: bookPath(req.member, t) + c.Name, ModTime: c.Modified, ETag: c.ETag}, nil
}

func (b *backend) DeleteAddressObject(ctx context.Context, p string) error {
	req, t, err := b.resolve(ctx, p, true)
	if err != nil {
		return err
	}
	return toHTTP(b.store.Delete(ctx, req.member, t.book, t.name, req.cond), b.log)
}

// SyncAddressBook answers sync-collection (RFC 6578) from the book's
// change log.
func (b *backend) SyncAddressBook(ctx context.Context, p string, q *carddav.SyncQuery) (*carddav.SyncResponse, error) {
	req, t, err := b.resolve(ctx, strings.TrimSuffix(p, "/"), false)
	if err != nil {
		return nil, err
	}
	ch, err := b.store.Changes(ctx, req.member, t.book, q.SyncToken, q.Limit)
	if err != nil {
		return nil, toHTTP(err, b.log)
	}
	bp := bookPath(req.member, t)
	updated, err := b.objects(bp, ch.Updated, false)
	if err != nil {
		return nil, err
	}
	res := &carddav.SyncResponse{SyncToken: ch.Token, Updated: updated, Truncated: ch.More}
	for _, n := range ch.Deleted {
		res.Deleted = append(res.Deleted, bp+n)
	}
	return res, nil
}
