package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/caucus-org/caucus/admin/ctl"
	"github.com/caucus-org/caucus/auth"
)

// ctlHandler is `caucus admin group diary`: the same switch as the
// console's groups page (GroupDiaries.SetReadOnly), which the calendar
// store records in the audit log as calendar.group with the CLI's actor
// ("cli:<unix user>").
func (d groupDiaries) ctlHandler(groups interface {
	Groups(ctx context.Context) ([]auth.Group, error)
}) ctl.Handler {
	return func(ctx context.Context, c ctl.Call) (any, error) {
		var a ctl.GroupDiaryArgs
		if err := json.Unmarshal(c.Args, &a); err != nil {
			return nil, fmt.Errorf("%w: arguments: %w", ctl.ErrBadRequest, err)
		}
		gs, err := groups.Groups(ctx)
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			if g.Name != a.Group {
				continue
			}
			was, err := d.ReadOnly(ctx, g)
			if err != nil {
				return nil, err
			}
			if err := d.SetReadOnly(ctx, c.Actor, g, a.ReadOnly); err != nil {
				return nil, err
			}
			return ctl.GroupDiaryResult{Group: g.Name, Was: was, ReadOnly: a.ReadOnly}, nil
		}
		return nil, fmt.Errorf("no group %q", a.Group)
	}
}
