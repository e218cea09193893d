package devproxy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/devproxy"
	"github.com/parley-chat/parley/internal/pgtest"
)

// node is a backend that answers its name, with a switchable /healthz.
func node(t *testing.T, name string, healthy *atomic.Bool) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if !healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url string) string {
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// Requests go round robin over the healthy nodes; a node whose /healthz
// fails gets none until it passes again.
func TestRoundRobinSkipsUnhealthy(t *testing.T) {
	var aOK, bOK atomic.Bool
	aOK.Store(true)
	bOK.Store(true)
	p, err := devproxy.New([]string{node(t, "a", &aOK), node(t, "b", &bOK)}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	front := httptest.NewServer(p)
	defer front.Close()

	seen := map[string]int{}
	for range 10 {
		seen[get(t, front.URL+"/x")]++
	}
	require.Equal(t, map[string]int{"a": 5, "b": 5}, seen)

	bOK.Store(false)
	pgtest.Eventually(t, 5*time.Second, func() error {
		if h := p.Healthy(); !h[0] || h[1] {
			return fmt.Errorf("health %v", h)
		}
		return nil
	})
	for range 6 {
		require.Equal(t, "a", get(t, front.URL+"/x"))
	}

	bOK.Store(true)
	pgtest.Eventually(t, 5*time.Second, func() error {
		if h := p.Healthy(); !h[1] {
			return fmt.Errorf("health %v", h)
		}
		return nil
	})
	seen = map[string]int{}
	for range 4 {
		seen[get(t, front.URL+"/x")]++
	}
	require.Equal(t, map[string]int{"a": 2, "b": 2}, seen)
}

// The connection named by an opening response's Parley-Connection header
// keeps its later requests on that node; DELETE forgets it.
func TestConnectionsStayOnTheirNode(t *testing.T) {
	mk := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/open" {
				w.Header().Set("Parley-Connection", "c-"+name)
			}
			io.WriteString(w, name)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	p, err := devproxy.New([]string{mk("a"), mk("b"), mk("c")}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	front := httptest.NewServer(p)
	defer front.Close()
	for range 3 {
		owner := get(t, front.URL+"/open")
		for range 5 {
			require.Equal(t, owner, get(t, front.URL+"/send?connection=c-"+owner))
		}
	}
	_, err = devproxy.New([]string{"127.0.0.1:1"}, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "not an absolute URL")
}

// A client on this machine reaches a node as it would directly: the Host
// it named and no forwarding headers (the dev sign-in answers it); one
// that came through a proxy of its own is marked as forwarded.
func TestLocalClientsPassThrough(t *testing.T) {
	got := make(chan http.Header, 1)
	hosts := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		hosts <- r.Host
	}))
	defer srv.Close()
	p, err := devproxy.New([]string{srv.URL}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	front := httptest.NewServer(p)
	defer front.Close()

	get(t, front.URL+"/dev/identities")
	require.Empty(t, (<-got).Get("X-Forwarded-For"))
	require.Equal(t, front.Listener.Addr().String(), <-hosts)

	req, err := http.NewRequest(http.MethodGet, front.URL+"/dev/identities", nil)
	require.NoError(t, err)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEmpty(t, (<-got).Get("X-Forwarded-For"), "a forwarded request reaches the node marked as one")
	<-hosts
}
