package caldav

import (
	"encoding/xml"
	"fmt"
	"time"

	"github.com/emersion/go-webdav/internal"
)

const namespace = "urn:ietf:params:xml:ns:caldav"

var (
	calendarHomeSetName = xml.Name{namespace, "calendar-home-set"}

	calendarDescriptionName           = xml.Name{namespace, "calendar-description"}
	supportedCalendarDataName         = xml.Name{namespace, "supported-calendar-data"}
	supportedCalendarComponentSetName = xml.Name{namespace, "supported-calendar-component-set"}
	maxResourceSizeName               = xml.Name{namespace, "max-resource-size"}

	calendarQueryName    = xml.Name{namespace, "calendar-query"}
	calendarMultigetName = xml.Name{namespace, "calendar-multiget"}

	syncCollectionName     = xml.Name{"DAV:", "sync-collection"}      // caucus patch 1
	freeBusyQueryName      = xml.Name{namespace, "free-busy-query"}   // caucus patch 3
	syncTokenName          = xml.Name{"DAV:", "sync-token"}           // caucus patch 1
	supportedReportSetName = xml.Name{"DAV:", "supported-report-set"} // caucus patch 1

	currentUserPrivilegeSetName = xml.Name{"DAV:", "current-user-privilege-set"}   // caucus patch 14
	calendarUserAddressSetName  = xml.Name{namespace, "calendar-user-address-set"} // caucus patch 15

	calendarName     = xml.Name{namespace, "calendar"}
	calendarDataName = xml.Name{namespace, "calendar-data"}
)

// https://tools.ietf.org/html/rfc4791#section-6.2.1
type calendarHomeSet struct {
	XMLName xml.Name      `xml:"urn:ietf:params:xml:ns:caldav calendar-home-set"`
	Href    internal.Href `xml:"DAV: href"`
}

func (a *calendarHomeSet) GetXMLName() xml.Name {
	return calendarHomeSetName
}

// https://tools.ietf.org/html/rfc4791#section-5.2.1
type calendarDescription struct {
	XMLName     xml.Name `xml:"urn:ietf:params:xml:ns:caldav calendar-description"`
	Description string   `xml:",chardata"`
}

// https://tools.ietf.org/html/rfc4791#section-5.2.4
type supportedCalendarData struct {
	XMLName xml.Name           `xml:"urn:ietf:params:xml:ns:caldav supported-calendar-data"`
	Types   []calendarDataType `xml:"calendar-data"`
}

// https://tools.ietf.org/html/rfc4791#section-5.2.3
type supportedCalendarComponentSet struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:caldav supported-calendar-component-set"`
	Comp    []comp   `xml:"comp"`
}

// https://tools.ietf.org/html/rfc4791#section-9.6
type calendarDataType struct {
	XMLName     xml.Name `xml:"urn:ietf:params:xml:ns:caldav calendar-data"`
	ContentType string   `xml:"content-type,attr"`
	Version     string   `xml:"version,attr"`
}

// https://tools.ietf.org/html/rfc4791#section-5.2.5
type maxResourceSize struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:caldav max-resource-size"`
	Size    int64    `xml:",chardata"`
}

// https://tools.ietf.org/html/rfc4791#section-9.5
type calendarQuery struct {
	XMLName  xml.Name       `xml:"urn:ietf:params:xml:ns:caldav calendar-query"`
	Prop     *internal.Prop `xml:"DAV: prop,omitempty"`
	AllProp  *struct{}      `xml:"DAV: allprop,omitempty"`
	PropName *struct{}      `xml:"DAV: propname,omitempty"`
	Filter   filter         `xml:"filter"`
	// TODO: timezone
}

// https://tools.ietf.org/html/rfc4791#section-9.10
type calendarMultiget struct {
	XMLName  xml.Name        `xml:"urn:ietf:params:xml:ns:caldav calendar-multiget"`
	Hrefs    []internal.Href `xml:"DAV: href"`
	Prop     *internal.Prop  `xml:"DAV: prop,omitempty"`
	AllProp  *struct{}       `xml:"DAV: allprop,omitempty"`
	PropName *struct{}       `xml:"DAV: propname,omitempty"`
}

// https://tools.ietf.org/html/rfc4791#section-9.7
type filter struct {
	XMLName    xml.Name   `xml:"urn:ietf:params:xml:ns:caldav filter"`
	CompFilter compFilter `xml:"comp-filter"`
}

// https://tools.ietf.org/html/rfc4791#section-9.7.1
type compFilter struct {
	XMLName      xml.Name     `xml:"urn:ietf:params:xml:ns:caldav comp-filter"`
	Name         string       `xml:"name,attr"`
	IsNotDefined *struct{}    `xml:"is-not-defined,omitempty"`
	TimeRange    *timeRange   `xml:"time-range,omitempty"`
	PropFilters  []propFilter `xml:"prop-filter,omitempty"`
	CompFilters  []compFilter `xml:"comp-filter,omitempty"`
}

// https://tools.ietf.org/html/rfc4791#section-9.7.2
type propFilter struct {
	XMLName      xml.Name      `xml:"urn:ietf:params:xml:ns:caldav prop-filter"`
	Name         string        `xml:"name,attr"`
	IsNotDefined *struct{}     `xml:"is-not-defined,omitempty"`
	TimeRange    *timeRange    `xml:"time-range,omitempty"`
	TextMatch    *textMatch    `xml:"text-match,omitempty"`
	ParamFilter  []paramFilter `xml:"param-filter,omitempty"`
}

// https://tools.ietf.org/html/rfc4791#section-9.7.3
type paramFilter struct {
	XMLName      xml.Name   `xml:"urn:ietf:params:xml:ns:caldav param-filter"`
	Name         string     `xml:"name,attr"`
	IsNotDefined *struct{}  `xml:"is-not-defined,omitempty"`
	TextMatch    *textMatch `xml:"text-match,omitempty"`
}

// https://tools.ietf.org/html/rfc4791#section-9.7.5
type textMatch struct {
	XMLName         xml.Name        `xml:"urn:ietf:params:xml:ns:caldav text-match"`
	Text            string          `xml:",chardata"`
	Collation       string          `xml:"collation,attr,omitempty"`
	NegateCondition negateCondition `xml:"negate-condition,attr,omitempty"`
}

type negateCondition bool

func (nc *negateCondition) UnmarshalText(b []byte) error {
	switch s := string(b); s {
	case "yes":
		*nc = true
	case "no":
		*nc = false
	default:
		return fmt.Errorf("caldav: invalid negate-condition value: %q", s)
	}
	return nil
}

func (nc negateCondition) MarshalText() ([]byte, error) {
	if nc {
		return []byte("yes"), nil
	}
	return nil, nil
}

// https://tools.ietf.org/html/rfc4791#section-9.9
type timeRange struct {
	XMLName xml.Name        `xml:"urn:ietf:params:xml:ns:caldav time-range"`
	Start   dateWithUTCTime `xml:"start,attr,omitempty"`
	End     dateWithUTCTime `xml:"end,attr,omitempty"`
}

const dateWithUTCTimeLayout = "20060102T150405Z"

// dateWithUTCTime is the "date with UTC time" format defined in RFC 5545 page
// 34.
type dateWithUTCTime time.Time

func (t *dateWithUTCTime) UnmarshalText(b []byte) error {
	tt, err := time.Parse(dateWithUTCTimeLayout, string(b))
	if err != nil {
		return err
	}
	*t = dateWithUTCTime(tt)
	return nil
}

func (t *dateWithUTCTime) MarshalText() ([]byte, error) {
	s := time.Time(*t).Format(dateWithUTCTimeLayout)
	return []byte(s), nil
}

// Request variant of https://tools.ietf.org/html/rfc4791#section-9.6
type calendarDataReq struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:caldav calendar-data"`
	Comp    *comp    `xml:"comp,omitempty"`
	// TODO: expand, limit-recurrence-set, limit-freebusy-set
}

// https://tools.ietf.org/html/rfc4791#section-9.6.1
type comp struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:caldav comp"`
	Name    string   `xml:"name,attr"`

	Allprop *struct{} `xml:"allprop,omitempty"`
	Prop    []prop    `xml:"prop,omitempty"`

	Allcomp *struct{} `xml:"allcomp,omitempty"`
	Comp    []comp    `xml:"comp,omitempty"`
}

// https://tools.ietf.org/html/rfc4791#section-9.6.4
type prop struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:caldav prop"`
	Name    string   `xml:"name,attr"`
	// TODO: novalue
}

// Response variant of https://tools.ietf.org/html/rfc4791#section-9.6
type calendarDataResp struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:caldav calendar-data"`
	Data    []byte   `xml:",chardata"`
}

type reportReq struct {
	Query    *calendarQuery
	Multiget *calendarMultiget
	// caucus patch 1: sync-collection (RFC 6578 section 3.2).
	SyncCollection *internal.SyncCollectionQuery
	// caucus patch 3: CALDAV:free-busy-query (RFC 4791 section 7.10).
	FreeBusy *freeBusyQuery
}

// https://tools.ietf.org/html/rfc4791#section-9.11 (caucus patch 3)
type freeBusyQuery struct {
	XMLName   xml.Name  `xml:"urn:ietf:params:xml:ns:caldav free-busy-query"`
	TimeRange timeRange `xml:"time-range"`
}

func (r *reportReq) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var v interface{}
	switch start.Name {
	case calendarQueryName:
		r.Query = &calendarQuery{}
		v = r.Query
	case calendarMultigetName:
		r.Multiget = &calendarMultiget{}
		v = r.Multiget
	case syncCollectionName:
		r.SyncCollection = &internal.SyncCollectionQuery{}
		v = r.SyncCollection
	case freeBusyQueryName:
		r.FreeBusy = &freeBusyQuery{}
		v = r.FreeBusy
	default:
		return fmt.Errorf("caldav: unsupported REPORT root %q %q", start.Name.Space, start.Name.Local)
	}

	return d.DecodeElement(v, &start)
}

// https://tools.ietf.org/html/rfc4791#section-9.3 (caucus patch 4)
type mkcalendarReq struct {
	XMLName     xml.Name `xml:"urn:ietf:params:xml:ns:caldav mkcalendar"`
	DisplayName string   `xml:"set>prop>displayname"`
	Description string   `xml:"set>prop>calendar-description"`
}

type mkcolReq struct {
	XMLName      xml.Name              `xml:"DAV: mkcol"`
	ResourceType internal.ResourceType `xml:"set>prop>resourcetype"`
	DisplayName  string                `xml:"set>prop>displayname"`
	// TODO this could theoretically contain all addressbook properties?
}

// caucus patch 1: the DAV:sync-token property (RFC 6578 section 4).
type syncToken struct {
	XMLName xml.Name `xml:"DAV: sync-token"`
	Token   string   `xml:",chardata"`
}

// caucus patch 1: the DAV:supported-report-set property (RFC 3253
// section 3.1.5), which clients read to learn that sync-collection is
// there.
type supportedReportSet struct {
	XMLName xml.Name          `xml:"DAV: supported-report-set"`
	Reports []supportedReport `xml:"supported-report"`
}

type supportedReport struct {
	Report reportName `xml:"DAV: report"`
}

type reportName struct {
	Name xml.Name
}

func (r reportName) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	el := xml.StartElement{Name: r.Name}
	if err := e.EncodeToken(el); err != nil {
		return err
	}
	if err := e.EncodeToken(el.End()); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

// currentUserPrivilegeSet is DAV:current-user-privilege-set (RFC 3744
// section 5.4): what the current user may do with a resource (caucus
// patch 14).
type currentUserPrivilegeSet struct {
	XMLName    xml.Name    `xml:"DAV: current-user-privilege-set"`
	Privileges []privilege `xml:"DAV: privilege"`
}

type privilege struct {
	XMLName xml.Name               `xml:"DAV: privilege"`
	Raw     []internal.RawXMLValue `xml:",any"`
}

// privileges is the privilege set of a calendar: read, and the write
// privileges (RFC 3744 section 3.1) unless it is read-only.
func privileges(readOnly bool) *currentUserPrivilegeSet {
	names := []string{"read"}
	if !readOnly {
		names = append(names, "write", "write-content", "write-properties", "bind", "unbind")
	}
	set := &currentUserPrivilegeSet{}
	for _, n := range names {
		set.Privileges = append(set.Privileges, privilege{Raw: []internal.RawXMLValue{*internal.NewRawXMLElement(xml.Name{internal.Namespace, n}, nil, nil)}})
	}
	return set
}

// calendarUserAddressSet is CALDAV:calendar-user-address-set (RFC 6638
// section 2.4.1): the URIs of the calendar user a principal is (caucus
// patch 15).
type calendarUserAddressSet struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:caldav calendar-user-address-set"`
	Hrefs   []string `xml:"DAV: href"`
}
