package main

import (
	"flag"
	"time"

	"github.com/parley-chat/parley/internal/guestauth"
)

// guestKeyFile holds the guest token signing key in `parley dev`'s data
// directory, and in serve's media directory when no key is given.
const guestKeyFile = "guest-key"

// guestOptions are the guest access flags of dev and serve.
type guestOptions struct {
	on    bool
	key   string // serve only: hex or text, at least 32 bytes
	ttl   time.Duration
	rate  float64
	burst int
}

// guestFlags declares the guest flags on fl. Guests are on under dev and
// off under serve unless asked for (env PARLEY_GUESTS): POST /api/guest is
// a way in for anyone, which a deployment should choose to open.
func guestFlags(fl *flag.FlagSet, serve bool) *guestOptions {
	o := &guestOptions{}
	if serve {
		fl.BoolVar(&o.on, "guests", envOr("PARLEY_GUESTS", "false") == "true",
			"guest access: POST /api/guest gives widget visitors without an account a guest token for support chat (env PARLEY_GUESTS=true)")
		fl.StringVar(&o.key, "guest-key", "",
			"key signing guest tokens, at least 32 bytes or 64 hex digits, not the JWT secret (env PARLEY_GUEST_KEY); "+
				"empty: a key kept in MEDIA-DIR/"+guestKeyFile)
	} else {
		fl.BoolVar(&o.on, "guests", true, "guest access: POST /api/guest gives widget visitors a guest token for support chat")
	}
	fl.DurationVar(&o.ttl, "guest-ttl", guestauth.DefaultTTL, "lifetime of a guest token")
	fl.Float64Var(&o.rate, "guest-rate", guestauth.DefaultPerSecond,
		"guest tokens per second one client address may get (an IPv6 /64 is one address; negative: no limit)")
	fl.IntVar(&o.burst, "guest-burst", guestauth.DefaultBurst, "guest tokens one client address may get at once")
	return o
}

// resolveKey returns the guest key: nil when guests are off, else the
// given one (serve's --guest-key, else env PARLEY_GUEST_KEY), else the one
// kept in dir, created once.
func (o *guestOptions) resolveKey(given, dir string) ([]byte, error) {
	if !o.on {
		return nil, nil
	}
	if o.key != "" {
		given = o.key
	}
	return secretKey(given, dir, guestKeyFile, "--guest-key")
}

// config is the server's guest configuration with key (nil: off).
func (o *guestOptions) config(key []byte) guestauth.Config {
	return guestauth.Config{Key: key, TTL: o.ttl, PerSecond: o.rate, Burst: o.burst}
}

// guestNote is the startup message's line about guest access.
func guestNote(url string, on bool) string {
	if !on {
		return "off (--guests=false)"
	}
	return "POST " + url + guestauth.Path + " mints a guest token; the support widget is " + url + "/widget"
}
