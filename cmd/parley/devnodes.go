package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/cluster"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/devproxy"
	"github.com/parley-chat/parley/internal/server"
)

// devNodes is what `parley dev --nodes N` runs besides Postgres.
type devNodes struct {
	n        int
	dir      string       // the data directory; NATS keeps JetStream under dir/nats
	proxyLn  net.Listener // --addr: the proxy
	anyPort  bool         // --addr asked for any free port: so do the nodes
	base     server.Config
	verifier *jwtauth.Verifier
	flags    *serverFlags
	mux      func() (*http.ServeMux, error) // a node's dev routes
	seed     func(*server.Server) error     // run by every node once it is built
	ready    func(nodeURLs []string)        // once every node is built
}

// runDevNodes starts an embedded NATS server with JetStream, n cluster
// nodes on the ports after the proxy's (any free ports when the proxy's
// is 0), and the round-robin proxy on d.proxyLn, and runs them until ctx
// ends or one of them fails.
func runDevNodes(ctx context.Context, log *slog.Logger, d devNodes) error {
	fmt.Fprintf(os.Stderr, "parley: starting NATS (JetStream in %s) and %d nodes …\n", filepath.Join(d.dir, "nats"), d.n)
	nats, err := cluster.StartEmbedded(cluster.EmbeddedConfig{Dir: filepath.Join(d.dir, "nats")})
	if err != nil {
		return err
	}
	defer nats.Shutdown()

	lns, err := nodeListeners(d.proxyLn.Addr().(*net.TCPAddr), d.anyPort, d.n)
	if err != nil {
		return err
	}
	urls := make([]string, d.n)
	for i, ln := range lns {
		urls[i] = "http://" + ln.Addr().String()
	}
	proxy, err := devproxy.New(urls, log)
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	var mu sync.Mutex
	built := 0
	for i, ln := range lns {
		id := "node" + strconv.Itoa(i+1)
		nlog := log.With(slog.String("node", id))
		nc, err := dialNATS(nats.URL(), id, nlog)
		if err != nil {
			return err
		}
		defer nc.Close()
		mux, err := d.mux()
		if err != nil {
			return err
		}
		cfg := d.base
		cfg.Listener, cfg.Mux = ln, mux
		cfg.Cluster = &server.ClusterConfig{NATS: nc, NodeID: id}
		flags := d.flags
		if i > 0 { // one profiler, on the first node
			f := *d.flags
			f.debugAddr = new(string)
			flags = &f
		}
		g.Go(func() error {
			err := runServer(gctx, nlog, cfg, d.verifier, flags, d.dir, func(srv *server.Server) error {
				if err := d.seed(srv); err != nil {
					return err
				}
				mu.Lock()
				built++
				all := built == d.n
				mu.Unlock()
				if all {
					d.ready(urls)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			return nil
		})
	}
	hs := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error { return proxy.Run(gctx) })
	g.Go(func() error {
		if err := hs.Serve(d.proxyLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("proxy: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx) //nolint:errcheck // upgraded sessions end with their nodes
		return nil
	})
	return g.Wait()
}

// nodeListeners listens for n nodes on the ports after proxy's, or on
// free ports when anyPort (--addr HOST:0: tests, scripts/with-dev-server.sh).
func nodeListeners(proxy *net.TCPAddr, anyPort bool, n int) ([]net.Listener, error) {
	lns := make([]net.Listener, 0, n)
	for i := range n {
		port := 0
		if !anyPort {
			port = proxy.Port + 1 + i
		}
		addr := net.JoinHostPort(proxy.IP.String(), strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("listen on %s for node %d: %w (--nodes uses the ports after --addr's)", addr, i+1, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}
