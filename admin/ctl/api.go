package ctl

import "time"

// Operation names and their arguments and results: the wire format shared
// by the server's handlers and `caucus admin`. Offboard, suspend and resume
// answer with package admin's Report, the same report the console shows.
const (
	OpInvite   = "invite"
	OpOffboard = "offboard"
	OpSuspend  = "suspend"
	OpResume   = "resume"
	OpList     = "list"
	OpAudit    = "audit"
	// OpGroupDiary switches a group's calendar and address book between
	// writable by its members and read-only, as the console's groups
	// page does (answers GroupDiaryResult).
	OpGroupDiary = "group-diary"
)

// GroupDiaryArgs names a group and the state its calendar and address
// book are to be in.
type GroupDiaryArgs struct {
	Group    string `json:"group"`
	ReadOnly bool   `json:"read_only"`
}

// GroupDiaryResult is the state before and after.
type GroupDiaryResult struct {
	Group    string `json:"group"`
	Was      bool   `json:"was_read_only"`
	ReadOnly bool   `json:"read_only"`
}

// InviteArgs invites one person.
type InviteArgs struct {
	Login   string   `json:"login"`
	Name    string   `json:"name,omitempty"`
	Role    string   `json:"role,omitempty"` // "member" (default), "officer" or "admin"
	Groups  []string `json:"groups,omitempty"`
	Expires string   `json:"expires,omitempty"` // account expiry, YYYY-MM-DD
	MailTo  string   `json:"mail_to,omitempty"` // also mail the link to this personal address
}

// InviteResult is the single-use enrolment link.
type InviteResult struct {
	Login   string    `json:"login,omitempty"` // the address invited, domain added
	Link    string    `json:"link"`
	Expires time.Time `json:"expires"`
	Mailed  bool      `json:"mailed,omitempty"`
	MailErr string    `json:"mail_err,omitempty"` // why the link could not be mailed
}

// AccountArgs names an account.
type AccountArgs struct {
	Login string `json:"login"`
}

// OffboardArgs describes an offboarding.
type OffboardArgs struct {
	Login      string `json:"login"`
	Successor  string `json:"successor,omitempty"`   // gets files, forwarded mail, read access
	Links      string `json:"links,omitempty"`       // the departing person's shares and links: "move" (default) or "revoke"
	Forward    bool   `json:"forward,omitempty"`     // forward mail to the successor
	AutoReply  string `json:"auto_reply,omitempty"`  // answer mail with this text
	RetainDays int    `json:"retain_days,omitempty"` // keep the mailbox; 0: the default (admin.DefaultRetentionDays)
	Export     bool   `json:"export,omitempty"`      // write the mailbox as mbox before deletion
	MailAccess bool   `json:"mail_access,omitempty"` // the successor may read the mailbox
	DryRun     bool   `json:"dry_run,omitempty"`     // only say what would happen
}

// Person is one row of the list.
type Person struct {
	Login     string    `json:"login"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	State     string    `json:"state"`
	Factors   []string  `json:"factors,omitempty"`
	LastLogin time.Time `json:"last_login,omitzero"`
	Expires   time.Time `json:"expires,omitzero"`
	// LastDay is the last day of access, YYYY-MM-DD in the party's
	// time zone (admin.LastDay), as given to invite; "" for none.
	LastDay string `json:"last_day,omitempty"`
}

// AuditArgs selects audit records.
type AuditArgs struct {
	Account string    `json:"account,omitempty"`
	Kind    string    `json:"kind,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	Limit   int       `json:"limit,omitempty"`
}

// AuditRecord is one audit record.
type AuditRecord struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Subject string    `json:"subject,omitempty"`
	Kind    string    `json:"kind"`
	Outcome string    `json:"outcome"`
	Reason  string    `json:"reason,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	Addr    string    `json:"addr,omitempty"`
}
