package route

import (
	"context"
	"errors"
	"fmt"
)

// Freeze says whether incident mode is on: while it is, mail is not
// forwarded outside the party and no new forward to the outside is set
// (admin.Freeze, which reads the console's incident switch).
type Freeze interface {
	Frozen(ctx context.Context) (bool, error)
}

// ErrFrozen is a forward to an outside address asked for during incident
// mode.
var ErrFrozen = errors.New("route: incident mode: mail is not forwarded outside the party")

// SetFreeze makes d follow f's incident switch. The server calls it once,
// before it serves; without it nothing is frozen.
func (d *Directory) SetFreeze(f Freeze) { d.freeze.Store(&f) }

// frozen reports whether incident mode is on. An error (the switch cannot
// be read) is returned as such: the caller refuses rather than forward.
func (d *Directory) frozen(ctx context.Context) (bool, error) {
	f := d.freeze.Load()
	if f == nil {
		return false, nil
	}
	on, err := (*f).Frozen(ctx)
	if err != nil {
		return false, fmt.Errorf("route: incident switch: %w", err)
	}
	return on, nil
}
