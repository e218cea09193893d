package jwtauth

import (
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-chat/parley/functions"
)

// Errors returned by Verify. Each one matches ErrInvalidToken as well, and
// each message may be shown to the client as it is.
var (
	// ErrInvalidToken matches every error Verify returns.
	ErrInvalidToken = errors.New("token is invalid")
	// ErrMalformed: not a JWT, or a header or claim that does not decode.
	ErrMalformed = errors.New("token is malformed")
	// ErrAlgorithm: the token's alg is not one the key source accepts.
	ErrAlgorithm = errors.New("token signing algorithm is not allowed")
	// ErrUnknownKey: the token's kid is not in the JWKS, even after a refresh.
	ErrUnknownKey = errors.New("token signing key is not known")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("token signature is invalid")
	// ErrExpired: exp is in the past (beyond the leeway).
	ErrExpired = errors.New("token expired")
	// ErrNotValidYet: nbf or iat is in the future (beyond the leeway).
	ErrNotValidYet = errors.New("token is not valid yet")
	// ErrIssuer: iss differs from Config.Issuer.
	ErrIssuer = errors.New("token issuer is not accepted")
	// ErrAudience: aud does not contain Config.Audience.
	ErrAudience = errors.New("token audience is not accepted")
	// ErrMissingClaim: a required claim is absent or empty; the message names it.
	ErrMissingClaim = errors.New("token is missing a required claim")
	// ErrInvalidClaim: a claim has a value Parley does not accept; the message names it.
	ErrInvalidClaim = errors.New("token has an invalid claim")

	// ErrConfig is returned by New and MintHS256 for unusable settings.
	ErrConfig = errors.New("jwtauth: invalid config")
)

// Defaults for zero Config fields.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultHTTPTimeout        = 10 * time.Second
	DefaultRefreshInterval    = time.Hour
	DefaultMinRefreshInterval = time.Minute

	// MinSecretLen is the shortest HS256 secret accepted (RFC 7518 §3.2).
	MinSecretLen = 32
	// maxTokenLen bounds the work spent on one untrusted token.
	maxTokenLen = 16 << 10
	// maxJWKSBytes bounds a fetched JWKS document.
	maxJWKSBytes = 1 << 20
	// minRSABits is the smallest RSA modulus loaded from a JWKS.
	minRSABits = 2048
)

// Log attribute keys.
const (
	logKeyURL   = "jwks_url"
	logKeyErr   = "error"
	logKeyKeys  = "keys"
	logKeyCause = "cause"
)

// Config selects the key source and the claim checks. Exactly one of
// HS256Secret, JWKSFile and JWKSURL must be set.
type Config struct {
	// HS256Secret is the shared secret for HS256 tokens, at least
	// MinSecretLen bytes. Nil means no secret.
	HS256Secret []byte
	// JWKSFile is a JSON Web Key Set on disk, read once by New. Empty means
	// no file.
	JWKSFile string
	// JWKSURL is a JSON Web Key Set served over HTTPS (plain HTTP only to a
	// loopback host), fetched by New and refreshed by Run and on unknown
	// kids. Empty means no URL.
	JWKSURL string

	// Issuer is the required iss claim. Zero means iss is not checked.
	Issuer string
	// Audience must be one of the aud values. Zero means aud is not checked.
	Audience string
	// Leeway is the clock skew allowed for exp, nbf and iat. Zero means 30s;
	// negative means none.
	Leeway time.Duration

	// HTTPClient fetches JWKSURL. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// HTTPTimeout bounds one JWKS fetch. Zero means 10s.
	HTTPTimeout time.Duration
	// RefreshInterval is how often Run refetches JWKSURL. Zero means 1h.
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two fetches triggered by
	// unknown kids. Zero means 1m.
	MinRefreshInterval time.Duration

	// GuestKey is the HS256 key of the guest tokens Parley mints itself
	// (MintGuest, POST /api/guest): a token whose iss is GuestIssuer is
	// verified with it and nothing else, and must be a guest's. At least
	// MinSecretLen bytes, and not HS256Secret. Nil means guest tokens are
	// not accepted.
	GuestKey []byte

	// Logger receives JWKS refresh outcomes. Nil means discard.
	Logger *slog.Logger
}

// Verifier checks tokens against one key source. It is safe for concurrent
// use.
type Verifier struct {
	methods []string
	// keyfunc finds a token's key; ctx is Verify's.
	keyfunc  func(ctx context.Context, t *jwt.Token) (any, error)
	parser   *jwt.Parser
	leeway   time.Duration // the parser's, added to an identity's ExpiresAt
	log      *slog.Logger
	issuer   string
	audience string

	// JWKS URL source only; zero otherwise.
	url             string
	client          *http.Client
	httpTimeout     time.Duration
	refreshInterval time.Duration
	minRefresh      time.Duration
	store           *jwkset.MemoryJWKSet
	kf              keyfunc.Keyfunc

	refreshMu   sync.Mutex // serialises fetches; guards lastRefresh
	lastRefresh time.Time

	// guests verifies the tokens whose iss is GuestIssuer; nil when
	// Config.GuestKey is. A guest verifier's own guests is nil and its
	// guestOnly true.
	guests    *Verifier
	guestOnly bool
}

// New validates cfg, fills defaults and loads the keys. ctx bounds the
// initial JWKS fetch only; refreshing afterwards is Run's job.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	sources := 0
	for _, set := range []bool{cfg.HS256Secret != nil, cfg.JWKSFile != "", cfg.JWKSURL != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, fmt.Errorf("%w: exactly one of HS256Secret, JWKSFile and JWKSURL must be set, got %d", ErrConfig, sources)
	}
	if cfg.Issuer == GuestIssuer {
		return nil, fmt.Errorf("%w: Issuer %q is the guest tokens' own", ErrConfig, GuestIssuer)
	}
	var guests *Verifier
	if cfg.GuestKey != nil {
		if len(cfg.GuestKey) < MinSecretLen {
			return nil, fmt.Errorf("%w: GuestKey has %d bytes, need at least %d", ErrConfig, len(cfg.GuestKey), MinSecretLen)
		}
		if cfg.HS256Secret != nil && hmac.Equal(cfg.HS256Secret, cfg.GuestKey) {
			return nil, fmt.Errorf("%w: GuestKey must differ from HS256Secret (whoever holds the secret could mint guests)", ErrConfig)
		}
		gcfg := Config{Issuer: GuestIssuer, Leeway: cfg.Leeway}
		guests = newVerifier(gcfg)
		guests.useSecret(cfg.GuestKey)
		guests.parser, guests.leeway = newParser(gcfg, guests.methods), leewayOf(gcfg)
		guests.guestOnly = true
	}
	v := newVerifier(cfg)
	v.guests = guests
	switch {
	case cfg.HS256Secret != nil:
		if len(cfg.HS256Secret) < MinSecretLen {
			return nil, fmt.Errorf("%w: HS256Secret has %d bytes, need at least %d", ErrConfig, len(cfg.HS256Secret), MinSecretLen)
		}
		v.useSecret(cfg.HS256Secret)

	case cfg.JWKSFile != "":
		raw, err := os.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("read jwks file: %w", err)
		}
		keys, err := parseJWKS(raw)
		if err != nil {
			return nil, fmt.Errorf("load jwks file %s: %w", cfg.JWKSFile, err)
		}
		if err := v.useStore(keys); err != nil {
			return nil, err
		}

	default:
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil {
			return nil, fmt.Errorf("%w: JWKSURL: %w", ErrConfig, err)
		}
		if u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())) {
			return nil, fmt.Errorf("%w: JWKSURL must be https (http only to a loopback host): %s", ErrConfig, cfg.JWKSURL)
		}
		v.url = cfg.JWKSURL
		keys, err := v.fetch(ctx)
		if err != nil {
			return nil, fmt.Errorf("fetch jwks %s: %w", v.url, err)
		}
		if err := v.useStore(keys); err != nil {
			return nil, err
		}
		v.lastRefresh = time.Now()
	}
	v.parser, v.leeway = newParser(cfg, v.methods), leewayOf(cfg)
	return v, nil
}

// newVerifier fills a Verifier's settings from cfg, without its keys or
// parser, which New installs.
func newVerifier(cfg Config) *Verifier {
	v := &Verifier{
		log:             cfg.Logger,
		issuer:          cfg.Issuer,
		audience:        cfg.Audience,
		client:          cfg.HTTPClient,
		httpTimeout:     orDefault(cfg.HTTPTimeout, DefaultHTTPTimeout),
		refreshInterval: orDefault(cfg.RefreshInterval, DefaultRefreshInterval),
		minRefresh:      orDefault(cfg.MinRefreshInterval, DefaultMinRefreshInterval),
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.client == nil {
		v.client = http.DefaultClient
	}
	return v
}

// useSecret installs an HS256 secret (a copy) as the key source.
func (v *Verifier) useSecret(s []byte) {
	secret := append([]byte(nil), s...)
	v.methods = []string{jwt.SigningMethodHS256.Alg()}
	v.keyfunc = func(context.Context, *jwt.Token) (any, error) { return secret, nil }
}

// leewayOf is cfg's clock skew allowance.
func leewayOf(cfg Config) time.Duration {
	switch {
	case cfg.Leeway == 0:
		return DefaultLeeway
	case cfg.Leeway < 0:
		return 0
	}
	return cfg.Leeway
}

// newParser is the token parser of cfg's claim checks, for methods.
func newParser(cfg Config, methods []string) *jwt.Parser {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leewayOf(cfg)),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return jwt.NewParser(opts...)
}

// useStore installs keys behind keyfunc for a JWKS source.
func (v *Verifier) useStore(keys []jwkset.JWK) error {
	v.methods = []string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg()}
	v.store = jwkset.NewMemoryStorage()
	if err := v.store.KeyReplaceAll(context.Background(), keys); err != nil {
		return fmt.Errorf("store jwks: %w", err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Storage: v.store})
	if err != nil {
		return fmt.Errorf("create keyfunc: %w", err)
	}
	v.kf = kf
	v.keyfunc = v.jwksKey
	return nil
}

// Run refreshes a JWKS URL every RefreshInterval until ctx ends, then
// returns nil. A failed refresh is logged and the previous keys are kept.
// For the other key sources Run returns nil at once. Run starts no
// goroutine.
func (v *Verifier) Run(ctx context.Context) error {
	if v.url == "" {
		return nil
	}
	t := time.NewTicker(v.refreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			v.refreshMu.Lock()
			v.refreshLocked(ctx, "interval")
			v.refreshMu.Unlock()
		}
	}
}

// refreshLocked fetches the URL and replaces the key set. The caller holds
// refreshMu. It reports whether the set was replaced.
func (v *Verifier) refreshLocked(ctx context.Context, cause string) bool {
	v.lastRefresh = time.Now()
	keys, err := v.fetch(ctx)
	if err != nil {
		if ctx.Err() == nil {
			v.log.Warn("jwks refresh failed, keeping previous keys",
				logKeyURL, v.url, logKeyCause, cause, logKeyErr, err)
		}
		return false
	}
	// MemoryJWKSet.KeyReplaceAll cannot fail.
	_ = v.store.KeyReplaceAll(ctx, keys)
	v.log.Debug("jwks refreshed", logKeyURL, v.url, logKeyCause, cause, logKeyKeys, len(keys))
	return true
}

// fetch downloads and parses the JWKS at v.url.
func (v *Verifier) fetch(ctx context.Context) ([]jwkset.JWK, error) {
	ctx, cancel := context.WithTimeout(ctx, v.httpTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("unexpected HTTP status %s", resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(raw) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks larger than %d bytes", maxJWKSBytes)
	}
	return parseJWKS(raw)
}

// jwksKey is the keyfunc for JWKS sources. An unknown kid triggers one
// rate-limited refresh of a JWKS URL, in the caller's goroutine, bounded
// by ctx and by HTTPTimeout (fetch). A caller whose ctx has ended, while
// it waited for another's refresh or before, fetches nothing. A refresh
// that ctx cuts short counts against MinRefreshInterval all the same: the
// limit protects the issuer from tokens with made-up kids, whose senders
// may hang up at once.
func (v *Verifier) jwksKey(ctx context.Context, t *jwt.Token) (any, error) {
	key, err := v.kf.Keyfunc(t)
	if err == nil || v.url == "" || !errors.Is(err, jwkset.ErrKeyNotFound) {
		return key, err
	}
	v.refreshMu.Lock()
	if ctx.Err() == nil && time.Since(v.lastRefresh) >= v.minRefresh {
		v.refreshLocked(ctx, "unknown kid")
	}
	v.refreshMu.Unlock()
	return v.kf.Keyfunc(t)
}

// parseJWKS loads the RSA and EC signing keys of a JWKS, public parts only.
func parseJWKS(raw []byte) ([]jwkset.JWK, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	var keys []jwkset.JWK
	for i, m := range set.Keys {
		if m.KTY != jwkset.KtyRSA && m.KTY != jwkset.KtyEC {
			continue
		}
		if m.USE != "" && m.USE != jwkset.UseSig {
			continue
		}
		// Never hold private key material.
		m.D, m.P, m.Q, m.DP, m.DQ, m.QI, m.OTH = "", "", "", "", "", "", nil
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if errors.Is(err, jwkset.ErrUnsupportedKey) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, m.KID, err)
		}
		if pub, ok := k.Key().(*rsa.PublicKey); ok && pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("key %d (kid %q): RSA key has %d bits, need at least %d", i, m.KID, pub.N.BitLen(), minRSABits)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks has no RSA or EC signing key")
	}
	return keys, nil
}

// claims is the token payload Parley reads.
type claims struct {
	jwt.RegisteredClaims
	Role    string `json:"role,omitempty"`
	Name    string `json:"name,omitempty"`
	StoreID string `json:"store_id,omitempty"`
	Org     string `json:"org,omitempty"`
	Email   string `json:"email,omitempty"`
}

// MaxOrgLen bounds the org claim, in bytes.
const MaxOrgLen = 128

// Verify checks token and returns the identity it proves. Every error
// matches ErrInvalidToken and has a message that may be shown to a client.
// ctx bounds the JWKS refresh that a token with an unknown kid triggers;
// should it end first, the kid stays unknown (ErrUnknownKey).
//
// A token whose (unverified) iss claim is GuestIssuer is a guest token:
// it is verified with Config.GuestKey alone (VerifyGuest), never with the
// configured key source. Every other token is verified with the key
// source and may not claim role guest nor a subject starting with
// GuestSubjectPrefix.
func (v *Verifier) Verify(ctx context.Context, token string) (*functions.Identity, error) {
	if err := checkLength(token); err != nil {
		return nil, err
	}
	if !v.guestOnly && unverifiedIssuer(token) == GuestIssuer {
		return v.VerifyGuest(ctx, token)
	}
	return v.verify(ctx, token)
}

// VerifyGuest checks a guest token (MintGuest) and returns the guest it
// proves: signed with Config.GuestKey, iss GuestIssuer, role guest. Any
// other token is rejected, as is every token when Config.GuestKey is nil
// (ErrIssuer). Its errors are Verify's.
func (v *Verifier) VerifyGuest(ctx context.Context, token string) (*functions.Identity, error) {
	if err := checkLength(token); err != nil {
		return nil, err
	}
	if v.guests == nil {
		return nil, reject(ErrIssuer, "guest tokens are not accepted: guest access is off")
	}
	if unverifiedIssuer(token) != GuestIssuer {
		return nil, reject(ErrIssuer, "not a guest token")
	}
	return v.guests.verify(ctx, token)
}

func checkLength(token string) error {
	if token == "" {
		return reject(ErrMalformed, "token is empty")
	}
	if len(token) > maxTokenLen {
		return reject(ErrMalformed, "token is too long")
	}
	return nil
}

// unverifiedIssuer is token's iss claim, unverified: it only picks the
// verifier, which then checks everything. "" when the token does not
// decode.
func unverifiedIssuer(token string) string {
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		return ""
	}
	return c.Issuer
}

func (v *Verifier) verify(ctx context.Context, token string) (*functions.Identity, error) {
	var c claims
	t, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) { return v.keyfunc(ctx, t) })
	if err != nil {
		return nil, v.translate(t, &c, err)
	}
	if c.Subject == "" {
		return nil, reject(ErrMissingClaim, "token has no sub claim")
	}
	from := identityFromClaims
	if v.guestOnly {
		from = guestFromClaims
	}
	id, err := from(&c)
	if err != nil {
		return nil, err
	}
	// A session ends when an HTTP call with the same token would first be
	// refused: exp plus the leeway, not exp.
	if !id.ExpiresAt.IsZero() {
		id.ExpiresAt = id.ExpiresAt.Add(v.leeway)
	}
	return id, nil
}

// identityFromClaims checks the claims of a token of the key source:
// every role but guest's, whose tokens only Parley mints.
func identityFromClaims(c *claims) (*functions.Identity, error) {
	role := functions.Role(c.Role)
	switch {
	case c.Role == "":
		return nil, reject(ErrMissingClaim, "token has no role claim")
	case !role.Valid() || role == functions.RoleGuest:
		return nil, reject(ErrInvalidClaim, "token role claim must be customer, store or admin")
	case strings.HasPrefix(c.Subject, GuestSubjectPrefix):
		return nil, reject(ErrInvalidClaim, "token sub claim must not start with "+GuestSubjectPrefix+", which guests' subjects do")
	case role == functions.RoleStore && c.StoreID == "":
		return nil, reject(ErrMissingClaim, "token has no store_id claim, which role store requires")
	}
	if err := checkOrg(c.Org); err != nil {
		return nil, err
	}
	id := &functions.Identity{Subject: c.Subject, Role: role, Name: c.Name, Org: c.Org, Email: claimEmail(c.Email)}
	if c.ExpiresAt != nil {
		id.ExpiresAt = c.ExpiresAt.Time
	}
	if role == functions.RoleStore {
		id.StoreID = c.StoreID
	}
	return id, nil
}

// MaxEmailLen bounds the email claim, in bytes (RFC 5321's path limit).
const MaxEmailLen = 254

// claimEmail is the email claim's address, or "" when it is not one (a
// bare addr-spec of at most MaxEmailLen bytes): the claim is optional, so
// a token is never refused for it; a malformed one only gives no address.
func claimEmail(s string) string {
	if s == "" || len(s) > MaxEmailLen {
		return ""
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return ""
	}
	return s
}

// checkOrg checks an org claim: at most MaxOrgLen bytes, no spaces or
// control characters.
func checkOrg(org string) error {
	switch {
	case len(org) > MaxOrgLen:
		return reject(ErrInvalidClaim, fmt.Sprintf("token org claim must be at most %d bytes", MaxOrgLen))
	case strings.IndexFunc(org, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0:
		return reject(ErrInvalidClaim, "token org claim must have no spaces or control characters")
	}
	return nil
}

// ValidOrg reports why org cannot be an org claim, or nil: at most
// MaxOrgLen bytes, no spaces or control characters.
func ValidOrg(org string) error { return checkOrg(org) }

// translate maps a jwt error to a client-safe rejection.
func (v *Verifier) translate(t *jwt.Token, c *claims, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return reject(ErrMalformed, "")
	case t == nil || t.Method == nil || !v.allowed(t.Method.Alg()):
		return reject(ErrAlgorithm, "")
	case errors.Is(err, jwkset.ErrKeyNotFound):
		return reject(ErrUnknownKey, "")
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return reject(ErrSignature, "")
	case errors.Is(err, jwt.ErrTokenExpired):
		return reject(ErrExpired, "")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return reject(ErrNotValidYet, "")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		switch {
		case c.ExpiresAt == nil:
			return reject(ErrMissingClaim, "token has no exp claim")
		case v.issuer != "" && c.Issuer == "":
			return reject(ErrMissingClaim, "token has no iss claim")
		case v.audience != "" && len(c.Audience) == 0:
			return reject(ErrMissingClaim, "token has no aud claim")
		}
		return reject(ErrMissingClaim, "")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return reject(ErrIssuer, "")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return reject(ErrAudience, "")
	}
	return reject(ErrInvalidClaim, "")
}

func (v *Verifier) allowed(alg string) bool {
	for _, m := range v.methods {
		if m == alg {
			return true
		}
	}
	return false
}

// MintHS256 signs an HS256 token for id that expires after ttl. It sets
// sub, role, name, store_id, org, email, iat and exp, and refuses an identity that
// Verify would reject.
func MintHS256(secret []byte, id functions.Identity, ttl time.Duration) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("%w: secret has %d bytes, need at least %d", ErrConfig, len(secret), MinSecretLen)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("%w: ttl must be positive, got %s", ErrConfig, ttl)
	}
	if id.Subject == "" {
		return "", fmt.Errorf("mint token: %w", reject(ErrMissingClaim, "token has no sub claim"))
	}
	c := claims{Role: string(id.Role), Name: id.Name, StoreID: id.StoreID, Org: id.Org, Email: id.Email}
	c.Subject = id.Subject
	if id.Email != "" && claimEmail(id.Email) == "" {
		return "", fmt.Errorf("mint token: %w", reject(ErrInvalidClaim, "token email claim is not an email address"))
	}
	if _, err := identityFromClaims(&c); err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	now := time.Now()
	c.Subject = id.Subject
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// rejection is a Verify error: a client-safe message, a specific sentinel
// and ErrInvalidToken.
type rejection struct {
	kind error
	msg  string
}

func reject(kind error, msg string) error { return &rejection{kind: kind, msg: msg} }

func (r *rejection) Error() string {
	if r.msg != "" {
		return r.msg
	}
	return r.kind.Error()
}

func (r *rejection) Unwrap() []error { return []error{r.kind, ErrInvalidToken} }

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
