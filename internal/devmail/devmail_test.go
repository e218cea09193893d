package devmail_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/events"
	"github.com/parley-chat/parley/internal/devmail"
)

func TestDirKeepsAndListsMail(t *testing.T) {
	d, err := devmail.New(t.TempDir())
	require.NoError(t, err)
	mux := http.NewServeMux()
	d.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for i, subject := range []string{"First é", "Second"} {
		require.NoError(t, d.Send(context.Background(), &events.Mail{From: "Parley <parley@localhost>", To: "ann@example.com",
			Subject: subject, MessageID: "parley.m" + string(rune('a'+i)) + "@localhost", Date: time.Now(),
			Unsubscribe: "http://127.0.0.1/api/notifications/unsubscribe?token=x", Text: "Hello, Ann: a long line " + subject}))
	}
	tests := []struct {
		path, contains string
	}{
		{devmail.PagePath, "Second"},
		{devmail.ListPath, `"subject":"First é"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Contains(t, string(body), tt.contains)
		})
	}
	list, err := d.List()
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "Second", list[0].Subject, "newest first")
	require.Equal(t, "<parley.mb@localhost>", list[0].MessageID)
	require.Equal(t, "<http://127.0.0.1/api/notifications/unsubscribe?token=x>", list[0].ListUnsubscribe)
	require.Contains(t, list[0].Text, "Hello, Ann: a long line Second")
	raw, err := json.Marshal(list)
	require.NoError(t, err)
	require.NotEmpty(t, raw)
}
