// Package devturn is `parley dev`'s TURN server: a real one (pion/turn),
// on a UDP port of loopback, that also answers STUN binding requests and
// takes TURN REST API credentials (username "expiry:user", credential
// the base64 HMAC-SHA1 of it keyed with a secret shared with Parley), the
// ones shared/support:getIceServers hands out. It relays on loopback
// only: it is for trying WebRTC calls between tabs and devices of one
// machine, not for production, which names its own TURN servers
// (`parley serve --turn-url --turn-secret`, e.g. coturn with
// use-auth-secret).
//
// # Concurrency model
//
// pion/turn serves the socket on goroutines of its own; Close stops them
// and waits. Safe for concurrent use.
package devturn

import (
	"fmt"
	"net"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"
)

// Realm is the TURN realm of the dev server.
const Realm = "parley.dev"

// Server is a running dev TURN server.
type Server struct {
	srv  *turn.Server
	addr string
}

// Start listens on addr (host:port, UDP; port 0: any free one) and serves
// TURN and STUN there, accepting credentials made with secret.
func Start(addr, secret string) (*Server, error) {
	conn, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("devturn: listen %s: %w", addr, err)
	}
	host, _, err := net.SplitHostPort(conn.LocalAddr().String())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("devturn: %w", err)
	}
	relay := net.ParseIP(host)
	if relay == nil || relay.IsUnspecified() {
		relay = net.IPv4(127, 0, 0, 1)
	}
	logs := logging.NewDefaultLoggerFactory()
	logs.DefaultLogLevel = logging.LogLevelWarn
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         Realm,
		AuthHandler:   turn.LongTermTURNRESTAuthHandler(secret, logs.NewLogger("devturn")),
		LoggerFactory: logs,
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: relay, Address: relay.String()},
		}},
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("devturn: %w", err)
	}
	return &Server{srv: srv, addr: conn.LocalAddr().String()}, nil
}

// Addr is the host:port it serves.
func (s *Server) Addr() string { return s.addr }

// STUNURL and TURNURL are its URLs for an RTCPeerConnection.
func (s *Server) STUNURL() string { return "stun:" + s.addr }
func (s *Server) TURNURL() string { return "turn:" + s.addr + "?transport=udp" }

// Close stops it.
func (s *Server) Close() error { return s.srv.Close() }
