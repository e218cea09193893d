package support_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/devturn"
	"github.com/parley-chat/parley/support"
)

// iceEnv is a server whose ICE servers are a real TURN server (the one
// parley dev embeds, which checks credentials with pion/turn's own TURN
// REST API handler, not with Parley's code).
func iceEnv(t *testing.T) (*env, *devturn.Server) {
	const secret = "a-secret-shared-with-the-turn-server"
	ts, err := devturn.Start("127.0.0.1:0", secret)
	require.NoError(t, err)
	t.Cleanup(func() { ts.Close() })
	e := newEnv(t, 0, func(c *support.Config) {
		c.ICE = support.ICEConfig{STUN: []string{ts.STUNURL()}, TURN: []string{ts.TURNURL()}, TURNSecret: secret, CredentialTTL: time.Hour}
	})
	return e, ts
}

// getICE is GET /api/ice-servers with token (none: "").
func getICE(t *testing.T, e *env, token string) (int, []byte) {
	resp, body := e.get(t, "/api/ice-servers", token)
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "credentials are not cached")
	return resp.StatusCode, []byte(body)
}

// get is GET path of the server with a bearer token (none: "").
func (e *env) get(t *testing.T, path, token string) (*http.Response, string) {
	req, err := http.NewRequest("GET", e.s.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// allocate asks the TURN server at addr for a relay with the credentials.
func allocate(t *testing.T, addr, username, credential string) (net.Addr, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: credential, Realm: devturn.Realm, RTO: 200 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Listen())
	mapped, err := c.SendBindingRequest()
	require.NoError(t, err, "STUN answers anyone")
	require.Equal(t, conn.LocalAddr().String(), mapped.String())
	relay, err := c.Allocate()
	if err != nil {
		return nil, err
	}
	defer relay.Close()
	return relay.LocalAddr(), nil
}

// TestIceServers: GET /api/ice-servers gives a signed-in caller the STUN
// servers and the TURN servers with a credential of their own in the TURN
// REST API scheme, which a real TURN server with the same secret accepts
// (a relay is allocated) and refuses once tampered with; without a valid
// token it is 401. The query says the same.
func TestIceServers(t *testing.T) {
	e, ts := iceEnv(t)
	before := time.Now()
	status, body := getICE(t, e, e.s.Token(t, john))
	require.Equal(t, http.StatusOK, status, "%s", body)
	var got support.ICEServers
	require.NoError(t, json.Unmarshal(body, &got))
	require.Len(t, got.ICEServers, 2)
	require.Equal(t, []string{ts.STUNURL()}, got.ICEServers[0].URLs)
	require.Nil(t, got.ICEServers[0].Username, "STUN needs no credential")
	require.NotContains(t, string(body), `"username":null`, "RTCIceServer leaves out what it does not need")
	turnEntry := got.ICEServers[1]
	require.Equal(t, []string{ts.TURNURL()}, turnEntry.URLs)
	require.NotNil(t, turnEntry.Username)
	require.NotNil(t, turnEntry.Credential)

	// username = expiry:user, the expiry between half and all of the
	// lifetime ahead.
	exp, user, ok := strings.Cut(*turnEntry.Username, ":")
	require.True(t, ok)
	require.Equal(t, john.Subject, user)
	sec, err := strconv.ParseInt(exp, 10, 64)
	require.NoError(t, err)
	expires := time.Unix(sec, 0)
	require.True(t, !expires.Before(before.Add(30*time.Minute).Truncate(time.Second)) && !expires.After(time.Now().Add(time.Hour)), "expires %s", expires)
	require.NotNil(t, got.ExpiresAt)
	require.Equal(t, expires.UnixMilli(), *got.ExpiresAt)

	relay, err := allocate(t, ts.Addr(), *turnEntry.Username, *turnEntry.Credential)
	require.NoError(t, err, "the TURN server takes Parley's credential")
	require.True(t, strings.HasPrefix(relay.String(), "127.0.0.1:"), "a loopback relay: %s", relay)
	_, err = allocate(t, ts.Addr(), *turnEntry.Username, "x"+*turnEntry.Credential)
	require.Error(t, err, "a tampered credential is refused")
	_, err = allocate(t, ts.Addr(), strconv.FormatInt(sec+3600, 10)+":"+john.Subject, *turnEntry.Credential)
	require.Error(t, err, "a credential is good for its own username (expiry) only")

	for _, tok := range []string{"", "not.a.token"} {
		status, body := getICE(t, e, tok)
		if tok == "" {
			require.Equal(t, http.StatusUnauthorized, status, "%s", body)
		} else {
			require.Equal(t, http.StatusUnauthorized, status, "%s", body)
			require.Contains(t, string(body), "Invalid token")
		}
		require.Contains(t, string(body), `"code":"unauthenticated"`)
		require.NotContains(t, string(body), "turn:")
	}

	// The query: the user of another org's credential names the org.
	q := must[support.ICEServers](t)(e.query(acmeAdmin, "getIceServers", map[string]any{}))
	require.True(t, strings.HasSuffix(*q.ICEServers[1].Username, ":acme/admin-acme"), *q.ICEServers[1].Username)
}

// TestIceConfigValidate: what is not a STUN or TURN URL is refused at
// start, naming it.
func TestIceConfigValidate(t *testing.T) {
	ok := []support.ICEConfig{
		{},
		{STUN: []string{"stun:stun.example.com", "stun:stun.example.com:3478", "stuns:[2001:db8::1]:5349"}},
		{TURN: []string{"turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349?transport=tcp", "turn:10.0.0.1"}, TURNSecret: "s"},
	}
	for _, c := range ok {
		require.NoError(t, c.Validate(), "%+v", c)
	}
	bad := []struct {
		cfg  support.ICEConfig
		want string
	}{
		{support.ICEConfig{STUN: []string{"turn:x"}}, "not a stun: or stuns: URL"},
		{support.ICEConfig{STUN: []string{"stun://x"}}, "no // or path"},
		{support.ICEConfig{STUN: []string{"stun:"}}, "no host"},
		{support.ICEConfig{STUN: []string{"stun:x:0"}}, "port must be"},
		{support.ICEConfig{STUN: []string{"stun:2001:db8::1"}}, "in brackets"},
		{support.ICEConfig{STUN: []string{"stun:x?transport=udp"}}, "the one query"},
		{support.ICEConfig{TURN: []string{"turn:x?transport=sctp"}, TURNSecret: "s"}, "the one query"},
		{support.ICEConfig{TURN: []string{"turn:user@x"}, TURNSecret: "s"}, "no // or path"},
		{support.ICEConfig{TURN: []string{"turn:x"}}, "--turn-secret"},
	}
	for _, tt := range bad {
		err := tt.cfg.Validate()
		require.Error(t, err, "%+v", tt.cfg)
		require.Contains(t, err.Error(), tt.want)
	}
}
