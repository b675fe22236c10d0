package mailimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Operations of the admin control socket for `caucus admin import …`,
// in the style of admin/ctl: JSON arguments in, a JSON result out, the
// actor named by the socket ("cli:<unix user>").
const (
	OpImportStart  = "import-start"
	OpImportList   = "import-list"
	OpImportReport = "import-report"
	OpImportCancel = "import-cancel"
	OpImportCSV    = "import-csv"
)

// CtlCSVArgs starts one IMAP job per row of a CSV (see [ParseCSV]); the
// CLI sends the file's content.
type CtlCSVArgs struct {
	CSV string `json:"csv"`
}

// CtlStartArgs starts a job for one member. The password travels over
// the local control socket only; the CLI reads it from a file or from
// standard input, never from its command line.
type CtlStartArgs struct {
	Login       string   `json:"login"` // the caucus member
	Kind        string   `json:"kind"`  // imap, mbox, maildir, takeout
	Addr        string   `json:"addr,omitempty"`
	Security    string   `json:"security,omitempty"`
	SourceLogin string   `json:"source_login,omitempty"`
	Password    string   `json:"password,omitempty"`
	Paths       []string `json:"paths,omitempty"` // files on the server
	MboxO       bool     `json:"mboxo,omitempty"`
}

// CtlStartResult names the new job.
type CtlStartResult struct {
	Job int64 `json:"job"`
}

// CtlJobArgs names a job, or a member's jobs (for the list).
type CtlJobArgs struct {
	Job   int64  `json:"job,omitempty"`
	Login string `json:"login,omitempty"`
}

// CtlReportResult is a job's report, also as text.
type CtlReportResult struct {
	Report Report `json:"report"`
	Text   string `json:"text"`
}

// CtlHandler performs one control-socket operation.
type CtlHandler func(ctx context.Context, actor string, args json.RawMessage) (any, error)

// CtlHandlers returns the control-socket operations. account resolves
// a member's login to the account id (auth's lookup).
//
// Wiring (admin/ctl, not done here): for each name and h, register
// ctl.Handler func(ctx, c ctl.Call) (any, error) { return h(ctx, c.Actor, c.Args) }.
func (im *Importer) CtlHandlers(account func(ctx context.Context, login string) (int64, error)) map[string]CtlHandler {
	return map[string]CtlHandler{
		OpImportStart: func(ctx context.Context, actor string, raw json.RawMessage) (any, error) {
			var a CtlStartArgs
			if err := decodeArgs(raw, &a); err != nil {
				return nil, err
			}
			id, err := account(ctx, a.Login)
			if err != nil {
				return nil, err
			}
			job, err := im.Start(ctx, Request{AccountID: id, Actor: actor, Subject: a.Login, Source: SourceSpec{
				Kind: a.Kind, Addr: a.Addr, Security: a.Security, Login: a.SourceLogin, Password: Secret(a.Password),
				Paths: a.Paths, MboxO: a.MboxO}})
			return CtlStartResult{Job: job}, err
		},
		OpImportList: func(ctx context.Context, actor string, raw json.RawMessage) (any, error) {
			var a CtlJobArgs
			if err := decodeArgs(raw, &a); err != nil {
				return nil, err
			}
			var id int64
			if a.Login != "" {
				var err error
				if id, err = account(ctx, a.Login); err != nil {
					return nil, err
				}
			}
			return im.Jobs(ctx, id)
		},
		OpImportReport: func(ctx context.Context, actor string, raw json.RawMessage) (any, error) {
			var a CtlJobArgs
			if err := decodeArgs(raw, &a); err != nil {
				return nil, err
			}
			rep, err := im.Report(ctx, a.Job)
			if err != nil {
				return nil, err
			}
			var b strings.Builder
			rep.WriteText(&b)
			return CtlReportResult{Report: rep, Text: b.String()}, nil
		},
		OpImportCSV: func(ctx context.Context, actor string, raw json.RawMessage) (any, error) {
			var a CtlCSVArgs
			if err := decodeArgs(raw, &a); err != nil {
				return nil, err
			}
			rows, err := ParseCSV(strings.NewReader(a.CSV))
			if err != nil {
				return nil, err
			}
			return im.StartCSV(ctx, actor, rows, account), nil
		},
		OpImportCancel: func(ctx context.Context, actor string, raw json.RawMessage) (any, error) {
			var a CtlJobArgs
			if err := decodeArgs(raw, &a); err != nil {
				return nil, err
			}
			return struct{}{}, im.Cancel(ctx, a.Job, actor)
		},
	}
}

// errArgs reports arguments that do not decode.
var errArgs = errors.New("mailimport: invalid arguments")

// decodeArgs decodes JSON arguments strictly.
func decodeArgs(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", errArgs, err)
	}
	return nil
}
