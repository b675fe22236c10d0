package ctl

import (
	"fmt"
	"net"
	"os/user"
	"strconv"
	"syscall"
)

// peerCred is who is at the other end of a Unix socket.
type peerCred struct {
	uid  uint32
	name string // "" if the uid has no user name
}

// actor is how the audit log names the peer.
func (p peerCred) actor() string {
	if p.name != "" {
		return "cli:" + p.name
	}
	return "cli:uid=" + strconv.FormatUint(uint64(p.uid), 10)
}

// peerCredentials reads the peer's credentials (SO_PEERCRED, unix(7)):
// those of the process that connected, as the kernel saw them.
func peerCredentials(c *net.UnixConn) (peerCred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return peerCred{}, err
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return peerCred{}, err
	}
	if serr != nil {
		return peerCred{}, fmt.Errorf("ctl: SO_PEERCRED: %w", serr)
	}
	p := peerCred{uid: cred.Uid}
	if u, err := user.LookupId(strconv.FormatUint(uint64(cred.Uid), 10)); err == nil {
		p.name = u.Username
	}
	return p, nil
}
