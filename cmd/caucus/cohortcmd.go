package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/admin/ctl"
)

// cohortFlags is `caucus admin cohort`: invite a cohort of volunteers
// from a list, as the console's cohorts page does.
func cohortFlags(fs *flag.FlagSet) adminRun {
	name := fs.String("name", "", "the cohort's `NAME`, e.g. \"Canvassing, spring\"")
	sponsor := fs.String("sponsor", "", "the `LOGIN` of the member who answers for the volunteers (mailed before the end; gets their files)")
	lastDay := fs.String("last-day", "", "the volunteers' last day of access, `YYYY-MM-DD`")
	groups := fs.String("groups", "", "the `GROUPS` every volunteer joins, separated by commas")
	file := fs.String("file", "", "the list `FILE` (- for standard input): one volunteer a line, address[, name[, personal address to mail the invite to]]")
	return func(_ string, out io.Writer) (adminCall, error) {
		if *file == "" || *name == "" || *sponsor == "" || *lastDay == "" {
			return adminCall{}, errors.New("--name, --sponsor, --last-day and --file are required")
		}
		people, err := readList(*file)
		if err != nil {
			return adminCall{}, err
		}
		a := ctl.CohortArgs{Name: *name, Sponsor: *sponsor, LastDay: *lastDay, People: people}
		for g := range strings.SplitSeq(*groups, ",") {
			if g = strings.TrimSpace(g); g != "" {
				a.Groups = append(a.Groups, g)
			}
		}
		return adminCall{op: ctl.OpCohortCreate, args: a, print: printAs(func(r ctl.CohortCreated) {
			fmt.Fprintf(out, "cohort %d %q: %d volunteers, sponsor %s, last day %s\n", r.Cohort.ID, r.Cohort.Name, len(r.Invites), r.Cohort.Sponsor, r.Cohort.LastDay)
			for _, in := range r.Invites {
				switch {
				case in.Mailed:
					fmt.Fprintf(out, "%s  %s  (mailed)\n", in.Login, in.Link)
				case in.MailErr != "":
					fmt.Fprintf(out, "%s  %s  (NOT mailed: %s)\n", in.Login, in.Link, in.MailErr)
				default:
					fmt.Fprintf(out, "%s  %s\n", in.Login, in.Link)
				}
			}
		})}, nil
	}
}

// readList reads a cohort's list from name, or standard input for "-",
// up to the most a cohort may hold.
func readList(name string) (string, error) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, admin.MaxCohortListBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > admin.MaxCohortListBytes {
		return "", fmt.Errorf("%s: over %d KB", name, admin.MaxCohortListBytes>>10)
	}
	return string(b), nil
}

func cohortsFlags(*flag.FlagSet) adminRun {
	return func(_ string, out io.Writer) (adminCall, error) {
		return adminCall{op: ctl.OpCohortList, print: printAs(func(cs []ctl.CohortInfo) {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSPONSOR\tVOLUNTEERS\tLAST DAY\tENDED")
			for _, c := range cs {
				ended := ""
				if !c.Ended.IsZero() {
					ended = c.Ended.Local().Format(time.DateTime) + fmt.Sprintf(" (report %d)", c.Report)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", c.ID, c.Name, c.Sponsor, len(c.Volunteers), c.LastDay, ended)
			}
			tw.Flush()
		})}, nil
	}
}

func cohortExtendFlags(fs *flag.FlagSet) adminRun {
	id := fs.Int64("id", 0, "the cohort's `ID` (caucus admin cohorts)")
	lastDay := fs.String("last-day", "", "the new last day of access, `YYYY-MM-DD`")
	return func(_ string, out io.Writer) (adminCall, error) {
		if *id <= 0 || *lastDay == "" {
			return adminCall{}, errors.New("--id and --last-day are required")
		}
		return adminCall{op: ctl.OpCohortExtend, args: ctl.CohortIDArgs{ID: *id, LastDay: *lastDay}, print: printAs(func(c ctl.CohortInfo) {
			fmt.Fprintf(out, "cohort %d %q: %d volunteers, last day now %s\n", c.ID, c.Name, len(c.Volunteers), c.LastDay)
		})}, nil
	}
}

func cohortEndFlags(fs *flag.FlagSet) adminRun {
	id := fs.Int64("id", 0, "the cohort's `ID` (caucus admin cohorts)")
	return func(_ string, out io.Writer) (adminCall, error) {
		if *id <= 0 {
			return adminCall{}, errors.New("--id is required")
		}
		return adminCall{op: ctl.OpCohortEnd, args: ctl.CohortIDArgs{ID: *id}, print: printReport(out)}, nil
	}
}
