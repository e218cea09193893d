package main

import (
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/devturn"
	"github.com/parley-chat/parley/support"
)

// turnSecretFile holds `parley dev`'s TURN secret in its data directory.
const turnSecretFile = "turn-secret"

// iceOptions are the STUN/TURN flags of dev and serve
// (shared/support:getIceServers, GET /api/ice-servers).
type iceOptions struct {
	stun, turn string // comma-separated URLs
	secret     string
	ttl        time.Duration
	listen     string // dev only: the embedded TURN server's address; "" none
}

func iceFlags(fl *flag.FlagSet, serve bool) *iceOptions {
	o := &iceOptions{}
	fl.StringVar(&o.stun, "stun-url", os.Getenv("PARLEY_STUN_URLS"),
		"STUN servers given to WebRTC clients, comma-separated stun:host[:port] URLs (env PARLEY_STUN_URLS)")
	fl.StringVar(&o.turn, "turn-url", os.Getenv("PARLEY_TURN_URLS"),
		"TURN servers given to WebRTC clients with credentials of their own, comma-separated turn:host[:port][?transport=udp|tcp] "+
			"or turns: URLs (env PARLEY_TURN_URLS); they need --turn-secret")
	fl.StringVar(&o.secret, "turn-secret", os.Getenv("PARLEY_TURN_SECRET"),
		"secret shared with the TURN servers for TURN REST API credentials, coturn's static-auth-secret (env PARLEY_TURN_SECRET)")
	fl.DurationVar(&o.ttl, "turn-ttl", support.DefaultCredentialTTL, "how long a TURN credential is good for")
	if !serve {
		fl.StringVar(&o.listen, "turn-listen", "127.0.0.1:0",
			"UDP address of the embedded TURN/STUN server, used when --turn-url is not given (\"\": none)")
	}
	return o
}

// config is the ICE configuration the flags name.
func (o *iceOptions) config() support.ICEConfig {
	return support.ICEConfig{STUN: splitList(o.stun), TURN: splitList(o.turn), TURNSecret: o.secret, CredentialTTL: o.ttl}
}

// startDevTURN starts dev's embedded TURN server, unless --turn-url names
// others or --turn-listen is empty, and points the options at it. Its
// secret is kept in dataDir. It returns nil when none was started.
func (o *iceOptions) startDevTURN(dataDir string) (*devturn.Server, error) {
	if o.turn != "" || o.listen == "" {
		return nil, nil
	}
	key, err := secretKey("", dataDir, turnSecretFile, "")
	if err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(key)
	srv, err := devturn.Start(o.listen, secret)
	if err != nil {
		return nil, err
	}
	o.turn, o.secret = srv.TURNURL(), secret
	if o.stun == "" {
		o.stun = srv.STUNURL()
	}
	return srv, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
