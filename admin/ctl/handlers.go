package ctl

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/caucus-org/caucus/internal/audit"
)

// decode reads a call's arguments into v; no arguments leave v as it is.
func decode(c Call, v any) error {
	if len(c.Args) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.Args, v); err != nil {
		return fmt.Errorf("%w: arguments: %w", ErrBadRequest, err)
	}
	return nil
}

// AuditHandler lists audit records, newest first.
func AuditHandler(log *audit.Log) Handler {
	return func(ctx context.Context, c Call) (any, error) {
		var a AuditArgs
		if err := decode(c, &a); err != nil {
			return nil, err
		}
		switch {
		case a.Limit <= 0:
			a.Limit = audit.DefaultLimit
		case a.Limit > audit.MaxLimit:
			a.Limit = audit.MaxLimit
		}
		recs, err := log.List(ctx, audit.Filter{Account: a.Account, Kind: a.Kind, Since: a.Since, Limit: a.Limit})
		if err != nil {
			return nil, err
		}
		out := make([]AuditRecord, 0, len(recs))
		for _, r := range recs {
			out = append(out, AuditRecord{ID: r.ID, Time: r.Time, Actor: r.Actor, Subject: r.Subject, Kind: r.Kind,
				Outcome: r.Outcome, Reason: r.Reason, Detail: r.Detail, Addr: r.Addr})
		}
		return out, nil
	}
}
