package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/admin/ctl"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
)

const adminUsage = `Usage: caucus admin COMMAND [flags] [--config FILE | --data DIR]

Talks to the running server over its control socket (ctl.sock in the data
directory), so that actions take effect at once, live connections included.
Run it as the caucus service user (or root).

  invite LOGIN [--name N] [--role member|admin] [--groups a,b] [--expires YYYY-MM-DD] [--mail-to ADDR]
                       invite a person; prints the single-use enrolment link
  offboard LOGIN [--successor LOGIN] [--links move|revoke] [--forward] [--auto-reply TEXT]
                 [--mail-access] [--retain-days N] [--export] [--dry-run]
                       revoke everything, close live connections, hand over; prints the report
  suspend LOGIN        revoke everything and close live connections (reversible)
  resume LOGIN         let a suspended person sign in again
  list                 the people, their factors and state
  audit [--account LOGIN] [--kind PREFIX] [--since YYYY-MM-DD] [--limit N]
                       the newest audit records
`

const auditUsage = `Usage: caucus audit verify [--config FILE | --data DIR]

Checks the audit log's hash chain in the database (the server may be running
or not). Exits 1 and names the first bad record when the chain is broken.
`

// adminCmd runs `caucus admin …`.
func adminCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, adminUsage)
		return errors.New("missing command")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, adminUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("admin "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, adminUsage)
	}
	dataDir := dataFlags(fs)
	var op string
	var req any
	var print func(result []byte) error
	var (
		name, role, groups, expires, mailTo *string
		successor, autoReply, links         *string
		forward, mailAccess, export, dryRun *bool
		retainDays, limit                   *int
		account, kind, since                *string
	)
	switch sub {
	case "invite":
		name = fs.String("name", "", "display name")
		role = fs.String("role", "member", "member or admin")
		groups = fs.String("groups", "", "comma-separated groups")
		expires = fs.String("expires", "", "account expiry date, YYYY-MM-DD")
		mailTo = fs.String("mail-to", "", "also mail the link to this personal address")
	case "offboard":
		successor = fs.String("successor", "", "who takes over files and mail")
		links = fs.String("links", "move", "the person's shares and links: move (to the successor) or revoke")
		forward = fs.Bool("forward", false, "forward mail to the successor")
		autoReply = fs.String("auto-reply", "", "answer mail to the address with this text")
		mailAccess = fs.Bool("mail-access", false, "give the successor a copy of the mailbox to read")
		retainDays = fs.Int("retain-days", 0, "keep the mailbox this many days (0: the default, 90)")
		export = fs.Bool("export", false, "write the mailbox as an mbox file in the data directory before deleting it")
		dryRun = fs.Bool("dry-run", false, "only show what would happen")
	case "audit":
		account = fs.String("account", "", "records about or by this login")
		kind = fs.String("kind", "", "records whose kind starts with this, e.g. login.")
		since = fs.String("since", "", "records on or after this date, YYYY-MM-DD")
		limit = fs.Int("limit", 50, "at most this many records")
	case "suspend", "resume", "list":
	default:
		fmt.Fprint(stderr, adminUsage)
		return fmt.Errorf("unknown command %q", sub)
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	wantLogin := sub != "list" && sub != "audit"
	if wantLogin && len(pos) != 1 || !wantLogin && len(pos) != 0 {
		fs.Usage()
		if wantLogin {
			return fmt.Errorf("%s takes one login", sub)
		}
		return fmt.Errorf("%s takes no argument", sub)
	}
	switch sub {
	case "invite":
		a := ctl.InviteArgs{Login: pos[0], Name: *name, Role: *role, Expires: *expires, MailTo: *mailTo}
		for g := range strings.SplitSeq(*groups, ",") {
			if g = strings.TrimSpace(g); g != "" {
				a.Groups = append(a.Groups, g)
			}
		}
		op, req = ctl.OpInvite, a
		print = printAs(func(r ctl.InviteResult) {
			fmt.Fprintf(stdout, "invited %s; enrolment link (single use, valid until %s):\n%s\n", pos[0], r.Expires.Local().Format(time.DateTime), r.Link)
			switch {
			case r.Mailed:
				fmt.Fprintf(stdout, "the link was mailed to %s\n", *mailTo)
			case r.MailErr != "":
				fmt.Fprintf(stdout, "the link could NOT be mailed (%s): pass it on yourself\n", r.MailErr)
			}
		})
	case "offboard":
		op, req = ctl.OpOffboard, ctl.OffboardArgs{Login: pos[0], Successor: *successor, Links: *links, Forward: *forward, AutoReply: *autoReply,
			MailAccess: *mailAccess, RetainDays: *retainDays, Export: *export, DryRun: *dryRun}
		print = printReport(stdout)
	case "suspend", "resume":
		op, req = sub, ctl.AccountArgs{Login: pos[0]}
		print = printReport(stdout)
	case "list":
		op = ctl.OpList
		print = printAs(func(people []ctl.Person) { printPeople(stdout, people) })
	case "audit":
		a := ctl.AuditArgs{Account: *account, Kind: *kind, Limit: *limit}
		if *since != "" {
			t, err := time.ParseInLocation(time.DateOnly, *since, time.Local)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			a.Since = t
		}
		op, req = ctl.OpAudit, a
		print = printAs(func(recs []ctl.AuditRecord) { printAudit(stdout, recs) })
	}

	dir, err := dataDir()
	if err != nil {
		return err
	}
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
	if err := c.Call(ctx, op, req, &raw); err != nil {
		return err
	}
	return print(raw)
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
		last, exp := "never", ""
		if !p.LastLogin.IsZero() {
			last = p.LastLogin.Local().Format(time.DateTime)
		}
		if !p.Expires.IsZero() {
			exp = p.Expires.Local().Format(time.DateOnly)
		}
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
	dataDir := dataFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "verify" {
		fs.Usage()
		return errors.New("the only audit command is verify")
	}
	dir, err := dataDir()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "caucus.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no database: %w", err) // never create an empty one
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d, err := db.Open(ctx, path, nil)
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
