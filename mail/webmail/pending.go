package webmail

import (
	"context"
	"net/http"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/store"
)

// Reading a message's body and parts is mail/msgview's (MIME parsing,
// the sanitizer); until it is merged these answer 404.

func (h *Handler) read(w http.ResponseWriter, r *http.Request, sess auth.Session)  { h.notFound(w, r) }
func (h *Handler) frame(w http.ResponseWriter, r *http.Request, sess auth.Session) { h.notFound(w, r) }
func (h *Handler) part(w http.ResponseWriter, r *http.Request, sess auth.Session)  { h.notFound(w, r) }

func (h *Handler) keptAttachments(ctx context.Context, sess auth.Session, from string, ids []string) ([]attachment, error) {
	if len(ids) > 0 {
		return nil, errCompose("Attachments of saved messages cannot be kept yet.")
	}
	return nil, nil
}

func (h *Handler) keptOf(ctx context.Context, sess auth.Session, rf ref) []keptView { return nil }

func (h *Handler) bodyText(ctx context.Context, m store.Message) string { return "" }
