package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// deliverArgs is the job of one delivery: one event to one endpoint.
type deliverArgs struct {
	DeliveryID string `json:"deliveryId"`
}

func (deliverArgs) Kind() string { return "events.deliver" }

// deliverWorker sends deliveries. A delivery is attempted until its
// endpoint answers 2xx or its retry window (RetryHorizon from its creation
// or last replay) has no room for the next attempt; then it is dead.
type deliverWorker struct {
	river.WorkerDefaults[deliverArgs]
	s *Service
}

// Timeout bounds a run: the attempt's own timeout and the writes around it.
func (w *deliverWorker) Timeout(*river.Job[deliverArgs]) time.Duration {
	return w.s.cfg.DeliveryTimeout + jobMargin
}

// jobMargin is what a job's timeout allows beyond its network call for
// the writes around it.
const jobMargin = 10 * time.Second

// LongestJob is the longest timeout the service's workers set on their
// jobs: the job queue's rescue delay must exceed it.
func (s *Service) LongestJob() time.Duration {
	longest := s.cfg.DeliveryTimeout
	if s.cfg.Notify.Mailer != nil {
		longest = max(longest, s.cfg.Notify.SendTimeout)
	}
	return longest + jobMargin
}

// NextRetry is when a failed attempt is tried again: backoff doubling from
// RetryBase up to RetryMax, with ±50% jitter drawn from the job and the
// attempt (so the worker, which records it, and river agree).
func (w *deliverWorker) NextRetry(job *river.Job[deliverArgs]) time.Time {
	return time.Now().Add(w.s.backoff(job.ID, job.Attempt))
}

func (s *Service) backoff(jobID int64, attempt int) time.Duration {
	d := s.cfg.RetryBase << min(max(attempt-1, 0), 30)
	if d <= 0 || d > s.cfg.RetryMax {
		d = s.cfg.RetryMax
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d", jobID, attempt)
	jitter := 0.5 + float64(h.Sum64()%1000)/1000 // [0.5, 1.5)
	return time.Duration(float64(d) * jitter)
}

// delivery is what an attempt needs.
type delivery struct {
	id, status, hookID, url, secret, eventID string
	retrySince                               time.Time
	body                                     []byte
}

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	s := w.s
	var d delivery
	var url, secret *string
	var enabled *bool
	var ev Envelope
	err := s.cfg.Pool.QueryRow(ctx, `SELECT d.id, d.status, d.webhook_id, d.retry_since, w.url, w.secret, w.enabled, `+envelopeCols+`
		FROM webhook_deliveries d
		LEFT JOIN webhooks w ON w.id = d.webhook_id
		JOIN events e ON e.id = d.event_id
		WHERE d.id = $1`, job.Args.DeliveryID).
		Scan(append([]any{&d.id, &d.status, &d.hookID, &d.retrySince, &url, &secret, &enabled}, ev.dest()...)...)
	if err == nil {
		ev.finish()
		d.eventID = ev.ID
		d.body, err = json.Marshal(ev)
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		s.metrics.deliveries.WithLabelValues("skipped").Inc()
		return nil // deleted with its webhook, or its event pruned
	case err != nil:
		return fmt.Errorf("read delivery: %w", err)
	case d.status != "pending":
		s.metrics.deliveries.WithLabelValues("skipped").Inc()
		return nil // done already: a rescued run, a replay's twin
	case url == nil: // its webhook went a moment ago
		s.metrics.deliveries.WithLabelValues("skipped").Inc()
		return nil
	case !*enabled:
		s.metrics.deliveries.WithLabelValues("dead").Inc()
		return s.record(ctx, d.id, "dead", 0, "the webhook is disabled", nil)
	}
	d.url, d.secret = *url, *secret
	code, aerr := s.attempt(ctx, d)
	if aerr == nil {
		s.metrics.deliveries.WithLabelValues("succeeded").Inc()
		return s.record(ctx, d.id, "succeeded", code, "", nil)
	}
	next := time.Now().Add(s.backoff(job.ID, job.Attempt))
	if next.After(d.retrySince.Add(s.cfg.RetryHorizon)) {
		s.metrics.deliveries.WithLabelValues("dead").Inc()
		s.log.Warn("webhook delivery dead: its retries ran past the horizon", slog.String(logWebhook, d.hookID),
			slog.String(logDelivery, d.id), slog.Int("attempts", job.Attempt), slog.Any(logError, aerr))
		if err := s.record(ctx, d.id, "dead", code, aerr.Error(), nil); err != nil {
			return err
		}
		return river.JobCancel(aerr)
	}
	s.metrics.deliveries.WithLabelValues("failed").Inc()
	if err := s.record(ctx, d.id, "pending", code, aerr.Error(), &next); err != nil {
		return err
	}
	return aerr
}

// record writes an attempt's outcome.
func (s *Service) record(ctx context.Context, id, status string, code int, msg string, next *time.Time) error {
	var lastStatus *int
	if code != 0 {
		lastStatus = &code
	}
	var lastErr *string
	if msg != "" {
		lastErr = &msg
	}
	if _, err := s.cfg.Pool.Exec(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, last_status = $3,
		last_error = $4, last_attempt_at = now(), next_attempt_at = $5,
		delivered_at = CASE WHEN $2 = 'succeeded' THEN now() END WHERE id = $1 AND status = 'pending'`,
		id, status, lastStatus, lastErr, next); err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}

// attempt posts the event to the endpoint, signed: it returns the
// response's status, and an error unless it was 2xx.
func (s *Service) attempt(ctx context.Context, d delivery) (int, error) {
	ts := time.Now()
	sig, err := Sign(d.secret, d.eventID, ts, d.body)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Parley-Webhooks/1")
	req.Header.Set("webhook-id", d.eventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.client.Do(req)
	s.metrics.latency.Observe(time.Since(ts).Seconds())
	if err != nil {
		return 0, fmt.Errorf("post: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // keep the connection reusable
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the endpoint answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// Sign is the Standard Webhooks signature of a message: "v1," and the
// base64 HMAC-SHA256, keyed with the secret's bytes (after "whsec_", in
// base64), of id, ".", the Unix timestamp, ".", and the body.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, ts.Unix())
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// secretKey decodes a whsec_ secret.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || !strings.HasPrefix(secret, secretPrefix) {
		return nil, errors.New(`a webhook secret is "whsec_" followed by base64`)
	}
	return key, nil
}

const secretPrefix = "whsec_"

// deliveryClient is the HTTP client of deliveries: it follows no
// redirect (a 3xx is a failed attempt) and, unless allowPrivate, dials
// only public addresses: the check runs on the address actually dialled,
// after name resolution, so a name that resolves to a private address
// (DNS rebinding) is refused too.
func deliveryClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("webhook address %q: %w", address, err)
			}
			if !publicAddr(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrPrivateAddress, ap.Addr())
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// ErrPrivateAddress is a webhook's address that is not public while
// private ones are not allowed.
var ErrPrivateAddress = errors.New("events: webhooks may not reach private, loopback or link-local addresses")

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicAddr reports whether a is a public unicast address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!cgnat.Contains(a) && !(a.Is4() && a.As4()[0] == 0)
}
