package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/caucus-org/caucus/admin/ctl"
)

// The role mailbox commands of `caucus admin` (admin/ctl's roles.go).

func rolesFlags(*flag.FlagSet) adminRun {
	return func(_ string, out io.Writer) (adminCall, error) {
		return adminCall{op: ctl.OpRoles, print: printAs(func(rows []ctl.RoleRow) { printRoles(out, rows) })}, nil
	}
}

func roleCreateFlags(fs *flag.FlagSet) adminRun {
	name := fs.String("name", "", "the `NAME` people see, e.g. \"Press office\"")
	return func(address string, out io.Writer) (adminCall, error) {
		return adminCall{op: ctl.OpRoleCreate, args: ctl.RoleArgs{Address: address, Name: *name}, print: printAs(func(r ctl.RoleRow) {
			fmt.Fprintf(out, "role mailbox %s made; grant access with: caucus admin role-grant LOGIN --role %s\n", r.Address, r.Address)
		})}, nil
	}
}

func roleGrantFlags(op string) func(fs *flag.FlagSet) adminRun {
	return func(fs *flag.FlagSet) adminRun {
		role := fs.String("role", "", "the role mailbox's `ADDRESS`")
		var sendAs *bool
		if op == ctl.OpRoleGrant {
			sendAs = fs.Bool("send-as", false, "may also send as the role's address")
		}
		return func(login string, out io.Writer) (adminCall, error) {
			if *role == "" {
				return adminCall{}, fmt.Errorf("--role is required")
			}
			a := ctl.RoleArgs{Address: *role, Login: login}
			if sendAs != nil {
				a.SendAs = *sendAs
			}
			return adminCall{op: op, args: a, print: printAs(func(r ctl.RoleRow) {
				if op == ctl.OpRoleGrant {
					fmt.Fprintf(out, "%s may now use %s\n", login, r.Address)
				} else {
					fmt.Fprintf(out, "%s no longer has access to %s\n", login, r.Address)
				}
			})}, nil
		}
	}
}

// printRoles writes the role mailboxes and their grants as a table.
func printRoles(w io.Writer, rows []ctl.RoleRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tMEMBER\tACCESS\tGIVEN BY\tSINCE")
	for _, r := range rows {
		if len(r.Grants) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\n", r.Address)
		}
		for _, g := range r.Grants {
			access := "read"
			if g.SendAs {
				access = "read+send-as"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Address, g.Login, access, g.GrantedBy, g.GrantedAt.Local().Format(time.DateOnly))
		}
	}
	tw.Flush()
}
