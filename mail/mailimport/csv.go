package mailimport

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// Bounds on a bulk-start CSV.
const (
	maxCSVBytes = 1 << 20
	maxCSVRows  = 10000
)

// CSVRow is one member of a bulk start: "address, source server, source
// login, source app password" (RFC 4180), the server as host or
// host:port (993, implicit TLS, when no port).
type CSVRow struct {
	Line        int
	Login       string // the caucus member's address
	Addr        string
	SourceLogin string
	Password    Secret
}

// ParseCSV reads a bulk-start CSV. A first row whose first field is not
// an address is taken as a header and skipped; empty lines are skipped.
// An error names the line.
func ParseCSV(r io.Reader) ([]CSVRow, error) {
	cr := csv.NewReader(io.LimitReader(r, maxCSVBytes+1))
	cr.FieldsPerRecord = 4
	cr.TrimLeadingSpace = true
	var out []CSVRow
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: CSV: %w", ErrBadSource, err)
		}
		line, _ := cr.FieldPos(0)
		if first && !strings.Contains(rec[0], "@") {
			continue // a header
		}
		row, err := csvRow(rec)
		if err != nil {
			return nil, fmt.Errorf("%w: CSV line %d: %w", ErrBadSource, line, err)
		}
		row.Line = line
		if len(out) == maxCSVRows {
			return nil, fmt.Errorf("%w: CSV: more than %d rows", ErrBadSource, maxCSVRows)
		}
		out = append(out, row)
	}
	if off := cr.InputOffset(); off > maxCSVBytes {
		return nil, fmt.Errorf("%w: CSV: larger than %d bytes", ErrBadSource, maxCSVBytes)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: CSV: no member in it", ErrBadSource)
	}
	return out, nil
}

// csvRow checks one record.
func csvRow(rec []string) (CSVRow, error) {
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
	}
	row := CSVRow{Login: rec[0], Addr: rec[1], SourceLogin: rec[2], Password: Secret(rec[3])}
	if !strings.Contains(row.Login, "@") || row.SourceLogin == "" || row.Password == "" {
		return row, errors.New("address, source login and password are required")
	}
	if _, _, err := net.SplitHostPort(row.Addr); err != nil {
		row.Addr = net.JoinHostPort(row.Addr, "993")
	}
	host, _, err := net.SplitHostPort(row.Addr)
	if err != nil || host == "" || strings.ContainsAny(host, " /@") {
		return row, fmt.Errorf("bad server %q", rec[1])
	}
	return row, nil
}

// CSVResult is the outcome of one row of a bulk start.
type CSVResult struct {
	Line  int    `json:"line"`
	Login string `json:"login"`
	Job   int64  `json:"job,omitempty"`
	Err   string `json:"error,omitempty"`
}

// StartCSV starts one IMAP job per row; a row that cannot start (an
// unknown member) is reported and the others start.
func (im *Importer) StartCSV(ctx context.Context, actor string, rows []CSVRow, account func(ctx context.Context, login string) (int64, error)) []CSVResult {
	out := make([]CSVResult, 0, len(rows))
	for _, row := range rows {
		res := CSVResult{Line: row.Line, Login: row.Login}
		id, err := account(ctx, row.Login)
		if err == nil {
			res.Job, err = im.Start(ctx, Request{AccountID: id, Actor: actor, Subject: row.Login, Source: SourceSpec{
				Kind: KindIMAP, Addr: row.Addr, Security: TLSImplicit, Login: row.SourceLogin, Password: row.Password}})
		}
		if err != nil {
			res.Err = sanitizeText(err.Error())
		}
		out = append(out, res)
	}
	return out
}
