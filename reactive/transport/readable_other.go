//go:build !unix

package transport

// canPeek is false where the socket cannot be peeked at: each connection's
// reader then waits in the read itself (see wsConn.readLoop).
const canPeek = false

// socketReadable is not called where canPeek is false.
func socketReadable(uintptr) bool { return true }
