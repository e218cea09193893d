package transport

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/parley-chat/parley/functions"
)

// Tickets: a short-lived, single-use stand-in for a JWT in a URL. A
// browser's EventSource cannot send an Authorization header, and a JWT in
// a URL would end up in proxy and server logs for as long as it is valid;
// a ticket is worth one stream, for a minute. POST /api/tickets, with the
// JWT as a bearer token, answers {ticket, expiresAt}; the stream's URL
// carries ?ticket=.
//
// Tickets are kept in a TicketStore (Config.Tickets), by default this
// server's memory: a ticket is good only on the server that issued it.
// Several nodes behind a balancer share one store (internal/pgtickets:
// Postgres), so that a ticket bought from one is good, once, on any.

// TicketStore keeps issued tickets by the SHA-256 of their text: a store
// never sees a ticket itself. Implementations must be safe for concurrent
// use; Config.Tickets nil means one in this server's memory.
type TicketStore interface {
	// Issue records a ticket (its hash) for id, good until expires (never
	// past id.ExpiresAt, which Redeem must give back). ErrUserTickets when
	// id's user (Org and Subject) has MaxUserTickets neither used nor
	// expired at now; ErrTooManyTicket when the store is full. Other
	// errors answer 503 without their text.
	Issue(ctx context.Context, hash [32]byte, id *functions.Identity, expires, now time.Time) error
	// Redeem uses up the ticket of hash and returns the identity it was
	// issued for, or ErrTicketUnknown, ErrTicketUsed or ErrTicketExpired
	// (at now). A ticket is redeemed once, whoever asks. Other errors
	// answer 503 without their text.
	Redeem(ctx context.Context, hash [32]byte, now time.Time) (*functions.Identity, error)
}

// ticketQuery is the query parameter that carries a ticket.
const ticketQuery = "ticket"

// Ticket errors. Each answers 401 with its message.
var (
	ErrTicketUnknown = errors.New("transport: unknown ticket (it was never issued by this server, or it expired and was forgotten)")
	ErrTicketUsed    = errors.New("transport: ticket already used (a ticket is good for one request; get a new one from POST /api/tickets)")
	ErrTicketExpired = errors.New("transport: ticket expired (get a new one from POST /api/tickets)")
	ErrTooManyTicket = errors.New("transport: too many outstanding tickets")
	ErrUserTickets   = errors.New("transport: too many unused tickets for this user (use one, or wait a minute for them to expire)")
)

// maxTickets bounds the tickets one server's memory keeps (issued and not yet
// forgotten); beyond it POST /api/tickets answers 503.
const maxTickets = 100_000

// MaxUserTickets bounds one user's tickets issued and neither used nor
// expired, so that one token cannot fill a store for everyone; beyond it
// POST /api/tickets answers 429. An EventSource needs one per
// (re)connection, and a ticket lasts a minute.
const MaxUserTickets = 50

// ticketEntry is an issued ticket: the identity its JWT proved.
type ticketEntry struct {
	id      *functions.Identity
	user    string // whose outstanding count it is in, while counted
	expires time.Time
	used    bool
	counted bool // in perUser: neither used nor seen expired by a sweep
}

// tickets is the TicketStore in memory: issued tickets by the SHA-256 of
// their text (a map lookup by the secret itself would leak timing about
// it). A used or expired ticket is remembered until ttl after its expiry,
// so that its reuse is told apart from a forgery for that long. Safe for
// concurrent use.
type tickets struct {
	ttl time.Duration

	mu        sync.Mutex
	byHash    map[[32]byte]*ticketEntry
	perUser   map[string]int // user → counted entries
	lastSweep time.Time
}

var _ TicketStore = (*tickets)(nil)

func newTickets(ttl time.Duration) *tickets {
	return &tickets{ttl: ttl, byHash: map[[32]byte]*ticketEntry{}, perUser: map[string]int{}}
}

// mintTicket returns a new ticket for id, its hash and its expiry: ttl
// from now, and never past id's token.
func mintTicket(id *functions.Identity, ttl time.Duration, now time.Time) (ticket string, hash [32]byte, expires time.Time) {
	var raw [32]byte
	rand.Read(raw[:]) // never fails (crypto/rand)
	ticket = base64.RawURLEncoding.EncodeToString(raw[:])
	expires = now.Add(ttl)
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(expires) {
		expires = id.ExpiresAt // a ticket never outlives its token
	}
	return ticket, sha256.Sum256([]byte(ticket)), expires
}

// issue returns a new ticket for id and its expiry.
func (t *tickets) issue(id *functions.Identity, now time.Time) (string, time.Time, error) {
	ticket, hash, expires := mintTicket(id, t.ttl, now)
	if err := t.Issue(context.Background(), hash, id, expires, now); err != nil {
		return "", time.Time{}, err
	}
	return ticket, expires, nil
}

// redeem uses up ticket and returns the identity it stands for.
func (t *tickets) redeem(ticket string, now time.Time) (*functions.Identity, error) {
	return t.Redeem(context.Background(), sha256.Sum256([]byte(ticket)), now)
}

// ticketUser is whose tickets an identity's count: its user in its org.
func ticketUser(id *functions.Identity) string { return id.Org + "\x00" + id.Subject }

// uncountLocked takes e out of its user's outstanding count.
func (t *tickets) uncountLocked(e *ticketEntry) {
	if !e.counted {
		return
	}
	e.counted = false
	if t.perUser[e.user]--; t.perUser[e.user] <= 0 {
		delete(t.perUser, e.user)
	}
}

// Issue implements TicketStore.
func (t *tickets) Issue(_ context.Context, hash [32]byte, id *functions.Identity, expires, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	user := ticketUser(id)
	// A full table, or a user at the limit, sweeps first (at most once a
	// second for the latter, so that asking again costs no full scan).
	if now.Sub(t.lastSweep) >= t.ttl || len(t.byHash) >= maxTickets ||
		(t.perUser[user] >= MaxUserTickets && now.Sub(t.lastSweep) >= time.Second) {
		t.sweepLocked(now)
	}
	if t.perUser[user] >= MaxUserTickets {
		return ErrUserTickets
	}
	if len(t.byHash) >= maxTickets {
		return ErrTooManyTicket
	}
	t.byHash[hash] = &ticketEntry{id: id, user: user, expires: expires, counted: true}
	t.perUser[user]++
	return nil
}

// Redeem implements TicketStore.
func (t *tickets) Redeem(_ context.Context, h [32]byte, now time.Time) (*functions.Identity, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byHash[h]
	switch {
	case e == nil:
		return nil, ErrTicketUnknown
	case e.used:
		return nil, ErrTicketUsed
	case !now.Before(e.expires):
		return nil, ErrTicketExpired
	}
	e.used = true
	t.uncountLocked(e)
	return e.id, nil
}

// sweepLocked takes expired tickets out of their users' counts and
// forgets those whose expiry is more than ttl past.
func (t *tickets) sweepLocked(now time.Time) {
	t.lastSweep = now
	for h, e := range t.byHash {
		if !now.Before(e.expires) {
			t.uncountLocked(e)
		}
		if now.Sub(e.expires) > t.ttl {
			delete(t.byHash, h)
		}
	}
}

// ticketResponse is POST /api/tickets's answer.
type ticketResponse struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// serveTickets serves POST /api/tickets: the bearer token is verified and
// exchanged for a ticket. Neither is ever logged.
func (s *Server) serveTickets(w http.ResponseWriter, r *http.Request) {
	id, err := s.identityFromHeader(r)
	if err == nil && id == nil {
		err = &functions.Error{Status: http.StatusUnauthorized, Code: functions.CodeUnauthenticated,
			Message: "POST /api/tickets needs an Authorization: Bearer <token> header"}
	}
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	now := time.Now()
	ticket, hash, expires := mintTicket(id, s.cfg.TicketTTL, now)
	err = s.tickets.Issue(r.Context(), hash, id, expires, now)
	switch {
	case errors.Is(err, ErrUserTickets):
		writeHTTPError(w, &functions.Error{Status: http.StatusTooManyRequests, Code: functions.CodeRateLimited, Message: err.Error()[len("transport: "):]})
		return
	case errors.Is(err, ErrTooManyTicket):
		writeHTTPError(w, &functions.Error{Status: http.StatusServiceUnavailable, Code: functions.CodeUnavailable, Message: err.Error()})
		return
	case err != nil:
		s.log.Warn("issue ticket", slog.Any("error", err))
		writeHTTPError(w, &functions.Error{Status: http.StatusServiceUnavailable, Code: functions.CodeUnavailable,
			Message: "tickets are unavailable: try again"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(ticketResponse{Ticket: ticket, ExpiresAt: expires.UTC()}) //nolint:errcheck
}

// streamIdentity is the identity of a request to a single-subscription
// endpoint: from ?ticket= (used up here) or from the Authorization header;
// neither means anonymous (nil, nil). Both at once is refused: which one
// counts would be a guess.
func (s *Server) streamIdentity(r *http.Request) (*functions.Identity, error) {
	ticket := r.URL.Query().Get(ticketQuery)
	if ticket == "" {
		return s.identityFromHeader(r)
	}
	if r.Header.Get("Authorization") != "" {
		return nil, &functions.Error{Status: http.StatusBadRequest, Code: functions.CodeInvalidArgument,
			Message: "give either ?ticket= or an Authorization header, not both"}
	}
	id, err := s.tickets.Redeem(r.Context(), sha256.Sum256([]byte(ticket)), time.Now())
	switch {
	case errors.Is(err, ErrTicketUnknown), errors.Is(err, ErrTicketUsed), errors.Is(err, ErrTicketExpired):
		return nil, &functions.Error{Status: http.StatusUnauthorized, Code: functions.CodeUnauthenticated, Message: err.Error()[len("transport: "):]}
	case err != nil:
		s.log.Warn("redeem ticket", slog.Any("error", err))
		return nil, &functions.Error{Status: http.StatusServiceUnavailable, Code: functions.CodeUnavailable,
			Message: "tickets are unavailable: try again"}
	}
	return id, nil
}

// httpErrorBody is the body of an endpoint's refusal: the code and
// message a WebSocket client gets in errorData, and the HTTP status.
type httpErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// writeHTTPError answers err, a *functions.Error (anything else is an
// internal error, shown without its text), with its status.
func writeHTTPError(w http.ResponseWriter, err error) {
	we, _ := functions.AsError(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(we.Status)
	json.NewEncoder(w).Encode(httpErrorBody{Code: we.Code, Message: we.Message, Status: we.Status}) //nolint:errcheck
}
