package devauth

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/schema"
)

// Paths of the dev-only endpoints.
const (
	IdentitiesPath = "/dev/identities"
	TokenPath      = "/dev/token"
)

// maxBodyBytes bounds a token request.
const maxBodyBytes = 4 << 10

// Identity is a demo identity the dev sign-in offers.
type Identity struct {
	// Key is the short name a token request may use ("john").
	Key string `json:"key"`
	functions.Identity
	// StoreName is the store a store identity works for.
	StoreName string `json:"storeName,omitempty"`
	// About says what the identity is good for in the demo.
	About string `json:"about"`
}

// Identities are the demo identities of schema.SeedDemo, in the order the
// sign-in screen lists them.
var Identities = []Identity{
	{Key: "john", Identity: functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer, Name: "John Doe"},
		About: "Customer with two Pizza Palace orders and a cancelled Burger Barn order"},
	{Key: "jane", Identity: functions.Identity{Subject: schema.DemoOtherCustomerID, Role: functions.RoleCustomer, Name: "Jane Roe"},
		About: "Customer with no orders: may contact support only"},
	{Key: "pizza", Identity: functions.Identity{Subject: schema.DemoStaffID, Role: functions.RoleStore, Name: "Pizza Palace Support", StoreID: schema.DemoStoreID},
		StoreName: "Pizza Palace", About: "Store staff: the Pizza Palace inbox"},
	{Key: "kitchen", Identity: functions.Identity{Subject: schema.DemoStaff2ID, Role: functions.RoleStore, Name: "Pizza Palace Kitchen", StoreID: schema.DemoStoreID},
		StoreName: "Pizza Palace", About: "Store staff: Pizza Palace's kitchen, a colleague to add to groups"},
	{Key: "burger", Identity: functions.Identity{Subject: schema.DemoClosedStaffID, Role: functions.RoleStore, Name: "Burger Barn Support", StoreID: schema.DemoClosedStoreID},
		StoreName: "Burger Barn", About: "Store staff: the Burger Barn inbox"},
	{Key: "admin", Identity: functions.Identity{Subject: schema.DemoAdminID, Role: functions.RoleAdmin, Name: "Parley Support"},
		About: "Support admin: the support console"},
	{Key: "alex", Identity: functions.Identity{Subject: schema.DemoAdmin2ID, Role: functions.RoleAdmin, Name: "Alex Admin"},
		About: "Second support admin, to transfer conversations to"},
}

// Lookup finds a demo identity by key or subject.
func Lookup(keyOrSubject string) (Identity, bool) {
	for _, id := range Identities {
		if id.Key == keyOrSubject || id.Subject == keyOrSubject {
			return id, true
		}
	}
	return Identity{}, false
}

// Register adds GET IdentitiesPath and POST TokenPath to mux. Tokens are
// signed with secret (the dev secret) and live for ttl.
func Register(mux *http.ServeMux, secret []byte, ttl time.Duration) {
	mux.HandleFunc("GET "+IdentitiesPath, func(w http.ResponseWriter, r *http.Request) {
		if !allowed(w, r) {
			return
		}
		writeJSON(w, http.StatusOK, Identities)
	})
	mux.HandleFunc("POST "+TokenPath, func(w http.ResponseWriter, r *http.Request) {
		if !allowed(w, r) {
			return
		}
		var req struct {
			Identity string `json:"identity"`
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, `body must be {"identity": KEY or ID}`)
			return
		}
		id, ok := Lookup(req.Identity)
		if !ok {
			writeError(w, http.StatusNotFound, "no demo identity "+req.Identity)
			return
		}
		tok, err := jwtauth.MintHS256(secret, id.Identity, ttl)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "mint token")
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Token    string   `json:"token"`
			Identity Identity `json:"identity"`
		}{tok, id})
	})
}

// allowed answers 403 unless r comes from this machine, names this machine
// as its host (a DNS-rebinding page names its own), and is not from a page
// of another origin: the dev sign-in mints tokens for anyone who asks, so
// it must never be reachable from a network, even when `parley dev` is
// started with --addr 0.0.0.0.
func allowed(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case proxied(r):
		writeError(w, http.StatusForbidden, "the dev sign-in does not answer through a proxy (the request carries forwarding headers); open parley dev directly, or use `parley token`")
		return false
	case !loopbackAddr(r.RemoteAddr) || !loopbackHost(r.Host):
		writeError(w, http.StatusForbidden, "the dev sign-in answers only requests from this machine to a loopback address (http://127.0.0.1:PORT or http://localhost:PORT); elsewhere use `parley token`")
		return false
	case !sameOrigin(r):
		writeError(w, http.StatusForbidden, "cross-origin requests are not allowed")
		return false
	}
	return true
}

// Direct reports whether r comes straight from this machine: a loopback
// peer and no proxy in between that says so. The dev proxy of
// `parley dev --nodes` passes such a request on as it came, so that the
// dev sign-in still answers it.
func Direct(r *http.Request) bool { return !proxied(r) && loopbackAddr(r.RemoteAddr) }

// proxied reports whether r came through a proxy that says so: a local
// reverse proxy could otherwise relay requests from the network with a
// loopback Host.
func proxied(r *http.Request) bool {
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip", "Via"} {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

// loopbackAddr reports whether a remote address (host:port) is loopback.
func loopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHost reports whether a Host header names this machine: localhost
// or a loopback IP, with any port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin reports whether r has no Origin header or one naming the
// host it was sent to.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // fixed shapes of strings: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
