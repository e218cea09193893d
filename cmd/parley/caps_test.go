package main

import (
	"flag"
	"io"
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/server"
)

// capsConfig is the server.Config that the session-cap flags in args make,
// as parley serve declares them.
func capsConfig(t *testing.T, args ...string) (server.Config, error) {
	fl := flag.NewFlagSet("parley serve", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	f := declareServerFlags(fl, true)
	require.NoError(t, fl.Parse(args))
	var cfg server.Config
	return cfg, f.caps.apply(&cfg)
}

func TestCapFlags(t *testing.T) {
	cfg, err := capsConfig(t)
	require.NoError(t, err)
	require.Equal(t, 1000, cfg.MaxSessionsPerIP, "on by default, generous for NAT")
	require.Equal(t, 100, cfg.MaxSessionsPerUser, "on by default: tabs and devices")
	require.Equal(t, server.Loopback, cfg.SessionsPerIPExempt, "parley bench's loopback sessions are not capped")
	spoofed := &http.Request{RemoteAddr: "10.0.0.1:9", Header: http.Header{"X-Forwarded-For": {"198.51.100.1"}}}
	require.Equal(t, "10.0.0.1", cfg.TrustedProxies.Addr(spoofed).String(), "no proxy is trusted by default")

	cfg, err = capsConfig(t, "--max-sessions-per-ip", "0", "--max-sessions-per-user", "0", "--sessions-per-ip-exempt", "",
		"--trusted-proxies", "10.0.0.0/8, 192.0.2.7")
	require.NoError(t, err)
	require.Zero(t, cfg.MaxSessionsPerIP)
	require.Zero(t, cfg.MaxSessionsPerUser)
	require.Empty(t, cfg.SessionsPerIPExempt)
	require.Equal(t, "198.51.100.1", cfg.TrustedProxies.Addr(spoofed).String())

	cfg, err = capsConfig(t, "--sessions-per-ip-exempt", "192.0.2.0/24,2001:db8::1")
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::1/128")}, cfg.SessionsPerIPExempt)

	for _, bad := range [][]string{
		{"--trusted-proxies", "10.0.0.0/40"},
		{"--sessions-per-ip-exempt", "localhost"},
		{"--max-sessions-per-ip", "-1"},
	} {
		_, err := capsConfig(t, bad...)
		require.Error(t, err, bad)
	}
}
