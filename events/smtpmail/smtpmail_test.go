package smtpmail_test

import (
	"bytes"
	"net/mail"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/events"
	"github.com/parley-chat/parley/events/smtpmail"
)

func TestNew(t *testing.T) {
	tests := []struct {
		url      string
		redacted string
		wantErr  bool
	}{
		{url: "smtp://mail.example.com", redacted: "smtp://mail.example.com"},
		{url: "smtp://user:secret@mail.example.com:2525", redacted: "smtp://user:xxxxx@mail.example.com:2525"},
		{url: "smtps://mail.example.com", redacted: "smtps://mail.example.com"},
		{url: "http://mail.example.com", wantErr: true},
		{url: "smtp://", wantErr: true},
		{url: "smtp://mail.example.com:99999", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s, err := smtpmail.New(smtpmail.Config{URL: tt.url})
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.redacted, s.String())
		})
	}
}

func TestRender(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, smtpmail.Render(&b, &events.Mail{From: "Parley <parley@example.com>", To: "ann@example.com",
		Subject: "New message from John", MessageID: "parley.m1@example.com", Date: time.Unix(1700000000, 0),
		Unsubscribe: "https://chat.example/u?token=t", Text: "Hello"}))
	msg, err := mail.ReadMessage(&b)
	require.NoError(t, err)
	h := msg.Header
	require.Equal(t, "<parley.m1@example.com>", h.Get("Message-ID"))
	require.Equal(t, "<https://chat.example/u?token=t>", h.Get("List-Unsubscribe"))
	require.Equal(t, "List-Unsubscribe=One-Click", h.Get("List-Unsubscribe-Post"))
	require.Equal(t, "auto-generated", h.Get("Auto-Submitted"))
	require.Equal(t, "New message from John", h.Get("Subject"))
	d, err := h.Date()
	require.NoError(t, err)
	require.True(t, d.Equal(time.Unix(1700000000, 0)))
}
