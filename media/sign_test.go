package media_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/media"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// parts splits a signed URL into what Verify takes.
func parts(t *testing.T, raw string) (file string, v media.Variant, conv, exp, sig string) {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	seg := strings.Split(strings.TrimPrefix(u.Path, "/api/storage/"), "/")
	require.Len(t, seg, 2, raw)
	q := u.Query()
	return seg[0], media.Variant(seg[1]), q.Get("c"), q.Get("e"), q.Get("s")
}

func TestSigner(t *testing.T) {
	s, err := media.NewSigner(testKey, "https://chat.example.com", time.Hour)
	require.NoError(t, err)
	now := time.Date(2026, 1, 2, 10, 20, 0, 0, time.UTC)
	signed := s.Sign("conv1", "file1", now)
	require.True(t, strings.HasPrefix(signed.URL, "https://chat.example.com/api/storage/file1/image?"), signed.URL)
	require.True(t, strings.HasPrefix(signed.ThumbnailURL, "https://chat.example.com/api/storage/file1/thumb?"))
	require.Equal(t, time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC), signed.ExpiresAt, "bucket start + TTL")
	require.Equal(t, time.Date(2026, 1, 2, 10, 30, 0, 0, time.UTC), signed.RefreshAt, "re-signed half a TTL before expiry")
	require.Equal(t, signed, s.Sign("conv1", "file1", now.Add(9*time.Minute)), "the same within a bucket")
	require.NotEqual(t, signed, s.Sign("conv1", "file1", now.Add(10*time.Minute)), "new URLs in the next bucket")

	file, v, conv, exp, sig := parts(t, signed.URL)
	require.NoError(t, s.Verify(conv, file, v, exp, sig, now))
	_, tv, _, texp, tsig := parts(t, signed.ThumbnailURL)
	require.NoError(t, s.Verify(conv, file, tv, texp, tsig, now))

	tests := []struct {
		name                string
		conv, file, exp, sg string
		v                   media.Variant
		at                  time.Time
		want                error
	}{
		{"another conversation", "conv2", file, exp, sig, v, now, media.ErrBadSignature},
		{"another file", conv, "file2", exp, sig, v, now, media.ErrBadSignature},
		{"the thumbnail's signature for the image", conv, file, exp, tsig, v, now, media.ErrBadSignature},
		{"a later expiry", conv, file, "99999999999", sig, v, now, media.ErrBadSignature},
		{"a flipped signature", conv, file, exp, "A" + sig[1:], v, now, media.ErrBadSignature},
		{"no signature", conv, file, exp, "", v, now, media.ErrBadSignature},
		{"at expiry", conv, file, exp, sig, v, signed.ExpiresAt, media.ErrURLExpired},
		{"another key", conv, file, exp, sig, v, now, media.ErrBadSignature},
	}
	other, err := media.NewSigner([]byte("another key, 32 bytes at least!!"), "https://chat.example.com", time.Hour)
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer := s
			if tt.name == "another key" {
				signer = other
			}
			require.ErrorIs(t, signer.Verify(tt.conv, tt.file, tt.v, tt.exp, tt.sg, tt.at), tt.want)
		})
	}

	_, err = media.NewSigner([]byte("short"), "https://chat.example.com", time.Hour)
	require.Error(t, err)
	_, err = media.NewSigner(testKey, "chat.example.com/path", time.Hour)
	require.Error(t, err)
}
