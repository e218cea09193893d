package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"time"
)

// Variant names a stored rendition of a file in download URLs.
type Variant string

// The variants a download URL may name. Originals (Config.KeepOriginals)
// are never served.
const (
	VariantImage Variant = "image"
	VariantThumb Variant = "thumb"
)

// Signed is a file's pair of download URLs for one conversation.
type Signed struct {
	URL          string // the compressed image
	ThumbnailURL string // its thumbnail
	// ExpiresAt is when both URLs stop working.
	ExpiresAt time.Time
	// RefreshAt is when a query that hands them out should sign new ones
	// (at least TTL/2 before ExpiresAt).
	RefreshAt time.Time
}

// Signer signs and verifies download URLs. A URL names a conversation, a
// file, a variant and an expiry; the signature is an HMAC-SHA256 over all
// four, so a URL made for one conversation does not open any other's file
// and cannot be extended. Expiries are rounded to buckets of TTL/2: within
// a bucket every caller gets the same URLs, which is what lets a query
// that is shared among a conversation's participants hand them out
// without seeing who asks. Safe for concurrent use.
type Signer struct {
	key    []byte
	base   string // "https://host[:port]" without a trailing slash
	ttl    time.Duration
	bucket time.Duration
}

// MinKeyLen is the shortest accepted signing key.
const MinKeyLen = 32

// NewSigner returns a signer with key (at least MinKeyLen bytes) for URLs
// under base that last between ttl/2 and ttl (ttl of at least 2s, whole
// seconds).
func NewSigner(key []byte, base string, ttl time.Duration) (*Signer, error) {
	if len(key) < MinKeyLen {
		return nil, errors.New("media: the URL signing key must have at least 32 bytes")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, errors.New("media: the base URL must be http(s)://host[:port]")
	}
	ttl = ttl.Truncate(2 * time.Second)
	if ttl < 2*time.Second {
		return nil, errors.New("media: the URL lifetime must be at least 2s")
	}
	return &Signer{key: append([]byte(nil), key...), base: u.Scheme + "://" + u.Host, ttl: ttl, bucket: ttl / 2}, nil
}

// Base returns the URLs' scheme and host.
func (s *Signer) Base() string { return s.base }

// Sign returns the download URLs of file in conversation at time now.
// Calls within the same TTL/2 bucket return identical URLs.
func (s *Signer) Sign(conversationID, fileID string, now time.Time) Signed {
	start := now.Truncate(s.bucket)
	exp := start.Add(s.ttl)
	return Signed{
		URL:          s.url(conversationID, fileID, VariantImage, exp),
		ThumbnailURL: s.url(conversationID, fileID, VariantThumb, exp),
		ExpiresAt:    exp,
		RefreshAt:    start.Add(s.bucket),
	}
}

// DownloadPath is the path of a file's variant, without the query.
func DownloadPath(fileID string, v Variant) string {
	return "/api/storage/" + url.PathEscape(fileID) + "/" + string(v)
}

func (s *Signer) url(conv, file string, v Variant, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	q := url.Values{"c": {conv}, "e": {e}, "s": {s.mac(conv, file, v, e)}}
	return s.base + DownloadPath(file, v) + "?" + q.Encode()
}

func (s *Signer) mac(conv, file string, v Variant, exp string) string {
	m := hmac.New(sha256.New, s.key)
	// Length-prefixed fields: no two tuples share an encoding.
	for _, f := range []string{"parley-media-v1", conv, file, string(v), exp} {
		m.Write([]byte(strconv.Itoa(len(f))))
		m.Write([]byte{':'})
		m.Write([]byte(f))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks a download URL's parts: the signature over (conversation,
// file, variant, expiry) and that the expiry has not passed at now.
func (s *Signer) Verify(conv, file string, v Variant, exp, sig string, now time.Time) error {
	want := s.mac(conv, file, v, exp)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return ErrBadSignature
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return ErrBadSignature // signed, so it parsed when it was made
	}
	if !now.Before(time.Unix(e, 0)) {
		return ErrURLExpired
	}
	return nil
}
