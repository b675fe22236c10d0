package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/admin/ctl"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/mailimport"
)

const adminIntro = `Usage: caucus admin COMMAND [flags] [--config FILE | --data DIR]

Talks to the running server over its control socket (ctl.sock in the data
directory), so that actions take effect at once, live connections included.
Run it as the caucus service user (or root).

Commands:
`

const auditUsage = `Usage: caucus audit verify [--config FILE | --data DIR]

Checks the audit log's hash chain in the database (the server may be running
or not). Exits 1 and names the first bad record when the chain is broken.
`

// adminCommand is one sub-command of `caucus admin`: each calls one
// operation of the running server over the control socket (package
// admin/ctl), which calls the same function of package admin as the
// console.
type adminCommand struct {
	name  string
	login bool   // takes one login as its argument; otherwise none
	help  string // one line, for `caucus admin help`
	// flags declares the command's own flags on fs and returns its run
	// function, which reads them once they are parsed.
	flags func(fs *flag.FlagSet) adminRun
	// args, instead of login and flags, names the command's arguments
	// for its usage line (each a word, or WORD|WORD for a choice), and
	// argsRun makes its call from them.
	args    []string
	argsRun adminArgsRun
}

// adminArgsRun turns a command's arguments (as many as it names) into
// the call to make.
type adminArgsRun func(args []string, out io.Writer) (adminCall, error)

// adminRun turns a parsed command line (login is "" for commands that take
// none) into the call to make and how to print its answer on out.
type adminRun func(login string, out io.Writer) (adminCall, error)

// adminCall is one call over the control socket and the printer of its
// answer.
type adminCall struct {
	op    string
	args  any
	print func(result []byte) error
}

// adminCommands are the sub-commands of `caucus admin`, in the order help
// lists them.
func adminCommands() []adminCommand {
	return []adminCommand{
		{name: "invite", login: true, help: "invite a person (LOGIN: an address, or a name at the party's domain); prints the single-use enrolment link", flags: inviteFlags},
		{name: "offboard", login: true, help: "revoke everything, close live connections, hand over; prints the report", flags: offboardFlags},
		{name: "suspend", login: true, help: "revoke everything and close live connections (reversible)", flags: accountFlags(ctl.OpSuspend)},
		{name: "resume", login: true, help: "let a suspended person sign in again", flags: accountFlags(ctl.OpResume)},
		{name: "list", help: "the people, their factors and state", flags: listFlags},
		{name: "audit", help: "the newest audit records", flags: auditFlags},
		{name: "import", login: true, help: "copy a member's mail in from another provider (IMAP, e.g. Gmail with an app password; Google Takeout mbox; Maildir), as a job that survives restarts", flags: importFlags},
		{name: "import-csv", help: "start an IMAP import for every member listed in a CSV file", flags: importCSVFlags},
		{name: "imports", help: "the import jobs and their state", flags: importsFlags},
		{name: "import-report", help: "what an import job copied, and what it could not and why", flags: importJobFlags(mailimport.OpImportReport)},
		{name: "import-cancel", help: "stop an import job (what it copied stays)", flags: importJobFlags(mailimport.OpImportCancel)},
		{name: "roles", help: "the role mailboxes (press@, info@) and who may read or send as each", flags: rolesFlags},
		{name: "role-create", login: true, help: "make a role mailbox for the address LOGIN (one of the party's, used by nobody yet)", flags: roleCreateFlags},
		{name: "role-grant", login: true, help: "let the member LOGIN read a role mailbox, and with --send-as send as its address", flags: roleGrantFlags(ctl.OpRoleGrant)},
		{name: "role-revoke", login: true, help: "end the member LOGIN's access to a role mailbox; their open mail apps lose it at once", flags: roleGrantFlags(ctl.OpRoleRevoke)},
		{name: "cohort", help: "invite a cohort of volunteers from a list, with one sponsor and one last day; prints each enrolment link", flags: cohortFlags},
		{name: "cohorts", help: "the cohorts of volunteers, their sponsors and last days", flags: cohortsFlags},
		{name: "cohort-extend", help: "move a cohort's last day, for every volunteer in it", flags: cohortExtendFlags},
		{name: "cohort-end", help: "end a cohort now: offboard every volunteer in it; prints the one report", flags: cohortEndFlags},
		{name: "group", args: []string{"diary", "GROUP", "read-only|read-write"}, help: "make a group's shared calendar and address book read-only for its members (admins still write), or writable by them again", argsRun: groupDiaryRun},
	}
}

// groupDiaryRun is `caucus admin group diary GROUP read-only|read-write`:
// the switch of the console's groups page.
func groupDiaryRun(args []string, out io.Writer) (adminCall, error) {
	if args[0] != "diary" {
		return adminCall{}, fmt.Errorf("unknown group command %q: the only one is diary", args[0])
	}
	a := ctl.GroupDiaryArgs{Group: args[1]}
	switch args[2] {
	case "read-only":
		a.ReadOnly = true
	case "read-write":
	default:
		return adminCall{}, fmt.Errorf("%q: say read-only or read-write", args[2])
	}
	return adminCall{op: ctl.OpGroupDiary, args: a, print: printAs(func(r ctl.GroupDiaryResult) {
		state := map[bool]string{true: "read-only for its members (admins still write)", false: "writable by its members"}
		now := "now"
		if r.Was == r.ReadOnly {
			now = "still"
		}
		fmt.Fprintf(out, "group %s: calendar and address book %s %s\n", r.Group, now, state[r.ReadOnly])
	})}, nil
}

func inviteFlags(fs *flag.FlagSet) adminRun {
	name := fs.String("name", "", "the person's display `NAME` (default: made from the address, anna.rossi is Anna Rossi)")
	role := fs.String("role", "member", "the person's role: `member|volunteer|officer|admin` (a volunteer needs --expires; an officer enrols with two passkeys or security keys)")
	groups := fs.String("groups", "", "the `GROUPS` to join, separated by commas")
	expires := fs.String("expires", "", "account expiry date, `YYYY-MM-DD`")
	mailTo := fs.String("mail-to", "", "also mail the link to `ADDR`, a personal address")
	return func(login string, out io.Writer) (adminCall, error) {
		a := ctl.InviteArgs{Login: login, Name: *name, Role: *role, Expires: *expires, MailTo: *mailTo}
		for g := range strings.SplitSeq(*groups, ",") {
			if g = strings.TrimSpace(g); g != "" {
				a.Groups = append(a.Groups, g)
			}
		}
		return adminCall{op: ctl.OpInvite, args: a, print: printAs(func(r ctl.InviteResult) {
			if r.Login != "" {
				login = r.Login
			}
			fmt.Fprintf(out, "invited %s; enrolment link (single use, valid until %s):\n%s\n", login, r.Expires.Local().Format(time.DateTime), r.Link)
			switch {
			case r.Mailed:
				fmt.Fprintf(out, "the link was mailed to %s\n", *mailTo)
			case r.MailErr != "":
				fmt.Fprintf(out, "the link could NOT be mailed (%s): pass it on yourself\n", r.MailErr)
			}
		})}, nil
	}
}

func offboardFlags(fs *flag.FlagSet) adminRun {
	successor := fs.String("successor", "", "the `LOGIN` that takes over files and mail")
	links := fs.String("links", "move", "what happens to the person's shares and links: `move|revoke` (move hands them to the successor)")
	forward := fs.Bool("forward", false, "forward mail to the successor")
	autoReply := fs.String("auto-reply", "", "answer mail to the address with this `TEXT`")
	mailAccess := fs.Bool("mail-access", false, "give the successor a copy of the mailbox to read")
	retainDays := fs.Int("retain-days", 0, fmt.Sprintf("keep the mailbox `N` days (0: the default, %d)", admin.DefaultRetentionDays))
	export := fs.Bool("export", false, "write the mailbox as an mbox file in the data directory before deleting it")
	dryRun := fs.Bool("dry-run", false, "only show what would happen")
	return func(login string, out io.Writer) (adminCall, error) {
		a := ctl.OffboardArgs{Login: login, Successor: *successor, Links: *links, Forward: *forward, AutoReply: *autoReply,
			MailAccess: *mailAccess, RetainDays: *retainDays, Export: *export, DryRun: *dryRun}
		return adminCall{op: ctl.OpOffboard, args: a, print: printReport(out)}, nil
	}
}

// accountFlags is the run of a command that takes a login and no flag.
func accountFlags(op string) func(*flag.FlagSet) adminRun {
	return func(*flag.FlagSet) adminRun {
		return func(login string, out io.Writer) (adminCall, error) {
			return adminCall{op: op, args: ctl.AccountArgs{Login: login}, print: printReport(out)}, nil
		}
	}
}

func listFlags(*flag.FlagSet) adminRun {
	return func(_ string, out io.Writer) (adminCall, error) {
		return adminCall{op: ctl.OpList, print: printAs(func(people []ctl.Person) { printPeople(out, people) })}, nil
	}
}

func auditFlags(fs *flag.FlagSet) adminRun {
	account := fs.String("account", "", "records about or by this `LOGIN`")
	kind := fs.String("kind", "", "records whose kind starts with this `PREFIX`, e.g. login.")
	since := fs.String("since", "", "records on or after this date, `YYYY-MM-DD`")
	limit := fs.Int("limit", 50, "at most `N` records")
	return func(_ string, out io.Writer) (adminCall, error) {
		a := ctl.AuditArgs{Account: *account, Kind: *kind, Limit: *limit}
		if *since != "" {
			t, err := time.ParseInLocation(time.DateOnly, *since, time.Local)
			if err != nil {
				return adminCall{}, fmt.Errorf("--since: %w", err)
			}
			a.Since = t
		}
		return adminCall{op: ctl.OpAudit, args: a, print: printAs(func(recs []ctl.AuditRecord) { printAudit(out, recs) })}, nil
	}
}

// flagSet is the command's flag set: its own flags, then --config and
// --data. It returns the run function and the data directory's.
func (c adminCommand) flagSet(stderr io.Writer) (*flag.FlagSet, adminArgsRun, func() (string, error)) {
	fs := flag.NewFlagSet("admin "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	run := c.argsRun
	if c.flags != nil {
		login := c.flags(fs)
		run = func(args []string, out io.Writer) (adminCall, error) {
			if c.login {
				return login(args[0], out)
			}
			return login("", out)
		}
	}
	dataDir := dataFlags(fs)
	fs.Usage = func() { c.usage(stderr, fs) }
	return fs, run, dataDir
}

// nargs is how many arguments the command takes.
func (c adminCommand) nargs() int {
	switch {
	case c.args != nil:
		return len(c.args)
	case c.login:
		return 1
	}
	return 0
}

// synopsis is the command's usage line: its argument and its own flags
// (not --config and --data, which every command takes).
func (c adminCommand) synopsis() string {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
	}
	s := c.name
	if c.login {
		s += " LOGIN"
	}
	for _, a := range c.args {
		s += " " + a
	}
	fs.VisitAll(func(f *flag.Flag) {
		if arg, _ := flag.UnquoteUsage(f); arg != "" {
			s += fmt.Sprintf(" [--%s %s]", f.Name, arg)
		} else {
			s += fmt.Sprintf(" [--%s]", f.Name)
		}
	})
	return s
}

// usage prints the command's usage line, its help and every flag.
func (c adminCommand) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: caucus admin %s [--config FILE | --data DIR]\n\n%s\n\n", c.synopsis(), c.help)
	fs.PrintDefaults()
}

// adminHelp lists the commands from the table.
func adminHelp(w io.Writer) {
	fmt.Fprint(w, adminIntro)
	for _, c := range adminCommands() {
		fmt.Fprintf(w, "  %s\n        %s\n", c.synopsis(), c.help)
	}
	fmt.Fprint(w, "\nRun \"caucus admin help COMMAND\" for a command's flags.\n")
}

// adminCmd runs `caucus admin …`.
func adminCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		adminHelp(stderr)
		return errors.New("missing command")
	}
	cmds := adminCommands()
	find := func(name string) (adminCommand, bool) {
		i := slices.IndexFunc(cmds, func(c adminCommand) bool { return c.name == name })
		if i < 0 {
			return adminCommand{}, false
		}
		return cmds[i], true
	}
	switch args[0] {
	case "-h", "--help", "help":
		if len(args) > 1 {
			if c, ok := find(args[1]); ok {
				fs, _, _ := c.flagSet(stdout)
				c.usage(stdout, fs)
				return nil
			}
		}
		adminHelp(stdout)
		return nil
	}
	c, ok := find(args[0])
	if !ok {
		adminHelp(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	fs, run, dataDir := c.flagSet(stderr)
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	switch n := c.nargs(); {
	case c.login && len(pos) != 1:
		fs.Usage()
		return fmt.Errorf("%s takes one login", c.name)
	case n == 0 && len(pos) != 0:
		fs.Usage()
		return fmt.Errorf("%s takes no argument", c.name)
	case len(pos) != n:
		fs.Usage()
		return fmt.Errorf("%s takes %d arguments: %s", c.name, n, strings.Join(c.args, " "))
	}
	call, err := run(pos, stdout)
	if err != nil {
		return err
	}
	dir, err := dataDir()
	if err != nil {
		return err
	}
	return callServer(dir, call)
}

// callServer makes call over the running server's control socket in dir
// and prints its answer.
func callServer(dir string, call adminCall) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := ctl.Dial(ctx, dir)
	if err != nil {
		if errors.Is(err, ctl.ErrNotRunning) {
			return fmt.Errorf("%w\nstart it first (systemctl start caucus), or name its data directory with --data", err)
		}
		return err
	}
	defer c.Close()
	var raw json.RawMessage
	if err := c.Call(ctx, call.op, call.args, &raw); err != nil {
		return err
	}
	return call.print(raw)
}

// printReport prints an action's report and fails if a step failed.
func printReport(w io.Writer) func([]byte) error {
	return func(b []byte) error {
		var r admin.Report
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("unexpected answer from the server: %w", err)
		}
		fmt.Fprint(w, r.Text())
		if r.Failed() {
			return errors.New("some steps failed (see the report above)")
		}
		return nil
	}
}

// printAs decodes a result as T and prints it with fn.
func printAs[T any](fn func(T)) func([]byte) error {
	return func(b []byte) error {
		var v T
		if len(b) > 0 {
			if err := json.Unmarshal(b, &v); err != nil {
				return fmt.Errorf("unexpected answer from the server: %w", err)
			}
		}
		fn(v)
		return nil
	}
}

func printPeople(w io.Writer, people []ctl.Person) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOGIN\tNAME\tROLE\tSTATE\tFACTORS\tLAST SIGN-IN\tEXPIRES")
	for _, p := range people {
		last := "never"
		if !p.LastLogin.IsZero() {
			last = p.LastLogin.Local().Format(time.DateTime)
		}
		exp := p.LastDay // the last day in the party's zone, as given to invite

		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Login, p.Name, p.Role, p.State, strings.Join(p.Factors, ","), last, exp)
	}
	tw.Flush()
}

func printAudit(w io.Writer, recs []ctl.AuditRecord) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tACTOR\tSUBJECT\tKIND\tOUTCOME\tDETAIL")
	for _, r := range recs {
		actor := r.Actor
		if actor == "" {
			actor = "(system)"
		}
		outcome := r.Outcome
		if r.Reason != "" {
			outcome += " (" + r.Reason + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Time.Local().Format(time.DateTime), actor, r.Subject, r.Kind, outcome, r.Detail)
	}
	tw.Flush()
}

// auditCmd runs `caucus audit verify`: offline, on the database.
func auditCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, auditUsage)
		fs.PrintDefaults()
	}
	conf := configFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "verify" {
		fs.Usage()
		return errors.New("the only audit command is verify")
	}
	cfg, err := conf()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d, err := openDatabase(ctx, cfg, true) // never create an empty one
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := audit.New(d, time.Now, nil).Verify(ctx)
	if be, ok := errors.AsType[*audit.BrokenError](err); ok {
		return fmt.Errorf("audit chain BROKEN at record %d: %s (%d records before it verified)", be.ID, be.Reason, n)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit chain intact: %d records verified\n", n)
	return nil
}
