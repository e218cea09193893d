//go:build unix

package transport

import "golang.org/x/sys/unix"

// canPeek says whether socketReadable can wait for a socket without
// reading from it.
const canPeek = true

// socketReadable is a syscall.RawConn.Read callback that consumes nothing:
// true once the socket has data, EOF or an error pending; false (the
// runtime's poller then waits for the socket) while a read would block.
// It peeks instead of trusting the poller, whose readiness is reset when
// the wait starts: data that arrived before then would not wake it.
func socketReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err != unix.EAGAIN
}
