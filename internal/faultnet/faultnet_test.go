package faultnet_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/faultnet"
)

// echo serves one line back per line on a listener of its own.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }() //nolint:errcheck // ends when the peer closes
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

func TestCutAndRestore(t *testing.T) {
	l, err := faultnet.New("tcp", echo(t))
	require.NoError(t, err)
	defer l.Close()
	addr := l.Addr().String()
	require.NoError(t, roundTrip(addr))

	open, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer open.Close()
	l.Cut()
	require.True(t, l.Down())
	open.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	_, err = open.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "a connection open at the cut is closed")
	require.Error(t, roundTrip(addr), "new connections are refused while cut")

	l.Restore()
	require.NoError(t, roundTrip(addr))
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "idempotent")
}

// CutAfter lets the bytes with the pattern through, then cuts before the
// reply.
func TestCutAfter(t *testing.T) {
	got := make(chan string, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- line
		c.Write([]byte("reply\n")) //nolint:errcheck // the link is cut by now
	}()
	l, err := faultnet.New("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer l.Close()
	l.CutAfter([]byte("COMMIT"))
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("COMMIT\n"))
	require.NoError(t, err)
	require.Equal(t, "COMMIT\n", <-got, "the request reached the server")
	c.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	_, err = bufio.NewReader(c).ReadString('\n')
	require.Error(t, err, "the reply is lost")
	require.True(t, l.Down())
}
