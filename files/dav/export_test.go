package dav

// SetRevokedHook has f run first whenever a request's context ends, before
// the handler reacts to it.
func SetRevokedHook(h *Handler, f func()) { h.revoked = f }
