package calweb

import (
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/calendar"
)

// The event form's attendees, reminder and recurrence, read from and
// written into the stored iCalendar (RFC 5545). The form changes only
// what it shows: attendees that are not mail addresses, reminders other
// than its own choices, a recurrence it cannot show and every property
// it does not know stay as another client wrote them.

// Limits of the form's extras.
const (
	MaxAttendees = 100  // addresses on one event
	MaxCount     = 1000 // instances a "times" end may name
)

// reminders are the form's reminder choices: a DISPLAY alarm this long
// before the start (RFC 5545 section 3.6.6), by the form's value.
var reminders = map[string]time.Duration{"10m": 10 * time.Minute, "1h": time.Hour, "1d": 24 * time.Hour}

// triggers are the reminders' TRIGGER values (RFC 5545 section 3.8.6.3).
var triggers = map[string]string{"10m": "-PT10M", "1h": "-PT1H", "1d": "-P1D"}

// byDays are RFC 5545's weekday names (section 3.3.10), Monday first.
var byDays = []string{"MO", "TU", "WE", "TH", "FR", "SA", "SU"}

// repeats are the recurrences the form makes, by FREQ.
var repeats = map[string]string{"daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY", "yearly": "YEARLY"}

// repeatCustom is the form's value for a rule it cannot show: kept.
const repeatCustom = "custom"

// attendeesOf is what the form shows of ev's attendees: the mail
// addresses (mailto: ATTENDEEs, RFC 5545 section 3.8.4.1) of the first
// MaxAttendees of them, one per line, with their names; and how many
// more ev has, which the form does not show and keeps (see
// splitAttendees).
func attendeesOf(ev *ical.Component) (text string, hidden int) {
	all, shown, hidden := splitAttendees(ev)
	lines := make([]string, 0, min(len(all), MaxAttendees))
	for i, p := range all {
		if shown[i] {
			addr, _ := mailto(p.Value)
			lines = append(lines, addressText(p.Params.Get(ical.ParamCommonName), addr))
		}
	}
	return strings.Join(lines, "\n"), hidden
}

// splitAttendees reads ev's ATTENDEEs, in their order, and marks those
// the form shows: the first MaxAttendees with a mail address. The
// others it keeps as they are: those that are not mail addresses, and
// those past the form's limit in an event another client made (a
// congress with 300 delegates), hidden of them. The form posts against
// the version it showed (its ETag), so the part it showed is the part
// it posts back.
func splitAttendees(ev *ical.Component) (all []ical.Prop, shown []bool, hidden int) {
	all = ev.Props.Values(ical.PropAttendee)
	shown = make([]bool, len(all))
	n := 0
	for i, p := range all {
		if _, ok := mailto(p.Value); ok {
			if n < MaxAttendees {
				shown[i] = true
				n++
			} else {
				hidden++
			}
		}
	}
	return all, shown, hidden
}

// addressText is "Name <address>" as people write it (RFC 5322 section
// 3.4 with RFC 6532's UTF-8): the name quoted only when it holds a
// special character (a comma: "Rossi, Anna"), never encoded as RFC
// 2047 words as net/mail's String does.
func addressText(name, addr string) string {
	if name == "" {
		return addr
	}
	if strings.ContainsAny(name, "()<>[]:;@\\,.\"") {
		name = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
	}
	return name + " <" + addr + ">"
}

// mailto returns the address of a mailto: URI.
func mailto(uri string) (string, bool) {
	if len(uri) < len("mailto:") || !strings.EqualFold(uri[:len("mailto:")], "mailto:") {
		return "", false
	}
	return uri[len("mailto:"):], true
}

// parseAttendees reads the form's attendees: one per line (commas and
// semicolons also part them), "Name <address>" or an address alone;
// each address once.
func parseAttendees(s string) ([]*mail.Address, error) {
	var out []*mail.Address
	seen := map[string]bool{}
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		list, err := parseLine(line)
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			if key := strings.ToLower(a.Address); !seen[key] {
				seen[key] = true
				out = append(out, a)
			}
		}
	}
	if len(out) > MaxAttendees {
		return nil, errForm(i18n.Key("calweb.err.attendees"))
	}
	return out, nil
}

// paramText is s as a parameter value may hold it (RFC 5545 section
// 3.2: no DQUOTE, no control character): a name in CN.
func paramText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return -1
		}
		return r
	}, s)
}

// parseLine reads one line of attendees: addresses parted by commas
// (quoted names may hold commas) or, as Outlook writes them, semicolons.
func parseLine(line string) ([]*mail.Address, error) {
	line = strings.Trim(line, " \t,;")
	if line == "" {
		return nil, nil
	}
	list, err := mail.ParseAddressList(line)
	if err != nil && strings.Contains(line, ";") {
		list, err = mail.ParseAddressList(strings.ReplaceAll(line, ";", ","))
	}
	if err != nil {
		return nil, errForm(i18n.Key("calweb.err.attendee"))
	}
	for _, a := range list {
		if strings.ContainsAny(a.Address, "\" <>\\") {
			return nil, errForm(i18n.Key("calweb.err.attendee"))
		}
		a.Name = paramText(a.Name)
	}
	return list, nil
}

// setAttendees makes ev's mail attendees those of list: one already
// there keeps its line (its answer, PARTSTAT, and every parameter) and
// its place, a new one is asked to answer (RFC 5545 section 3.2.12, RFC
// 5546 section 3.2.2) and comes after the last the form showed, and one
// no longer listed is removed, with any hidden line of the same address
// (one listed twice). Attendees that are not mail addresses stay where
// they are, and so do those past the form's first MaxAttendees (see
// splitAttendees): saving an event unchanged keeps its order, so the
// form shows the same attendees the next time. An event with attendees
// names its ORGANIZER (RFC 5545 section 3.8.4.3): the member, unless one
// is named already; without attendees the member as organizer is taken
// away.
func setAttendees(ev *ical.Component, list []*mail.Address, me *mail.Address) {
	all, shown, _ := splitAttendees(ev)
	listed := make(map[string]bool, len(list))
	for _, a := range list {
		listed[strings.ToLower(a.Address)] = true
	}
	was := map[string]bool{}    // the addresses the form showed
	hidden := map[string]bool{} // the mail addresses it did not show
	for i, p := range all {
		if addr, ok := mailto(p.Value); ok {
			if shown[i] {
				was[strings.ToLower(addr)] = true
			} else {
				hidden[strings.ToLower(addr)] = true
			}
		}
	}
	keep := make([]ical.Prop, 0, len(all)+len(list))
	at := -1 // where new attendees go: after the last shown one
	done := map[string]bool{}
	for i, p := range all {
		addr, ok := mailto(p.Value)
		key := strings.ToLower(addr)
		switch {
		case !ok:
		case shown[i] && (!listed[key] || done[key]):
			at = len(keep) // removed, or a second line of one kept
			continue
		case shown[i]:
			done[key] = true
		case was[key] && !listed[key]:
			continue // shown once and removed: removed here too
		}
		keep = append(keep, p)
		if shown[i] {
			at = len(keep)
		}
	}
	if at < 0 {
		at = len(keep)
	}
	var added []ical.Prop
	for _, a := range list {
		key := strings.ToLower(a.Address)
		if was[key] {
			continue // kept in its place
		}
		if hidden[key] {
			continue // an attendee already, past what the form shows
		}
		p := ical.NewProp(ical.PropAttendee)
		p.Value = "mailto:" + a.Address
		if a.Name != "" {
			p.Params.Set(ical.ParamCommonName, a.Name)
		}
		p.Params.Set(ical.ParamCalendarUserType, "INDIVIDUAL")
		p.Params.Set(ical.ParamRole, "REQ-PARTICIPANT")
		p.Params.Set(ical.ParamParticipationStatus, "NEEDS-ACTION")
		p.Params.Set(ical.ParamRSVP, "TRUE")
		added = append(added, *p)
	}
	keep = slices.Insert(keep, at, added...)
	if len(keep) == 0 {
		ev.Props.Del(ical.PropAttendee)
	} else {
		ev.Props[ical.PropAttendee] = keep
	}
	org := ev.Props.Get(ical.PropOrganizer)
	switch {
	case len(list) > 0 && org == nil:
		p := ical.NewProp(ical.PropOrganizer)
		p.Value = "mailto:" + me.Address
		if name := paramText(me.Name); name != "" {
			p.Params.Set(ical.ParamCommonName, name)
		}
		ev.Props.Set(p)
	case len(keep) == 0 && org != nil:
		if addr, ok := mailto(org.Value); ok && strings.EqualFold(addr, me.Address) {
			ev.Props.Del(ical.PropOrganizer)
		}
	}
}

// reminderOf is the form's reminder of ev: the first of its alarms the
// form can show (ACTION:DISPLAY, a TRIGGER one of the choices before the
// start), and whether ev has alarms the form does not show.
func reminderOf(ev *ical.Component) (choice string, others bool) {
	for _, c := range ev.Children {
		if c.Name != ical.CompAlarm {
			continue
		}
		if k := alarmChoice(c); k != "" && choice == "" {
			choice = k
		} else {
			others = true
		}
	}
	return choice, others
}

// alarmChoice is the form's value of alarm a, "" if it is none of them.
func alarmChoice(a *ical.Component) string {
	act, tr := a.Props.Get(ical.PropAction), a.Props.Get(ical.PropTrigger)
	if act == nil || !strings.EqualFold(act.Value, "DISPLAY") || tr == nil || tr.Params.Get(ical.ParamValue) != "" ||
		strings.EqualFold(tr.Params.Get(ical.ParamRelated), "END") {
		return ""
	}
	d, err := tr.Duration()
	if err != nil {
		return ""
	}
	for k, v := range reminders {
		if d == -v {
			return k
		}
	}
	return ""
}

// setReminder replaces ev's reminder old (a form value, "" for none)
// with choice: the alarm the form showed is removed, a new DISPLAY
// alarm added (RFC 5545 section 3.6.6: ACTION, TRIGGER, DESCRIPTION);
// the other alarms stay.
func setReminder(ev *ical.Component, old, choice, title string) {
	if old == choice {
		return
	}
	if old != "" {
		for i, c := range ev.Children {
			if c.Name == ical.CompAlarm && alarmChoice(c) == old {
				ev.Children = append(ev.Children[:i], ev.Children[i+1:]...)
				break
			}
		}
	}
	if choice == "" {
		return
	}
	a := ical.NewComponent(ical.CompAlarm)
	a.Props.SetText(ical.PropAction, "DISPLAY")
	a.Props.Set(&ical.Prop{Name: ical.PropTrigger, Params: ical.Params{}, Value: triggers[choice]})
	a.Props.SetText(ical.PropDescription, title)
	ev.Children = append(ev.Children, a)
}

// repeat is the form's recurrence.
type repeat struct {
	Repeat string   // "", a key of repeats, or repeatCustom
	Days   []string // BYDAY of a weekly rule
	Ends   string   // "never", "until" or "count"
	Until  string   // 2006-01-02, the last day
	Count  string
}

func (r repeat) equal(o repeat) bool {
	return r.Repeat == o.Repeat && strings.Join(r.Days, ",") == strings.Join(o.Days, ",") &&
		r.Ends == o.Ends && (r.Ends != "until" || r.Until == o.Until) && (r.Ends != "count" || r.Count == o.Count)
}

// Has says whether day (MO…SU) is one of a weekly rule's days.
func (r repeat) Has(day string) bool {
	for _, d := range r.Days {
		if d == day {
			return true
		}
	}
	return false
}

// repeatOf reads ev's recurrence as the form shows it (RFC 5545 section
// 3.3.10): one RRULE of FREQ DAILY, WEEKLY (with plain BYDAY days),
// MONTHLY or YEARLY, ending never, on a day (UNTIL) or after a number
// (COUNT, 1 to MaxCount in plain digits, as the form writes it), no
// RDATE, that the form takes back unchanged ([readRepeat]). Any other is
// repeatCustom. ev is an event of ic, whose time zones its start is read
// in as the store reads them (calendar.FirstInstance: an Outlook TZID
// too).
func repeatOf(ic *ical.Calendar, ev *ical.Component, loc *time.Location) repeat {
	r := repeat{Ends: "never"}
	rules := ev.Props.Values(ical.PropRecurrenceRule)
	if len(rules) == 0 && ev.Props.Get(ical.PropRecurrenceDates) == nil {
		return r
	}
	custom := repeat{Repeat: repeatCustom, Ends: "never"}
	if len(rules) != 1 || ev.Props.Get(ical.PropRecurrenceDates) != nil {
		return custom
	}
	for _, part := range strings.Split(strings.ToUpper(rules[0].Value), ";") {
		k, v, _ := strings.Cut(part, "=")
		if !r.setPart(k, v, loc) {
			return custom
		}
	}
	if r.Repeat == "" || (len(r.Days) > 0 && r.Repeat != "weekly") {
		return custom
	}
	// A rule the form would refuse when sent back unchanged (an end
	// before the start or past maxYear, weekly days without the
	// start's) is not shown, or the event could not be saved again.
	first, ok := calendar.FirstInstance(ic, ev)
	if !ok {
		return custom
	}
	// The form shows the start, and takes its weekday, in the member's
	// zone: a start of Monday 23:30 UTC is a Tuesday in Rome, and "weekly
	// on Monday" would be refused there.
	start := instanceView(first, calView{}, "", loc).Start
	get := func(k string) string {
		return map[string]string{"repeat": r.Repeat, "ends": r.Ends, "until": r.Until, "count": r.Count}[k]
	}
	if _, err := readRepeat(get, r.Days, start, loc); err != nil {
		return custom
	}
	return r
}

// setPart reads one part of a rule into r; false if the form cannot show
// it.
func (r *repeat) setPart(k, v string, loc *time.Location) bool {
	switch k {
	case "FREQ":
		for name, freq := range repeats {
			if v == freq {
				r.Repeat = name
			}
		}
		return r.Repeat != ""
	case "INTERVAL":
		return v == "1"
	case "WKST":
		return true
	case "COUNT":
		// A count the form would refuse (0, over MaxCount, "+5") is
		// not shown, or the event could not be saved again unchanged.
		n, err := strconv.Atoi(v)
		r.Ends, r.Count = "count", v
		return err == nil && n >= 1 && n <= MaxCount && v == strconv.Itoa(n)
	case "UNTIL":
		t, ok := untilDay(v, loc)
		r.Ends, r.Until = "until", t
		return ok
	case "BYDAY":
		for _, d := range strings.Split(v, ",") {
			if !isByDay(d) {
				return false
			}
			r.Days = append(r.Days, d)
		}
		r.Days = sortDays(r.Days)
		return true
	}
	return false
}

func isByDay(d string) bool {
	for _, b := range byDays {
		if d == b {
			return true
		}
	}
	return false
}

// sortDays puts days in the week's order, Monday first, once each.
func sortDays(days []string) []string {
	var out []string
	for _, b := range byDays {
		for _, d := range days {
			if d == b {
				out = append(out, b)
				break
			}
		}
	}
	return out
}

// untilDay is the last day an UNTIL value names, in loc: a DATE as it
// is, a UTC or floating time read in loc.
func untilDay(v string, loc *time.Location) (string, bool) {
	var t time.Time
	var err error
	switch len(v) {
	case len("20060102"):
		t, err = time.Parse("20060102", v)
		return t.Format("2006-01-02"), err == nil
	case len("20060102T150405Z"):
		t, err = time.Parse("20060102T150405Z", v)
		t = t.In(loc)
	case len("20060102T150405"):
		t, err = time.ParseInLocation("20060102T150405", v, loc)
	default:
		return "", false
	}
	return t.Format("2006-01-02"), err == nil
}

// readRepeat reads and checks the form's recurrence for an event
// starting at start (in loc): a weekly rule's days include the start's
// (DTSTART is the first instance, RFC 5545 section 3.8.5.3), an end day
// is not before the start, a count is 1 to MaxCount.
func readRepeat(get func(string) string, days []string, start time.Time, loc *time.Location) (repeat, error) {
	r := repeat{Repeat: get("repeat"), Days: sortDays(days), Ends: get("ends"), Until: get("until"), Count: strings.TrimSpace(get("count"))}
	if r.Ends == "" {
		r.Ends = "never"
	}
	if _, ok := repeats[r.Repeat]; !ok && r.Repeat != "" && r.Repeat != repeatCustom {
		return r, errForm(i18n.Key("calweb.err.repeat"))
	}
	if r.Repeat != "weekly" {
		r.Days = nil
	}
	if r.Repeat == "" || r.Repeat == repeatCustom {
		return r, nil
	}
	wd := byDays[(int(start.Weekday())+6)%7]
	if r.Repeat == "weekly" && len(r.Days) == 0 {
		r.Days = []string{wd}
	}
	if r.Repeat == "weekly" && !r.Has(wd) {
		return r, errForm(i18n.Key("calweb.err.weekday"))
	}
	switch r.Ends {
	case "never":
	case "until":
		u, err := parseDate(r.Until, "", loc)
		if err != nil || u.Before(dayOf(start, loc)) {
			return r, errForm(i18n.Key("calweb.err.until"))
		}
	case "count":
		n, err := strconv.Atoi(r.Count)
		if err != nil || n < 1 || n > MaxCount {
			return r, errForm(i18n.Key("calweb.err.count"))
		}
		// COUNT is 1*DIGIT (RFC 5545 section 3.3.10); Atoi also reads
		// "+5", which the rule must not carry.
		r.Count = strconv.Itoa(n)
	default:
		return r, errForm(i18n.Key("calweb.err.repeat"))
	}
	return r, nil
}

// rule is the RRULE value of r (RFC 5545 section 3.3.10). UNTIL is the
// end of the last day: a DATE for an all-day event, else that day's end
// in loc as UTC, as a DTSTART with a time zone asks.
func (r repeat) rule(allDay bool, loc *time.Location) string {
	v := "FREQ=" + repeats[r.Repeat]
	if len(r.Days) > 0 {
		v += ";BYDAY=" + strings.Join(r.Days, ",")
	}
	switch r.Ends {
	case "until":
		u, _ := parseDate(r.Until, "", loc)
		if allDay {
			v += ";UNTIL=" + u.Format("20060102")
		} else {
			v += ";UNTIL=" + time.Date(u.Year(), u.Month(), u.Day(), 23, 59, 59, 0, loc).UTC().Format("20060102T150405Z")
		}
	case "count":
		v += ";COUNT=" + r.Count
	}
	return v
}

// setRepeat writes r into ev if it is not old, the recurrence the form
// showed. Without recurrence the series' exceptions (EXDATE) go too;
// its changed instances are taken out of the object by the caller.
func setRepeat(ev *ical.Component, old, r repeat, allDay bool, loc *time.Location) {
	if r.equal(old) || r.Repeat == repeatCustom {
		return
	}
	if r.Repeat == "" {
		ev.Props.Del(ical.PropRecurrenceRule)
		ev.Props.Del(ical.PropRecurrenceDates)
		ev.Props.Del(ical.PropExceptionDates)
		return
	}
	ev.Props.Set(&ical.Prop{Name: ical.PropRecurrenceRule, Params: ical.Params{}, Value: r.rule(allDay, loc)})
}
