package cluster

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures a NATS server run inside the process
// (`parley dev --nodes N`, tests).
type EmbeddedConfig struct {
	// Dir holds JetStream's files. Required.
	Dir string
	// Host and Port are where clients connect. Empty Host means 127.0.0.1;
	// Port 0 picks a free port (-1 in nats-server's terms).
	Host string
	Port int
}

// Embedded is a NATS server with JetStream, run in this process.
type Embedded struct {
	srv *natsserver.Server
}

// StartEmbedded starts a NATS server with JetStream under cfg.Dir and
// waits until it accepts clients.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Dir == "" {
		return nil, errors.New("cluster: an embedded NATS server needs a directory")
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := cfg.Port
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	opts := &natsserver.Options{
		ServerName: "parley-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.Dir,
		NoSigs:     true,
		NoLog:      true,
		// One client (a node) may publish a whole commit in one message.
		MaxPayload: 8 << 20,
	}
	srv, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("cluster: embedded NATS did not start within 10s")
	}
	return &Embedded{srv: srv}, nil
}

// URL is the nats:// address clients dial.
func (e *Embedded) URL() string {
	addr := e.srv.Addr().(*net.TCPAddr)
	return "nats://" + net.JoinHostPort(addr.IP.String(), strconv.Itoa(addr.Port))
}

// Shutdown stops the server and waits until it has.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
