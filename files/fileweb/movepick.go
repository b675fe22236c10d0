package fileweb

import (
	"context"
	"errors"
	"strings"

	"github.com/caucus-org/caucus/files"
)

// Bounds of the Move form's folder picker: it walks the viewer's tree
// down to maxPickDepth levels and offers at most maxPickFolders folders
// (a bigger tree is cut, deepest last; the path field is not needed).
const (
	maxPickDepth   = 8
	maxPickFolders = 500
)

// folderChoice is one destination the Move form offers.
type folderChoice struct {
	Path     string // view path, the form's value
	Label    string // the path, segments separated by " / "
	Selected bool   // the item's current folder
}

// moveChoices walks the folders a may write to, from the top of its view
// (Home, its groups' folders, folders shared with it for writing), depth
// first, and returns them as Move destinations for the item at view path
// item: never the item itself or a folder inside it.
func (h *Handler) moveChoices(ctx context.Context, a files.Actor, item string) ([]folderChoice, error) {
	var out []folderChoice
	var walk func(path string, depth int) error
	walk = func(path string, depth int) error {
		list, err := h.store.List(ctx, a, "/"+path)
		if errors.Is(err, files.ErrNotFound) || errors.Is(err, files.ErrForbidden) {
			return nil // gone or closed meanwhile: nothing to offer there
		} else if err != nil {
			return err
		}
		for _, n := range list {
			p := viewPath(n)
			if !n.Dir || p == item || strings.HasPrefix(p, item+"/") || len(out) >= maxPickFolders {
				continue
			}
			if n.Writable && !n.Virtual {
				out = append(out, folderChoice{Path: p, Label: strings.ReplaceAll(p, "/", " / "), Selected: p == parentPath(item)})
			}
			if depth < maxPickDepth {
				if err := walk(p, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk("", 0)
}
