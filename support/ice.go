package support

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API's credential is HMAC-SHA1 by definition
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley/functions"
)

// ICEConfig names the STUN and TURN servers WebRTC clients are given
// (seed 004's call bridge): getIceServers and GET /api/ice-servers answer
// with them in RTCPeerConnection's shape.
type ICEConfig struct {
	// STUN are stun: or stuns: URLs, given to every caller.
	STUN []string
	// TURN are turn: or turns: URLs; each caller gets them with
	// credentials of their own in the TURN REST API scheme. They need
	// TURNSecret.
	TURN []string
	// TURNSecret is the secret shared with the TURN server (coturn's
	// use-auth-secret and static-auth-secret).
	TURNSecret string
	// CredentialTTL is how long a TURN credential is good for. Zero means
	// DefaultCredentialTTL.
	CredentialTTL time.Duration
}

// DefaultCredentialTTL is how long a TURN credential is good for.
const DefaultCredentialTTL = time.Hour

// Validate reports a URL that is not a STUN or TURN URL, and TURN URLs
// without a secret.
func (c ICEConfig) Validate() error {
	for _, u := range c.STUN {
		if err := checkICEURL(u, "stun", "stuns"); err != nil {
			return err
		}
	}
	for _, u := range c.TURN {
		if err := checkICEURL(u, "turn", "turns"); err != nil {
			return err
		}
	}
	if len(c.TURN) > 0 && c.TURNSecret == "" {
		return fmt.Errorf("support: TURN servers need the secret shared with them (--turn-secret)")
	}
	if c.CredentialTTL < 0 {
		return fmt.Errorf("support: the TURN credential lifetime must be positive")
	}
	return nil
}

// checkICEURL checks an RFC 7064/7065 URL: one of schemes, a host, an
// optional port, for TURN an optional transport.
func checkICEURL(raw string, schemes ...string) error {
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok || (scheme != schemes[0] && scheme != schemes[1]) {
		return fmt.Errorf("support: %q is not a %s: or %s: URL", raw, schemes[0], schemes[1])
	}
	hostport, query, _ := strings.Cut(rest, "?")
	if strings.HasPrefix(hostport, "//") || strings.ContainsAny(hostport, "/@") {
		return fmt.Errorf("support: %q: a %s URL is %s:host[:port], with no // or path", raw, scheme, scheme)
	}
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("support: %q: port must be 1 to 65535", raw)
		}
		host = h
	} else if strings.Contains(hostport, ":") && !strings.HasPrefix(hostport, "[") {
		return fmt.Errorf("support: %q: an IPv6 host goes in brackets, [::1]", raw)
	}
	if host == "" {
		return fmt.Errorf("support: %q has no host", raw)
	}
	if query != "" {
		v, err := url.ParseQuery(query)
		tr := v.Get("transport")
		if err != nil || len(v) != 1 || (tr != "udp" && tr != "tcp") || !strings.HasPrefix(scheme, "turn") {
			return fmt.Errorf("support: %q: the one query a URL may have is a TURN URL's ?transport=udp or tcp", raw)
		}
	}
	return nil
}

// ICEServer is one entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs []string `json:"urls"`
	// Username and Credential are set for TURN servers.
	Username   *string `json:"username,omitempty"`
	Credential *string `json:"credential,omitempty"`
}

// ICEServers is getIceServers' result: iceServers as RTCPeerConnection
// takes them, and when the TURN credentials in it stop working.
type ICEServers struct {
	ICEServers []ICEServer `json:"iceServers"`
	// ExpiresAt is the TURN credentials' expiry (ms since the epoch); null
	// when there are none.
	ExpiresAt *int64 `json:"expiresAt"`
}

// TURNCredential is the TURN REST API's credential for user until
// expires: the username "<expiry in Unix seconds>:<user>", the credential
// the base64 HMAC-SHA1 of the username keyed with the shared secret. A
// TURN server with the same secret (coturn's use-auth-secret) checks it
// without asking Parley.
func TURNCredential(secret, user string, expires time.Time) (username, credential string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + user
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// credentialExpiry is when a credential issued at now expires: on a grid
// of half the lifetime, so that it is good for between half and all of
// it, and the calls of one window give one answer.
func credentialExpiry(now time.Time, ttl time.Duration) time.Time {
	half := ttl / 2
	return now.Truncate(half).Add(half).Add(half)
}

// getIceServers returns the configured STUN servers and, with credentials
// of the caller's own, the TURN servers. It is live in the sense that
// matters: it re-runs when the credentials reach the second half of their
// life, so a subscriber always holds ones good for half the lifetime.
func (s *Service) getIceServers(c *functions.QueryCtx, _ functions.EmptyArgs) (ICEServers, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return ICEServers{}, err
	}
	ice := s.cfg.ICE
	out := ICEServers{ICEServers: []ICEServer{}}
	if len(ice.STUN) > 0 {
		out.ICEServers = append(out.ICEServers, ICEServer{URLs: ice.STUN})
	}
	if len(ice.TURN) > 0 {
		ttl := ice.CredentialTTL
		if ttl <= 0 {
			ttl = DefaultCredentialTTL
		}
		// The user in the username: the subject, and its org when it has
		// one, so that two orgs' users of one id are told apart in the
		// TURN server's logs and quotas.
		user := id.Subject
		if id.Org != "" {
			user = id.Org + "/" + id.Subject
		}
		expires := credentialExpiry(time.Now(), ttl)
		username, credential := TURNCredential(ice.TURNSecret, user, expires)
		out.ICEServers = append(out.ICEServers, ICEServer{URLs: ice.TURN, Username: &username, Credential: &credential})
		ms := expires.UnixMilli()
		out.ExpiresAt = &ms
		c.RefreshAt(expires.Add(-ttl / 2))
	}
	return out, nil
}
