package transport_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/schema"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type frame struct {
	Type                string `json:"type"`
	Error               string `json:"error"`
	BaseVersion         uint32 `json:"baseVersion"`
	AuthUpdateAttempted bool   `json:"authUpdateAttempted"`
	EndVersion          struct {
		Identity uint32 `json:"identity"`
	} `json:"endVersion"`
}

func read(t *testing.T, c *websocket.Conn) (frame, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	var f frame
	require.NoError(t, json.Unmarshal(data, &f))
	return f, nil
}

// A token's rights end at its exp even on a connection that stays open:
// the server sends the AuthError the official client answers by fetching a
// fresh token, and closes the connection normally.
func TestTokenExpiryEndsAuthentication(t *testing.T) {
	s := parleytest.Start(t)
	tok := s.TokenTTL(t, functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer}, 1500*time.Millisecond)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+s.Server.Addr().String()+"/api/1.48.0/sync", nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.WriteJSON(map[string]any{"type": "Connect", "sessionId": "s1", "connectionCount": 0}))
	require.NoError(t, c.WriteJSON(map[string]any{"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": tok}))
	f, err := read(t, c)
	require.NoError(t, err)
	require.Equal(t, "Transition", f.Type)
	require.Equal(t, uint32(1), f.EndVersion.Identity, "the token is accepted")

	// The same leeway as an HTTP call's: past exp, within the leeway, the
	// token still works there and the session still holds it.
	var claims jwt.RegisteredClaims
	_, _, err = jwt.NewParser().ParseUnverified(tok, &claims)
	require.NoError(t, err)
	exp := claims.ExpiresAt.Time // whole seconds
	time.Sleep(time.Until(exp.Add(200 * time.Millisecond)))
	req, err := http.NewRequest(http.MethodPost, s.URL+"/api/query", strings.NewReader(`{"path":"shared/chat:getUnreadCount","args":{}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "HTTP within the leeway: %s", body)

	start := time.Now()
	for {
		f, err = read(t, c)
		require.NoError(t, err)
		if f.Type != "Ping" {
			break
		}
	}
	require.Equal(t, "AuthError", f.Type)
	require.Equal(t, "token expired", f.Error)
	require.False(t, f.AuthUpdateAttempted)
	require.Equal(t, uint32(0), f.BaseVersion)
	require.False(t, time.Now().Before(exp.Add(parleytest.Leeway)), "the session holds the token until exp and the leeway")
	require.Less(t, time.Since(start), 5*time.Second)
	_, err = read(t, c)
	var ce *websocket.CloseError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, websocket.CloseNormalClosure, ce.Code)
	require.True(t, strings.Contains(ce.Text, "authentication failed"))
}

// A token that does not verify gets AuthError carrying the rejected
// Authenticate's base version, then a normal close.
func TestBadTokenGetsAuthError(t *testing.T) {
	s := parleytest.Start(t)
	other := []byte(rand.Text() + rand.Text())
	tok, err := jwtauth.MintHS256(other, functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer}, time.Hour)
	require.NoError(t, err)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+s.Server.Addr().String()+"/api/1.48.0/sync", nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.WriteJSON(map[string]any{"type": "Connect", "sessionId": "s1", "connectionCount": 0}))
	require.NoError(t, c.WriteJSON(map[string]any{"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": tok}))
	f, err := read(t, c)
	require.NoError(t, err)
	require.Equal(t, "AuthError", f.Type)
	require.Equal(t, "Could not verify token: token signature is invalid", f.Error)
	require.True(t, f.AuthUpdateAttempted)
	require.Equal(t, uint32(0), f.BaseVersion)
}

// Close ends open connections with a Close frame saying why and returns
// after their goroutines have exited; a connection attempted afterwards is
// refused, never left running past Close.
func TestCloseEndsConnectionsAndRefusesNewOnes(t *testing.T) {
	s := parleytest.Start(t)
	url := "ws://" + s.Server.Addr().String() + "/api/1.48.0/sync"
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.WriteJSON(map[string]any{"type": "Connect", "sessionId": "s1", "connectionCount": 0}))

	s.Server.HTTP.Close()
	_, err = read(t, c)
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.CloseGoingAway, ce.Code)
	require.Equal(t, "server shutting down", ce.Text)

	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, 503, resp.StatusCode)
}
