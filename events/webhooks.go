package events

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// The events domain's errors.
var (
	ErrAdminOnly        = functions.Forbidden("Only admins can manage webhooks")
	ErrWebhookNotFound  = functions.NotFound("Webhook not found")
	ErrDeliveryNotFound = functions.NotFound("Delivery not found")
	ErrWebhookDisabled  = functions.Conflict("Webhook is disabled")
)

// CreateWebhookArgs registers an endpoint.
type CreateWebhookArgs struct {
	URL string `json:"url"`
	// Events are the event types sent; ["*"] for all.
	Events []string `json:"events"`
	// Secret is the signing secret, "whsec_" and base64 of 24 to 64
	// bytes; absent, one is generated. createWebhook's result is the only
	// place it is shown.
	Secret *string `json:"secret"`
}

// WebhookDoc is a registered endpoint.
type WebhookDoc struct {
	ID        string   `json:"_id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Enabled   bool     `json:"enabled"`
	CreatedAt float64  `json:"createdAt"`
	CreatedBy string   `json:"createdBy"`
	// DisabledAt is when disableWebhook disabled it.
	DisabledAt *float64 `json:"disabledAt"`
	// SecretHint is the secret's first characters, to tell secrets apart.
	SecretHint string `json:"secretHint"`
}

// CreatedWebhook is createWebhook's result: the endpoint and its secret.
type CreatedWebhook struct {
	Webhook WebhookDoc `json:"webhook"`
	Secret  string     `json:"secret"`
}

// WebhookIDArgs names an endpoint.
type WebhookIDArgs struct {
	WebhookID string `json:"webhookId"`
}

// GetWebhookDeliveriesArgs pages an endpoint's deliveries, newest first.
type GetWebhookDeliveriesArgs struct {
	WebhookID string `json:"webhookId"`
	// Status keeps only deliveries in it: pending, succeeded or dead.
	Status *string `json:"status" ts:"pending|succeeded|dead"`
	// Limit is at most 200. Absent means 50.
	Limit *int `json:"limit"`
}

// DeliveryDoc is one event's delivery to one endpoint.
type DeliveryDoc struct {
	ID            string   `json:"_id"`
	WebhookID     string   `json:"webhookId"`
	EventID       string   `json:"eventId"`
	EventType     string   `json:"eventType"`
	Status        string   `json:"status" ts:"pending|succeeded|dead"`
	Attempts      int      `json:"attempts"`
	LastStatus    *int     `json:"lastStatus"`
	LastError     *string  `json:"lastError"`
	LastAttemptAt *float64 `json:"lastAttemptAt"`
	NextAttemptAt *float64 `json:"nextAttemptAt"`
	CreatedAt     float64  `json:"createdAt"`
	DeliveredAt   *float64 `json:"deliveredAt"`
}

// ReplayDeliveryArgs names a delivery to send again.
type ReplayDeliveryArgs struct {
	DeliveryID string `json:"deliveryId"`
}

func (s *Service) registerFunctions(r *functions.Registry) {
	functions.Mutation(r, "shared/events:createWebhook", s.createWebhook)
	functions.Query(r, "shared/events:listWebhooks", listWebhooks)
	functions.Mutation(r, "shared/events:disableWebhook", s.disableWebhook)
	functions.Mutation(r, "shared/events:deleteWebhook", s.deleteWebhook)
	functions.Query(r, "shared/events:getWebhookDeliveries", getWebhookDeliveries)
	functions.Mutation(r, "shared/events:replayDelivery", s.replayDelivery)
	functions.QueryShared(r, "shared/events:getConversationEvents", func(c *functions.QueryCtx, a GetConversationEventsArgs) error {
		return s.cfg.ConversationAccess(c, a.ConversationID)
	}, getConversationEvents)
}

func requireAdmin(id *functions.Identity) error {
	switch {
	case id == nil:
		return functions.ErrNotAuthenticated
	case id.Role != functions.RoleAdmin:
		return ErrAdminOnly
	}
	return nil
}

// maxURL bounds a webhook's URL, in bytes.
const maxURL = 2048

// checkURL validates an endpoint's URL: absolute http or https, a host,
// no credentials and, unless private addresses are allowed, not a
// loopback, private or link-local address or a name for one.
func (s *Service) checkURL(ctx context.Context, raw string) error {
	if len(raw) > maxURL {
		return functions.Invalid("url is longer than %d bytes", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return functions.Invalid("url must be an absolute http or https URL, like https://example.com/hooks")
	}
	if u.User != nil {
		return functions.Invalid("url must not contain credentials: sign with the secret instead")
	}
	if u.Fragment != "" {
		return functions.Invalid("url must not have a fragment")
	}
	if s.cfg.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if !publicAddr(a) {
			return functions.Invalid("url must not point at a private, loopback or link-local address (%s)", a)
		}
		return nil
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return functions.Invalid("url must not point at localhost")
	}
	// A name that resolves to a private address now is refused now; one
	// that does later is refused when dialled.
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err == nil {
		for _, a := range addrs {
			if !publicAddr(a) {
				return functions.Invalid("url's host %s resolves to a private, loopback or link-local address (%s)", host, a)
			}
		}
	}
	return nil
}

func checkEvents(evs []string) ([]string, error) {
	if len(evs) == 0 {
		return nil, functions.Invalid(`events must name at least one event type, or "*" for all`)
	}
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		if e != "*" && !slices.Contains(Types, e) {
			return nil, functions.Invalid("events: unknown event type %q (known: %s, or \"*\")", e, strings.Join(Types, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out, nil
}

func newSecret() string {
	b := make([]byte, 24)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

func checkSecret(secret string) error {
	key, err := secretKey(secret)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return functions.Invalid(`secret must be "whsec_" followed by the base64 of 24 to 64 random bytes`)
	}
	return nil
}

func (s *Service) createWebhook(c *functions.MutationCtx, a CreateWebhookArgs) (CreatedWebhook, error) {
	id := c.Identity()
	if err := requireAdmin(id); err != nil {
		return CreatedWebhook{}, err
	}
	a.URL = strings.TrimSpace(a.URL)
	if err := s.checkURL(c.Ctx, a.URL); err != nil {
		return CreatedWebhook{}, err
	}
	evs, err := checkEvents(a.Events)
	if err != nil {
		return CreatedWebhook{}, err
	}
	secret := newSecret()
	if a.Secret != nil {
		if err := checkSecret(*a.Secret); err != nil {
			return CreatedWebhook{}, err
		}
		secret = *a.Secret
	}
	w := webhookRow{ID: schema.NewID("wh_"), Org: id.Org, URL: a.URL, Events: evs, Secret: secret, Enabled: true,
		CreatedBy: id.Subject, CreatedAt: c.Now()}
	if _, err := c.DB.Querier().Exec(c.Ctx, `INSERT INTO webhooks (id, org_id, url, events, secret, enabled, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, true, $6, $7)`, w.ID, w.Org, w.URL, w.Events, w.Secret, w.CreatedBy, w.CreatedAt); err != nil {
		return CreatedWebhook{}, fmt.Errorf("insert webhook: %w", err)
	}
	s.hooks.invalidate()
	return CreatedWebhook{Webhook: w.doc(), Secret: secret}, nil
}

type webhookRow struct {
	ID, Org, URL string
	Events       []string
	Secret       string
	Enabled      bool
	CreatedBy    string
	CreatedAt    time.Time
	DisabledAt   *time.Time
}

const webhookCols = `id, org_id, url, events, secret, enabled, created_by, created_at, disabled_at`

func (w *webhookRow) dest() []any {
	return []any{&w.ID, &w.Org, &w.URL, &w.Events, &w.Secret, &w.Enabled, &w.CreatedBy, &w.CreatedAt, &w.DisabledAt}
}

func (w webhookRow) doc() WebhookDoc {
	hint := w.Secret
	if len(hint) > len(secretPrefix)+4 {
		hint = hint[:len(secretPrefix)+4] + "…"
	}
	return WebhookDoc{ID: w.ID, URL: w.URL, Events: w.Events, Enabled: w.Enabled, CreatedAt: schema.Millis(w.CreatedAt),
		CreatedBy: w.CreatedBy, DisabledAt: millisPtr(w.DisabledAt), SecretHint: hint}
}

func millisPtr(t *time.Time) *float64 {
	if t == nil {
		return nil
	}
	m := schema.Millis(*t)
	return &m
}

// webhookOf reads one of the caller's org's endpoints (404 for another's).
func webhookOf(ctx context.Context, db *schema.DB, org, id string) (webhookRow, error) {
	db.Record(schema.Dep{Table: "webhooks", Column: "id", Value: id})
	var w webhookRow
	err := db.Querier().QueryRow(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = $1`, id).Scan(w.dest()...)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && w.Org != org) {
		return webhookRow{}, ErrWebhookNotFound
	}
	if err != nil {
		return webhookRow{}, fmt.Errorf("read webhook: %w", err)
	}
	return w, nil
}

func listWebhooks(c *functions.QueryCtx, _ functions.EmptyArgs) ([]WebhookDoc, error) {
	id := c.Identity()
	if err := requireAdmin(id); err != nil {
		return nil, err
	}
	c.DB.Record(schema.Dep{Table: "webhooks", Column: "org_id", Value: id.Org})
	rows, err := c.DB.Querier().Query(c.Ctx, `SELECT `+webhookCols+` FROM webhooks WHERE org_id = $1 ORDER BY created_at, id`, id.Org)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	out := []WebhookDoc{}
	var w webhookRow
	if _, err := pgx.ForEachRow(rows, w.dest(), func() error { out = append(out, w.doc()); return nil }); err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return out, nil
}

func (s *Service) disableWebhook(c *functions.MutationCtx, a WebhookIDArgs) (functions.Null, error) {
	id := c.Identity()
	if err := requireAdmin(id); err != nil {
		return functions.Null{}, err
	}
	w, err := webhookOf(c.Ctx, c.DB, id.Org, a.WebhookID)
	if err != nil || !w.Enabled {
		return functions.Null{}, err
	}
	if _, err := c.DB.Querier().Exec(c.Ctx, `UPDATE webhooks SET enabled = false, disabled_at = $2 WHERE id = $1`, w.ID, c.Now()); err != nil {
		return functions.Null{}, fmt.Errorf("disable webhook: %w", err)
	}
	s.hooks.invalidate()
	return functions.Null{}, nil
}

func (s *Service) deleteWebhook(c *functions.MutationCtx, a WebhookIDArgs) (functions.Null, error) {
	id := c.Identity()
	if err := requireAdmin(id); err != nil {
		return functions.Null{}, err
	}
	w, err := webhookOf(c.Ctx, c.DB, id.Org, a.WebhookID)
	if err != nil {
		return functions.Null{}, err
	}
	if _, err := c.DB.Querier().Exec(c.Ctx, `WITH gone AS (DELETE FROM webhooks WHERE id = $1)
		DELETE FROM webhook_deliveries WHERE webhook_id = $1`, w.ID); err != nil {
		return functions.Null{}, fmt.Errorf("delete webhook: %w", err)
	}
	s.hooks.invalidate()
	return functions.Null{}, nil
}

// maxDeliveries bounds getWebhookDeliveries' page.
const maxDeliveries = 200

const deliveryCols = `id, webhook_id, event_id, event_type, status, attempts, last_status, last_error, last_attempt_at,
	next_attempt_at, created_at, delivered_at`

type deliveryRow struct {
	DeliveryDoc
	lastAttempt, nextAttempt, delivered *time.Time
	created                             time.Time
}

func (d *deliveryRow) dest() []any {
	return []any{&d.ID, &d.WebhookID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &d.LastStatus, &d.LastError,
		&d.lastAttempt, &d.nextAttempt, &d.created, &d.delivered}
}

func (d *deliveryRow) doc() DeliveryDoc {
	out := d.DeliveryDoc
	out.LastAttemptAt, out.NextAttemptAt, out.DeliveredAt = millisPtr(d.lastAttempt), millisPtr(d.nextAttempt), millisPtr(d.delivered)
	out.CreatedAt = schema.Millis(d.created)
	return out
}

func getWebhookDeliveries(c *functions.QueryCtx, a GetWebhookDeliveriesArgs) ([]DeliveryDoc, error) {
	id := c.Identity()
	if err := requireAdmin(id); err != nil {
		return nil, err
	}
	limit := 50
	if a.Limit != nil {
		if *a.Limit < 1 || *a.Limit > maxDeliveries {
			return nil, functions.Invalid("limit must be between 1 and %d", maxDeliveries)
		}
		limit = *a.Limit
	}
	if a.Status != nil && !slices.Contains([]string{"pending", "succeeded", "dead"}, *a.Status) {
		return nil, functions.Invalid("status must be pending, succeeded or dead")
	}
	if _, err := webhookOf(c.Ctx, c.DB, id.Org, a.WebhookID); err != nil {
		return nil, err
	}
	c.DB.Record(schema.Dep{Table: "webhook_deliveries", Column: "webhook_id", Value: a.WebhookID})
	rows, err := c.DB.Querier().Query(c.Ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries
		WHERE webhook_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC, id DESC LIMIT $3`,
		a.WebhookID, a.Status, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	out := []DeliveryDoc{}
	var d deliveryRow
	if _, err := pgx.ForEachRow(rows, d.dest(), func() error { out = append(out, d.doc()); return nil }); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// replayDelivery sends a delivery again, whatever its status, with the
// same webhook-id: a dead one gets a new retry window.
func (s *Service) replayDelivery(c *functions.MutationCtx, a ReplayDeliveryArgs) (functions.Null, error) {
	id := c.Identity()
	if err := requireAdmin(id); err != nil {
		return functions.Null{}, err
	}
	var hookID string
	err := c.DB.Querier().QueryRow(c.Ctx, `SELECT webhook_id FROM webhook_deliveries WHERE id = $1 FOR UPDATE`, a.DeliveryID).Scan(&hookID)
	if errors.Is(err, pgx.ErrNoRows) {
		return functions.Null{}, ErrDeliveryNotFound
	}
	if err != nil {
		return functions.Null{}, fmt.Errorf("read delivery: %w", err)
	}
	w, err := webhookOf(c.Ctx, c.DB, id.Org, hookID)
	if errors.Is(err, ErrWebhookNotFound) {
		return functions.Null{}, ErrDeliveryNotFound
	}
	if err != nil {
		return functions.Null{}, err
	}
	if !w.Enabled {
		return functions.Null{}, ErrWebhookDisabled
	}
	if _, err := c.DB.Querier().Exec(c.Ctx, `UPDATE webhook_deliveries SET status = 'pending', retry_since = $2, next_attempt_at = $2
		WHERE id = $1`, a.DeliveryID, c.Now()); err != nil {
		return functions.Null{}, fmt.Errorf("replay delivery: %w", err)
	}
	if s.queue == nil {
		return functions.Null{}, errors.New("events: no job queue (SetQueue)")
	}
	if _, err := s.queue.InsertTx(c.Ctx, c.Tx, deliverArgs{DeliveryID: a.DeliveryID}, deliverOpts()); err != nil {
		return functions.Null{}, fmt.Errorf("enqueue replay: %w", err)
	}
	return functions.Null{}, nil
}
