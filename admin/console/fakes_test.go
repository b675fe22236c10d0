package console

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	adminops "github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
)

// recFiles stands in for the file store: it records each call (as the
// operations' own tests in package admin do).
type recFiles struct {
	mu    sync.Mutex
	calls []string
}

var _ adminops.Files = (*recFiles)(nil)

func (f *recFiles) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *recFiles) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *recFiles) TransferOwnership(_ context.Context, actor string, from, to int64, links files.LinkDisposition) (files.TransferReport, error) {
	word := map[files.LinkDisposition]string{files.LinksMove: "move", files.LinksRevoke: "revoke"}[links]
	f.add("transfer %s %d->%d links=%s", actor, from, to, word)
	return files.TransferReport{Files: 3, Bytes: 1234, LinksMoved: 1}, nil
}

func (f *recFiles) RevokeLinksOf(_ context.Context, actor string, id int64) (int, error) {
	f.add("revoke-links %s %d", actor, id)
	return 2, nil
}

func (f *recFiles) SuspendPublicLinks(_ context.Context, actor string) (int, error) {
	f.add("suspend-links %s", actor)
	return 5, nil
}

func (f *recFiles) ResumePublicLinks(_ context.Context, actor string) (int, error) {
	f.add("resume-links %s", actor)
	return 5, nil
}

func (f *recFiles) Usage(context.Context, int64) (int64, int64, error) { return 10, 100, nil }

// cut checks that a live connection was closed by revocation. Revocation
// cancels the context synchronously, so it is done by now.
func cut(t *testing.T, what string, ctx context.Context) {
	t.Helper()
	if ctx.Err() == nil || !errors.Is(context.Cause(ctx), auth.ErrRevoked) {
		t.Errorf("%s: live connection still open (cause %v)", what, context.Cause(ctx))
	}
}

func (f *recFiles) HandOverGroup(_ context.Context, actor string, groupID int64, name string, to int64) (files.GroupHandover, error) {
	f.add("hand-over-group %s %d %s->%d", actor, groupID, name, to)
	return files.GroupHandover{}, nil
}
