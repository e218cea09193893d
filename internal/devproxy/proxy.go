// Package devproxy is the small load balancer of `parley dev --nodes N`:
// one address for the web app and clients in front of N nodes.
//
// Requests go round robin to the nodes whose /healthz answers 200, each
// checked every CheckEvery; a node that fails its check gets no new
// requests until it passes one again. WebSocket upgrades are proxied like
// any request (net/http/httputil), so a session stays on the node it
// reached; when that node closes it, the client reconnects and lands on a
// healthy one. An SSE or long-polling connection is opened by one request
// and continued by others that carry ?connection=ID: the proxy learns the
// node from the opening response's Parley-Connection header and sends
// the later requests there.
//
// It is a development tool: production puts its own load balancer in
// front of `parley serve --cluster` nodes.
package devproxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/internal/devauth"
	"github.com/parley-chat/parley/reactive/transport"
)

// CheckEvery is how often a node's health is checked.
const CheckEvery = 500 * time.Millisecond

// stickyIdle is how long an SSE or long-polling connection id is kept
// after its last request (the server ends an idle one much sooner).
const stickyIdle = 10 * time.Minute

// connQuery is the query parameter that names an SSE or long-polling
// connection (reactive/transport).
const connQuery = "connection"

type backend struct {
	url     *url.URL
	proxy   *httputil.ReverseProxy
	healthy atomic.Bool
}

type sticky struct {
	b    *backend
	used time.Time
}

// Proxy is an http.Handler that spreads requests over its nodes.
type Proxy struct {
	backends []*backend
	next     atomic.Uint64
	log      *slog.Logger
	client   *http.Client

	mu    sync.Mutex
	conns map[string]*sticky
}

// New returns a proxy in front of the nodes at urls (base URLs such as
// http://127.0.0.1:3211). Every node counts as healthy until a check says
// otherwise; Run checks them.
func New(urls []string, log *slog.Logger) (*Proxy, error) {
	if len(urls) == 0 {
		return nil, errors.New("devproxy: no nodes")
	}
	p := &Proxy{log: log, conns: map[string]*sticky{}, client: &http.Client{Timeout: time.Second}}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, errors.New("devproxy: node URL " + raw + " is not an absolute URL")
		}
		b := &backend{url: u}
		b.healthy.Store(true)
		b.proxy = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(u)
				// The node sees the Host the client named (its URLs, and the
				// dev sign-in's DNS-rebinding check, depend on it) and, for a
				// client from elsewhere, the forwarding headers that make the
				// dev sign-in refuse it; a client on this machine reaches the
				// node as it would reach it directly.
				r.Out.Host = r.In.Host
				if !devauth.Direct(r.In) {
					r.SetXForwarded()
				}
			},
			// SSE streams and long polls are written as they come.
			FlushInterval: -1,
			ModifyResponse: func(res *http.Response) error {
				if id := res.Header.Get(transport.ConnectionHeader); id != "" {
					p.remember(id, b)
				}
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if r.Context().Err() == nil {
					log.Warn("devproxy: node unreachable", slog.String("node", u.String()), slog.Any("err", err))
				}
				http.Error(w, "parley dev proxy: node "+u.Host+" unreachable", http.StatusBadGateway)
			},
		}
		p.backends = append(p.backends, b)
	}
	return p, nil
}

// Run checks the nodes' health every CheckEvery until ctx ends.
func (p *Proxy) Run(ctx context.Context) error {
	t := time.NewTicker(CheckEvery)
	defer t.Stop()
	for {
		p.check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		p.prune(time.Now())
	}
}

// check asks every node's /healthz, all at once.
func (p *Proxy) check(ctx context.Context) {
	var wg sync.WaitGroup
	for _, b := range p.backends {
		wg.Go(func() {
			ok := p.healthy(ctx, b)
			if was := b.healthy.Swap(ok); was != ok && ctx.Err() == nil {
				p.log.Info("devproxy: node health changed", slog.String("node", b.url.String()), slog.Bool("healthy", ok))
			}
		})
	}
	wg.Wait()
}

func (p *Proxy) healthy(ctx context.Context, b *backend) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url.JoinPath("/healthz").String(), nil)
	if err != nil {
		return false
	}
	res, err := p.client.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// Healthy reports which nodes the last check found healthy, in order.
func (p *Proxy) Healthy() []bool {
	out := make([]bool, len(p.backends))
	for i, b := range p.backends {
		out[i] = b.healthy.Load()
	}
	return out
}

func (p *Proxy) remember(id string, b *backend) {
	p.mu.Lock()
	p.conns[id] = &sticky{b: b, used: time.Now()}
	p.mu.Unlock()
}

// held is the node that holds connection id, or nil.
func (p *Proxy) held(id string, ending bool) *backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.conns[id]
	if s == nil {
		return nil
	}
	if ending {
		delete(p.conns, id)
	} else {
		s.used = time.Now()
	}
	return s.b
}

func (p *Proxy) prune(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, s := range p.conns {
		if now.Sub(s.used) > stickyIdle {
			delete(p.conns, id)
		}
	}
}

// pick is the next healthy node round robin; with none healthy, the next
// node (whose answer then tells the client why).
func (p *Proxy) pick() *backend {
	n := uint64(len(p.backends))
	start := p.next.Add(1)
	for i := range n {
		if b := p.backends[(start+i)%n]; b.healthy.Load() {
			return b
		}
	}
	return p.backends[start%n]
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b *backend
	if id := r.URL.Query().Get(connQuery); id != "" {
		b = p.held(id, r.Method == http.MethodDelete)
	}
	if b == nil {
		b = p.pick()
	}
	b.proxy.ServeHTTP(w, r)
}
