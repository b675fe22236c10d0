//go:build !linux

package imapserver

import "syscall"

// setQuickAck does nothing where TCP_QUICKACK does not exist.
func setQuickAck(syscall.RawConn) {}
