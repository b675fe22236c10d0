package carddav

// This file is caucus patch 10 (see ../PATCHES): the sync-collection
// REPORT of RFC 6578 for address books, through the optional SyncBackend
// interface, with the DAV:sync-token and DAV:supported-report-set
// properties of address books.

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/emersion/go-webdav/internal"
)

var (
	syncCollectionName     = xml.Name{Space: "DAV:", Local: "sync-collection"}
	syncTokenName          = xml.Name{Space: "DAV:", Local: "sync-token"}
	supportedReportSetName = xml.Name{Space: "DAV:", Local: "supported-report-set"}
	getCTagName            = xml.Name{Space: "http://calendarserver.org/ns/", Local: "getctag"}
)

// SyncBackend is a Backend that also answers the sync-collection report
// (RFC 6578 section 3.2) on its address books. Handler uses it when its
// Backend implements it.
type SyncBackend interface {
	Backend
	// SyncAddressBook returns what changed in the address book at path
	// since query.SyncToken ("" for an initial sync: every object). A
	// token the backend does not know should be answered with
	// NewInvalidSyncTokenError.
	SyncAddressBook(ctx context.Context, path string, query *SyncQuery) (*SyncResponse, error)
}

// NewInvalidSyncTokenError returns the error for a sync token the server
// does not know or no longer knows: 403 with the DAV:valid-sync-token
// precondition (RFC 6578 section 3.2); the client then syncs from scratch.
func NewInvalidSyncTokenError() error {
	return &internal.HTTPError{
		Code: http.StatusForbidden,
		Err: &internal.Error{
			Raw: []internal.RawXMLValue{*internal.NewRawXMLElement(xml.Name{Space: "DAV:", Local: "valid-sync-token"}, nil, nil)},
		},
	}
}

type syncToken struct {
	XMLName xml.Name `xml:"DAV: sync-token"`
	Token   string   `xml:",chardata"`
}

type getCTag struct {
	XMLName xml.Name `xml:"http://calendarserver.org/ns/ getctag"`
	CTag    string   `xml:",chardata"`
}

// addSyncProps adds to an address book's properties its sync token (and,
// for clients that predate RFC 6578, the same value as CalendarServer's
// getctag) and the reports it supports (RFC 3253 section 3.1.5).
func (b *backend) addSyncProps(props map[xml.Name]internal.PropFindFunc, ab *AddressBook) {
	_, canSync := b.Backend.(SyncBackend)
	props[supportedReportSetName] = func(*internal.RawXMLValue) (interface{}, error) {
		names := []xml.Name{addressBookQueryName, addressBookMultigetName}
		if canSync {
			names = append(names, syncCollectionName)
		}
		var reports []internal.RawXMLValue
		for _, n := range names {
			report := internal.NewRawXMLElement(xml.Name{Space: "DAV:", Local: "report"}, nil, []internal.RawXMLValue{*internal.NewRawXMLElement(n, nil, nil)})
			reports = append(reports, *internal.NewRawXMLElement(xml.Name{Space: "DAV:", Local: "supported-report"}, nil, []internal.RawXMLValue{*report}))
		}
		return internal.NewRawXMLElement(supportedReportSetName, nil, reports), nil
	}
	if !canSync || ab.SyncToken == "" {
		return
	}
	props[syncTokenName] = func(*internal.RawXMLValue) (interface{}, error) {
		return &syncToken{Token: ab.SyncToken}, nil
	}
	props[getCTagName] = func(*internal.RawXMLValue) (interface{}, error) {
		return &getCTag{CTag: ab.SyncToken}, nil
	}
}

// handleSyncCollection answers a sync-collection REPORT (RFC 6578 section
// 3.2): a multistatus with a response per changed object (its requested
// properties), a 404 response per removed one, the new token and, when
// the backend stopped at the client's limit, a 507 response for the
// collection itself (section 3.6).
func (h *Handler) handleSyncCollection(r *http.Request, w http.ResponseWriter, sync *internal.SyncCollectionQuery) error {
	sb, ok := h.Backend.(SyncBackend)
	if !ok {
		return internal.HTTPErrorf(http.StatusForbidden, "carddav: sync-collection is not supported")
	}
	switch sync.SyncLevel {
	case "1", "infinite":
		// Address books hold no collections: both levels mean the same.
	default:
		return internal.HTTPErrorf(http.StatusBadRequest, "carddav: sync-level must be 1 or infinite")
	}
	q := SyncQuery{SyncToken: sync.SyncToken}
	if sync.Prop != nil {
		var addressData addressDataReq
		if err := sync.Prop.Decode(&addressData); err != nil && !internal.IsNotFound(err) {
			return err
		}
		req, err := decodeAddressDataReq(&addressData)
		if err != nil {
			return err
		}
		q.DataRequest = *req
	}
	if sync.Limit != nil {
		q.Limit = int(sync.Limit.NResults)
		if q.Limit <= 0 {
			return internal.HTTPErrorf(http.StatusBadRequest, "carddav: sync-collection limit must be positive")
		}
	}
	res, err := sb.SyncAddressBook(r.Context(), r.URL.Path, &q)
	if err != nil {
		return err
	}
	b := backend{Backend: h.Backend, Prefix: strings.TrimSuffix(h.Prefix, "/")}
	propfind := internal.PropFind{Prop: sync.Prop}
	if propfind.Prop == nil {
		propfind.Prop = &internal.Prop{}
	}
	var resps []internal.Response
	for i := range res.Updated {
		resp, err := b.propFindAddressObject(r.Context(), &propfind, &res.Updated[i])
		if err != nil {
			return err
		}
		resps = append(resps, *resp)
	}
	for _, p := range res.Deleted {
		resps = append(resps, internal.Response{
			Hrefs:  []internal.Href{{Path: p}},
			Status: &internal.Status{Code: http.StatusNotFound},
		})
	}
	if res.Truncated {
		resps = append(resps, internal.Response{
			Hrefs:  []internal.Href{{Path: r.URL.Path}},
			Status: &internal.Status{Code: http.StatusInsufficientStorage},
			Error:  &internal.Error{Raw: []internal.RawXMLValue{*internal.NewRawXMLElement(xml.Name{Space: "DAV:", Local: "number-of-matches-within-limits"}, nil, nil)}},
		})
	}
	ms := internal.NewMultiStatus(resps...)
	ms.SyncToken = res.SyncToken
	return internal.ServeMultiStatus(w, ms)
}
