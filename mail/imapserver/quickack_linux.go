package imapserver

import "syscall"

// setQuickAck turns TCP_QUICKACK on (tcp(7)): an acknowledgement the
// kernel holds back for data already read leaves now. It is not
// permanent: the kernel turns it off again when the exchange looks
// interactive.
func setQuickAck(raw syscall.RawConn) {
	raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1) // best effort
	})
}
