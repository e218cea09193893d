package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/schema"
)

// httpCall runs a mutation through srv's HTTP API as token's caller and
// returns the HTTP status and its error data (nil on success).
func httpCall(t *testing.T, srv, token, path string, args any) (int, map[string]any) {
	t.Helper()
	rawArgs, err := json.Marshal(args)
	require.NoError(t, err)
	body, err := json.Marshal(map[string]any{"path": path, "format": "convex_encoded_json", "args": []json.RawMessage{rawArgs}})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, srv+"/api/mutation", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Status    string         `json:"status"`
		ErrorData map[string]any `json:"errorData"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out.ErrorData
}

// ticket buys a ticket from srv with token.
func ticket(t *testing.T, srv, token string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv+"/api/tickets", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct{ Ticket string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Ticket
}

// poll long-polls John's demo conversation on srv with a ticket and
// returns the status and body.
func poll(t *testing.T, srv, tk string) (int, string) {
	t.Helper()
	args, _ := json.Marshal(map[string]any{"conversationId": schema.DemoConversationID})
	q := url.Values{"path": {"shared/chat:getMessages"}, "args": {string(args)}, "ticket": {tk}}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Get(srv + "/api/poll?" + q.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b.String()
}

// TestSharedState: two servers with SharedState on one database are one
// service to a client, whichever node it reaches: a user's message budget
// and an address's guest tokens are spent across both, a ticket bought
// from one is good on the other once, and images are in Postgres.
func TestSharedState(t *testing.T) {
	configure := func(cfg *server.Config) {
		cfg.SharedState = true
		cfg.Chat = chat.Config{MessagesPerSecond: 0.01, MessageBurst: 3, TypingPerSecond: -1, UploadsPerSecond: -1}
		cfg.Guests.PerSecond, cfg.Guests.Burst = 0.01, 2
	}
	a := parleytest.StartConfigured(t, configure)
	b := parleytest.StartConfigured(t, func(cfg *server.Config) {
		configure(cfg)
		cfg.DatabaseURL, cfg.ReplicationSlot = a.DBURL, "parley_node_b"
	})
	// Each node verifies tokens of its own secret (parleytest): both are
	// John's.
	tokA, tokB := a.Token(t, parleytest.John), b.Token(t, parleytest.John)

	send := func(srv, tok string) (int, map[string]any) {
		return httpCall(t, srv, tok, "shared/chat:sendMessage",
			map[string]any{"conversationId": schema.DemoConversationID, "content": "hello", "messageType": "text"})
	}
	for i, node := range []struct{ url, tok string }{{a.URL, tokA}, {b.URL, tokB}, {a.URL, tokA}} {
		status, errData := send(node.url, node.tok)
		require.Equal(t, http.StatusOK, status, "message %d: %v", i, errData)
	}
	for _, node := range []struct{ url, tok string }{{a.URL, tokA}, {b.URL, tokB}} {
		_, errData := send(node.url, node.tok)
		require.EqualValues(t, http.StatusTooManyRequests, errData["status"], "the burst is spent on both nodes: %v", errData)
		require.EqualValues(t, functions.CodeRateLimited, errData["code"])
		require.Greater(t, errData["retryAfterMs"], float64(90_000), "a token per 100s")
	}

	// Guest tokens are limited per address in Postgres too.
	for range 2 {
		status, _, out := postGuest(t, a.URL, "127.0.0.1", "")
		require.Equal(t, 200, status, out)
	}
	status, _, _ := postGuest(t, a.URL, "127.0.0.1", "")
	require.Equal(t, 429, status)
	var limits []string
	rows, err := a.DB.Query(context.Background(), `SELECT name FROM rate_limits ORDER BY name`)
	require.NoError(t, err)
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		limits = append(limits, name)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"chat.messages", "guest.tokens"}, limits)

	// A ticket from a is good on b, once, and then on neither.
	tk := ticket(t, a.URL, tokA)
	status, body := poll(t, b.URL, tk)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, schema.DemoMessageID)
	for _, node := range []string{a.URL, b.URL} {
		status, body = poll(t, node, tk)
		require.Equal(t, http.StatusUnauthorized, status)
		require.Contains(t, body, "ticket already used")
	}

	// The demo image is in Postgres, not in a's directory.
	var objects int
	require.NoError(t, a.DB.QueryRow(context.Background(), `SELECT count(*) FROM media_objects`).Scan(&objects))
	require.Positive(t, objects)
	entries, err := os.ReadDir(a.MediaDir)
	require.NoError(t, err)
	require.Empty(t, entries)
}
