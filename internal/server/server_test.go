package server_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A connection that never sends a request (HTTP clients dial spares) does
// not make Run fail: after the grace period it is closed and Run returns
// nil (parleytest's cleanup requires it).
func TestRunStopsDespiteASilentConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the shutdown grace period")
	}
	var silent net.Conn
	t.Cleanup(func() { // registered first: runs after the server has stopped
		if silent != nil {
			silent.Close()
		}
	})
	s := parleytest.Start(t)
	var err error
	silent, err = net.Dial("tcp", s.Server.Addr().String())
	require.NoError(t, err)
}
