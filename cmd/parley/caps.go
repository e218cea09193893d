package main

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"

	"github.com/parley-chat/parley/internal/clientip"
	"github.com/parley-chat/parley/internal/server"
)

// The caps on concurrent sync sessions per client address and per user,
// and the proxies whose forwarding headers tell the client's address.
//
// The defaults are generous on purpose: a cap is there to stop one
// client from holding a node's sessions, not to bound honest use. 1,000
// per address leaves room for a carrier's or an office's NAT, where many
// people share one address; 100 per user for tabs and devices (a user
// with the web app open in a dozen tabs on three devices holds 36).
// Loopback is exempt by default: a client on the node's own machine is
// an operator's (`parley bench` opens 10,000+ sessions from 127.0.0.1),
// or a reverse proxy on the same host not listed in --trusted-proxies,
// whose clients would otherwise share one address and one cap. The bench
// gives every session its own user (dataset's customers and staff), so
// the per-user cap leaves it alone.
type capOptions struct {
	perIP, perUser *int
	exempt         *string
	header         *string
	trusted        *string
}

func capFlags(fl *flag.FlagSet) *capOptions {
	return &capOptions{
		perIP: fl.Int("max-sessions-per-ip", server.DefaultMaxSessionsPerIP,
			"most sync sessions (WebSocket, SSE, long poll) open at once on this node from one client address (an IPv4 address, an IPv6 /64); past it a new one gets 429 (0: no cap)"),
		perUser: fl.Int("max-sessions-per-user", server.DefaultMaxSessionsPerUser,
			"most sync sessions open at once on this node as one user (a verified token's subject); one more that authenticates as them gets a FatalError and is closed (0: no cap)"),
		exempt: fl.String("sessions-per-ip-exempt", prefixList(server.Loopback),
			"client addresses (CIDR,…) that --max-sessions-per-ip does not cap (default: loopback, where parley bench and local tools connect; empty: none)"),
		trusted: fl.String("trusted-proxies", "",
			"proxies (CIDR or address,…) whose X-Forwarded-For, else Forwarded, names the client: its rightmost address that is no trusted proxy; "+
				"from any other peer those headers are ignored (default: none, every client is its connection's peer)"),
		header: fl.String("trusted-proxy-header", "",
			"the one header the trusted proxies name the client in, "+clientip.HeaderXFF+" or "+clientip.HeaderForwarded+
				" (default: X-Forwarded-For when present, else Forwarded; name the one your proxy writes, so that a client's own copy of the other names nobody)"),
	}
}

func (o *capOptions) apply(cfg *server.Config) error {
	exempt, err := parsePrefixes(*o.exempt)
	if err != nil {
		return fmt.Errorf("--sessions-per-ip-exempt: %w", err)
	}
	trusted, err := clientip.ParseList(*o.trusted)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if trusted, err = trusted.WithHeader(*o.header); err != nil {
		return fmt.Errorf("--trusted-proxy-header: %w", err)
	}
	if *o.perIP < 0 || *o.perUser < 0 {
		return fmt.Errorf("--max-sessions-per-ip and --max-sessions-per-user must be 0 (no cap) or more")
	}
	cfg.MaxSessionsPerIP, cfg.MaxSessionsPerUser, cfg.SessionsPerIPExempt, cfg.TrustedProxies = *o.perIP, *o.perUser, exempt, trusted
	return nil
}

// parsePrefixes reads a comma-separated list of CIDR prefixes and single
// addresses.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR prefix nor an address", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// prefixList is the flag value of ps.
func prefixList(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}
