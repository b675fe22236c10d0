package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caucus-org/caucus/mail/mailimport"
)

// The `caucus admin import…` commands: moving members' mail in from
// another provider, as durable jobs of the running server
// (mail/mailimport).

func importFlags(fs *flag.FlagSet) adminRun {
	imap := fs.String("imap", "", "copy from this IMAP server, `HOST:PORT` (TLS; e.g. imap.gmail.com:993)")
	starttls := fs.Bool("starttls", false, "the IMAP server wants STARTTLS (port 143) instead of TLS from the start")
	srcLogin := fs.String("source-login", "", "the `LOGIN` at the IMAP server")
	pwFile := fs.String("password-file", "", "read the IMAP server's (app) password from `FILE` (- for standard input); never on the command line")
	mbox := fs.String("mbox", "", "import these mbox `FILES` on the server, separated by commas (Google Takeout's \"All mail\" mbox keeps its labels)")
	mboxo := fs.Bool("mboxo", false, "the mbox files are mboxo (\">From \" lines not escaped), not mboxrd")
	maildir := fs.String("maildir", "", "import this Maildir `DIR` on the server (Maildir++ folders included)")
	takeout := fs.String("takeout", "", "import these Google Takeout archives (`FILES` on the server, .zip, .tgz or .tbz, separated by commas: every part of a split Takeout): mail, Drive into the member's files, calendars and contacts")
	return func(login string, out io.Writer) (adminCall, error) {
		a := mailimport.CtlStartArgs{Login: login, MboxO: *mboxo}
		sources := 0
		for _, s := range []string{*imap, *mbox, *maildir, *takeout} {
			if s != "" {
				sources++
			}
		}
		switch {
		case sources != 1:
			return adminCall{}, errors.New("say where the mail comes from: one of --imap, --mbox, --maildir or --takeout")
		case *imap != "":
			a.Kind, a.Addr, a.SourceLogin = "imap", *imap, *srcLogin
			a.Security = mailimport.TLSImplicit
			if *starttls {
				a.Security = mailimport.TLSStart
			}
			pw, err := readPassword(*pwFile)
			if err != nil {
				return adminCall{}, err
			}
			a.Password = pw
		case *mbox != "":
			a.Kind = "mbox"
			for p := range strings.SplitSeq(*mbox, ",") {
				if p = strings.TrimSpace(p); p != "" {
					a.Paths = append(a.Paths, p)
				}
			}
		case *maildir != "":
			a.Kind, a.Paths = "maildir", []string{*maildir}
		default:
			a.Kind = mailimport.KindTakeout
			for p := range strings.SplitSeq(*takeout, ",") {
				if p = strings.TrimSpace(p); p != "" {
					// The server reads them, from its own directory.
					abs, err := filepath.Abs(p)
					if err != nil {
						return adminCall{}, err
					}
					a.Paths = append(a.Paths, abs)
				}
			}
		}
		return adminCall{op: mailimport.OpImportStart, args: a, print: printAs(func(r mailimport.CtlStartResult) {
			fmt.Fprintf(out, "import job %d started for %s; follow it with: caucus admin import-report --job %d\n", r.Job, login, r.Job)
		})}, nil
	}
}

// readPassword reads a password from a file, or standard input for "-",
// without its line end.
func readPassword(name string) (string, error) {
	var b []byte
	var err error
	switch name {
	case "":
		return "", errors.New("--password-file is required with --imap (use - to type it on standard input)")
	case "-":
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 4096))
	default:
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func importCSVFlags(fs *flag.FlagSet) adminRun {
	file := fs.String("file", "", "the CSV `FILE`: address, server, source login, app password (one member a row; a header row is fine)")
	return func(_ string, out io.Writer) (adminCall, error) {
		if *file == "" {
			return adminCall{}, errors.New("--file is required")
		}
		b, err := os.ReadFile(*file)
		if err != nil {
			return adminCall{}, err
		}
		return adminCall{op: mailimport.OpImportCSV, args: mailimport.CtlCSVArgs{CSV: string(b)}, print: printAs(func(rs []mailimport.CSVResult) {
			for _, r := range rs {
				if r.Err != "" {
					fmt.Fprintf(out, "line %d, %s: NOT started: %s\n", r.Line, r.Login, r.Err)
				} else {
					fmt.Fprintf(out, "line %d, %s: job %d started\n", r.Line, r.Login, r.Job)
				}
			}
		})}, nil
	}
}

func importsFlags(fs *flag.FlagSet) adminRun {
	login := fs.String("login", "", "only this member's jobs (`LOGIN`)")
	return func(_ string, out io.Writer) (adminCall, error) {
		return adminCall{op: mailimport.OpImportList, args: mailimport.CtlJobArgs{Login: *login}, print: printAs(func(jobs []mailimport.Job) {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tMEMBER\tFROM\tSTATE\tSTARTED\tNOTE")
			for _, j := range jobs {
				fmt.Fprintf(tw, "%d\t%s\t%s %s\t%s\t%s\t%s\n", j.ID, j.Login, j.Kind, j.Source, j.State, j.Created.Local().Format(time.DateTime), j.Message)
			}
			tw.Flush()
		})}, nil
	}
}

// importJobFlags is a command about one job: its report, or cancelling it.
func importJobFlags(op string) func(*flag.FlagSet) adminRun {
	return func(fs *flag.FlagSet) adminRun {
		job := fs.Int64("job", 0, "the import job's number (`N`, from caucus admin imports)")
		return func(_ string, out io.Writer) (adminCall, error) {
			if *job <= 0 {
				return adminCall{}, errors.New("--job is required")
			}
			a := mailimport.CtlJobArgs{Job: *job}
			if op == mailimport.OpImportCancel {
				return adminCall{op: op, args: a, print: func([]byte) error {
					_, err := fmt.Fprintf(out, "import job %d cancelled\n", *job)
					return err
				}}, nil
			}
			return adminCall{op: op, args: a, print: printAs(func(r mailimport.CtlReportResult) { io.WriteString(out, r.Text) })}, nil
		}
	}
}
