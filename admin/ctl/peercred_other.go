//go:build !linux

package ctl

import (
	"errors"
	"net"
	"strconv"
)

type peerCred struct {
	uid  uint32
	name string
}

func (p peerCred) actor() string { return "cli:uid=" + strconv.FormatUint(uint64(p.uid), 10) }

// peerCredentials is implemented for Linux only (SO_PEERCRED); elsewhere
// every peer is refused.
func peerCredentials(*net.UnixConn) (peerCred, error) {
	return peerCred{}, errors.New("ctl: peer credentials are only read on Linux")
}
