package clientip_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/clientip"
)

// req is a request from peer with headers h (name, value, name, value…).
func req(peer string, h ...string) *http.Request {
	r := &http.Request{RemoteAddr: peer, Header: http.Header{}}
	for i := 0; i < len(h); i += 2 {
		r.Header.Add(h[i], h[i+1])
	}
	return r
}

func TestAddr(t *testing.T) {
	r, err := clientip.ParseList(" 10.0.0.0/8, 192.0.2.7 ,,2001:db8:1::/48")
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		req  *http.Request
		want string
	}{
		{"a direct client is its peer", req("203.0.113.5:4000"), "203.0.113.5"},
		{"a direct client's forwarding headers are ignored",
			req("203.0.113.5:4000", "X-Forwarded-For", "198.51.100.1", "Forwarded", "for=198.51.100.2"), "203.0.113.5"},
		{"a trusted proxy's X-Forwarded-For names the client", req("10.1.2.3:5000", "X-Forwarded-For", "198.51.100.1"), "198.51.100.1"},
		{"a single trusted address", req("192.0.2.7:5000", "X-Forwarded-For", "198.51.100.1"), "198.51.100.1"},
		{"what the client wrote left of the proxy's entry is not believed",
			req("10.1.2.3:5000", "X-Forwarded-For", "1.1.1.1, 2.2.2.2, 198.51.100.1"), "198.51.100.1"},
		{"several trusted hops: the rightmost untrusted address",
			req("10.1.2.3:5000", "X-Forwarded-For", "1.1.1.1, 198.51.100.1, 10.9.9.9, 192.0.2.7"), "198.51.100.1"},
		{"several header lines are one list",
			req("10.1.2.3:5000", "X-Forwarded-For", "1.1.1.1", "X-Forwarded-For", "198.51.100.1, 10.0.0.1"), "198.51.100.1"},
		{"every hop trusted: the peer", req("10.1.2.3:5000", "X-Forwarded-For", "10.4.4.4, 10.5.5.5"), "10.1.2.3"},
		{"a trusted proxy without a header: the peer", req("10.1.2.3:5000"), "10.1.2.3"},
		{"garbage where the client's address should be: the peer",
			req("10.1.2.3:5000", "X-Forwarded-For", "198.51.100.1, nonsense"), "10.1.2.3"},
		{"Forwarded, without X-Forwarded-For",
			req("10.1.2.3:5000", "Forwarded", `for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2`), "2001:db8:cafe::17"},
		{"X-Forwarded-For wins over Forwarded",
			req("10.1.2.3:5000", "X-Forwarded-For", "198.51.100.1", "Forwarded", "for=1.1.1.1"), "198.51.100.1"},
		{"an IPv6 trusted proxy", req("[2001:db8:1::9]:443", "X-Forwarded-For", "198.51.100.1"), "198.51.100.1"},
		{"an IPv4-mapped peer is its IPv4 address", req("[::ffff:10.1.2.3]:5000", "X-Forwarded-For", "198.51.100.1"), "198.51.100.1"},
		{"no port", req("203.0.113.5"), "203.0.113.5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, r.Addr(c.req).String())
		})
	}
}

func TestNoProxyTrusted(t *testing.T) {
	spoofed := req("10.1.2.3:5000", "X-Forwarded-For", "198.51.100.1", "Forwarded", "for=198.51.100.2")
	var none *clientip.Resolver
	require.Equal(t, "10.1.2.3", none.Addr(spoofed).String(), "nil trusts none")
	empty, err := clientip.ParseList("")
	require.NoError(t, err)
	require.Equal(t, "10.1.2.3", empty.Addr(spoofed).String())
	require.False(t, empty.Trusted(netip.MustParseAddr("10.1.2.3")))
}

func TestBadRanges(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "not-an-address", "fe80::1%eth0"} {
		_, err := clientip.ParseList(bad)
		require.Error(t, err, bad)
	}
}

func TestKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1":              "192.0.2.1",
		"::ffff:192.0.2.1":       "192.0.2.1",
		"2001:db8:aa:bb:1:2:3:4": "2001:db8:aa:bb::/64",
		"2001:db8:aa:bb:ffff::9": "2001:db8:aa:bb::/64",
		"fe80::1%eth0":           "fe80::/64",
		"::1":                    "::/64",
	} {
		require.Equal(t, want, clientip.Key(netip.MustParseAddr(addr)), addr)
	}
	var none *clientip.Resolver
	require.Equal(t, "2001:db8:aa:bb::/64", none.Key(req("[2001:db8:aa:bb::1]:80")))
	require.Equal(t, "@", none.Key(req("@")), "a Unix socket's peer has no address: its RemoteAddr")
}

// With a header named, only that header is read: behind a proxy that
// writes Forwarded, a client's own X-Forwarded-For names nobody.
func TestWithHeader(t *testing.T) {
	base, err := clientip.New("10.0.0.0/8")
	require.NoError(t, err)
	fwd, err := base.WithHeader("forwarded")
	require.NoError(t, err)
	spoof := req("10.1.2.3:5000", "X-Forwarded-For", "6.6.6.6", "Forwarded", "for=198.51.100.1")
	require.Equal(t, "6.6.6.6", base.Addr(spoof).String(), "without a header named, X-Forwarded-For wins")
	require.Equal(t, "198.51.100.1", fwd.Addr(spoof).String())
	require.Equal(t, "10.1.2.3", fwd.Addr(req("10.1.2.3:5000", "X-Forwarded-For", "6.6.6.6")).String(), "no Forwarded: the peer")
	xff, err := base.WithHeader("X-Forwarded-For")
	require.NoError(t, err)
	require.Equal(t, "10.1.2.3", xff.Addr(req("10.1.2.3:5000", "Forwarded", "for=198.51.100.1")).String())
	_, err = base.WithHeader("X-Real-IP")
	require.ErrorContains(t, err, `trusted proxy header "X-Real-IP": want X-Forwarded-For or Forwarded`)
	same, err := base.WithHeader("")
	require.NoError(t, err)
	require.Same(t, base, same)
}
