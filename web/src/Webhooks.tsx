import { api, type DeliveryDoc, type WebhookDoc } from "@parley/client";
import { useMutation, useQuery } from "@parley/client/react";
import { useState, type FormEvent } from "react";
import { ErrorBoundary } from "./ErrorBoundary";
import { errorMessage, shortTime } from "./format";

/**
 * The event types a webhook may subscribe to: events.Types on the server
 * (createWebhook refuses any other, or "*" for all), in its order; a Go
 * test (events.TestWebAppKnowsEveryEventType) fails when they differ.
 */
export const eventTypes = [
  "message.created",
  "message.edited",
  "message.deleted",
  "message.read",
  "conversation.created",
  "conversation.archived",
  "conversation.transferred",
  "conversation.blocked",
  "conversation.unblocked",
  "conversation.closed",
  "conversation.reopened",
  "support.queued",
  "support.assigned",
  "support.transferred",
  "support.closed",
  "support.warned",
  "support.agent_silent",
] as const;

/**
 * An admin's webhook endpoints (listWebhooks, live): register one (its
 * secret is shown once, right after), disable or delete one, and follow
 * each one's deliveries live, replaying those that failed. The server
 * decides who may (admins, each for their own org) and what is valid.
 */
export function Webhooks() {
  const hooks = useQuery(api.shared.events.listWebhooks, {});
  const [created, setCreated] = useState<{ url: string; secret: string } | null>(null);
  const [open, setOpen] = useState<string | null>(null);

  return (
    <div className="page" data-testid="webhooks-page">
      <div className="page-head">
        <h2>Webhooks</h2>
        <p className="muted small">
          Parley POSTs each event your endpoints subscribe to, signed per Standard Webhooks with the endpoint's secret, and retries
          failed deliveries with backoff until they are dead.
        </p>
      </div>
      <NewWebhook onCreated={(url, secret) => setCreated({ url, secret })} />
      {created && <CreatedSecret {...created} onDismiss={() => setCreated(null)} />}
      <h3>Endpoints</h3>
      {hooks === undefined ? (
        <p className="muted small">Loading endpoints…</p>
      ) : hooks.length === 0 ? (
        <p className="muted small" data-testid="no-webhooks">
          No endpoints yet.
        </p>
      ) : (
        <ul className="webhook-list" data-testid="webhook-list">
          {hooks.map((h) => (
            <li key={h._id}>
              <WebhookItem hook={h} open={open === h._id} onToggle={() => setOpen((o) => (o === h._id ? null : h._id))} />
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function NewWebhook({ onCreated }: { onCreated: (url: string, secret: string) => void }) {
  const create = useMutation(api.shared.events.createWebhook);
  const [url, setUrl] = useState("");
  const [all, setAll] = useState(false);
  const [chosen, setChosen] = useState<string[]>(["message.created"]);
  const [secret, setSecret] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const toggle = (t: string) => setChosen((xs) => (xs.includes(t) ? xs.filter((x) => x !== t) : [...xs, t]));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await create({
        url: url.trim(),
        events: all ? ["*"] : chosen,
        ...(secret.trim() ? { secret: secret.trim() } : {}),
      });
      onCreated(res.webhook.url, res.secret);
      setUrl("");
      setSecret("");
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card webhook-form" onSubmit={(e) => void submit(e)} data-testid="new-webhook-form">
      <h3>New endpoint</h3>
      <label className="field">
        <span className="small muted">URL</span>
        <input
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          placeholder="https://example.com/hooks/parley"
          aria-label="Webhook URL"
          data-testid="webhook-url"
        />
      </label>
      <fieldset className="event-types">
        <legend className="small muted">Events</legend>
        <label className="small row">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} data-testid="event-all" />
          All events (<code>*</code>)
        </label>
        {eventTypes.map((t) => (
          <label key={t} className="small row">
            <input type="checkbox" disabled={all} checked={all || chosen.includes(t)} onChange={() => toggle(t)} data-testid={`event-${t}`} />
            <code>{t}</code>
          </label>
        ))}
      </fieldset>
      <label className="field">
        <span className="small muted">Signing secret (optional: one is generated)</span>
        <input
          value={secret}
          onChange={(e) => setSecret(e.target.value)}
          placeholder="whsec_…"
          aria-label="Signing secret"
          data-testid="webhook-secret-input"
          autoComplete="off"
        />
      </label>
      <div className="row">
        <button type="submit" className="primary" disabled={busy || !url.trim() || (!all && chosen.length === 0)} data-testid="create-webhook">
          Create endpoint
        </button>
      </div>
      {error && (
        <p className="error small" role="alert" data-testid="webhook-error">
          {error}
        </p>
      )}
    </form>
  );
}

/** The secret of the endpoint just created: createWebhook's result is the only place it is ever shown. */
function CreatedSecret({ url, secret, onDismiss }: { url: string; secret: string; onDismiss: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("Copied");
    } catch {
      setCopied("Copy failed: select the secret and copy it by hand");
    }
  };
  return (
    <div className="card secret-box" role="status" data-testid="created-secret">
      <p>
        Endpoint <code>{url}</code> created. Its signing secret is shown <strong>only now</strong>: keep it where your receiver can
        read it.
      </p>
      <div className="row secret-row">
        <code className="secret" data-testid="webhook-secret">
          {secret}
        </code>
        <button onClick={() => void copy()} data-testid="copy-secret">
          Copy
        </button>
        <button className="link" onClick={onDismiss} data-testid="dismiss-secret">
          Done
        </button>
      </div>
      {copied && <p className="small muted">{copied}</p>}
    </div>
  );
}

function WebhookItem({ hook, open, onToggle }: { hook: WebhookDoc; open: boolean; onToggle: () => void }) {
  const disable = useMutation(api.shared.events.disableWebhook);
  const remove = useMutation(api.shared.events.deleteWebhook);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className={`card webhook ${hook.enabled ? "" : "disabled"}`} data-testid="webhook" data-webhook-id={hook._id}>
      <div className="row webhook-top">
        <code className="webhook-url" title={hook.url}>
          {hook.url}
        </code>
        <span className={`tag ${hook.enabled ? "ok" : "danger"}`} data-testid="webhook-state">
          {hook.enabled ? "enabled" : "disabled"}
        </span>
      </div>
      <div className="small muted">
        {hook.events.join(", ")} · secret {hook.secretHint} · created {shortTime(hook.createdAt)}
        {hook.disabledAt ? ` · disabled ${shortTime(hook.disabledAt)}` : ""}
      </div>
      <div className="row webhook-actions">
        <button className="link small" onClick={onToggle} data-testid="toggle-deliveries">
          {open ? "Hide deliveries" : "Deliveries"}
        </button>
        {hook.enabled && (
          <button className="small" disabled={busy} onClick={() => void run(() => disable({ webhookId: hook._id }))} data-testid="disable-webhook">
            Disable
          </button>
        )}
        {confirming ? (
          <span className="row confirm" data-testid="confirm-delete">
            <span className="small">Delete this endpoint and its deliveries?</span>
            <button className="small danger" disabled={busy} onClick={() => void run(() => remove({ webhookId: hook._id }))} data-testid="confirm-delete-webhook">
              Delete
            </button>
            <button className="link small" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </span>
        ) : (
          <button className="small" onClick={() => setConfirming(true)} data-testid="delete-webhook">
            Delete
          </button>
        )}
      </div>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      {open && (
        <ErrorBoundary fallback={(e) => <p className="error small" role="alert">{errorMessage(e)}</p>}>
          <Deliveries hook={hook} />
        </ErrorBoundary>
      )}
    </div>
  );
}

type StatusFilter = "" | DeliveryDoc["status"];

/** A delivery failed its last attempt: a dead one, or a pending one waiting for its retry. */
function failed(d: DeliveryDoc): boolean {
  return d.status === "dead" || (d.status === "pending" && d.attempts > 0);
}

/** An endpoint's deliveries, newest first, live (getWebhookDeliveries). */
function Deliveries({ hook }: { hook: WebhookDoc }) {
  const [status, setStatus] = useState<StatusFilter>("");
  const deliveries = useQuery(api.shared.events.getWebhookDeliveries, {
    webhookId: hook._id,
    limit: 50,
    ...(status ? { status } : {}),
  });
  return (
    <div className="deliveries" data-testid="deliveries">
      <div className="row">
        <h4>Deliveries</h4>
        <select value={status} onChange={(e) => setStatus(e.target.value as StatusFilter)} aria-label="Delivery status" data-testid="delivery-filter">
          <option value="">All</option>
          <option value="pending">Pending</option>
          <option value="succeeded">Succeeded</option>
          <option value="dead">Dead</option>
        </select>
      </div>
      {deliveries === undefined ? (
        <p className="muted small">Loading deliveries…</p>
      ) : deliveries.length === 0 ? (
        <p className="muted small" data-testid="no-deliveries">
          No deliveries{status ? ` ${status}` : ""} yet.
        </p>
      ) : (
        <table className="delivery-table small">
          <thead>
            <tr>
              <th>Event</th>
              <th>Status</th>
              <th>Attempts</th>
              <th>Last result</th>
              <th>Created</th>
              <th>Last attempt</th>
              <th>Next / delivered</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {deliveries.map((d) => (
              <DeliveryRow key={d._id} d={d} hookEnabled={hook.enabled} />
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function DeliveryRow({ d, hookEnabled }: { d: DeliveryDoc; hookEnabled: boolean }) {
  const replay = useMutation(api.shared.events.replayDelivery);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const shown = failed(d) && d.status === "pending" ? "failing" : d.status;
  const result = [d.lastStatus !== null ? `HTTP ${d.lastStatus}` : "", d.lastError ?? ""].filter(Boolean).join(" · ");
  const onReplay = async () => {
    setBusy(true);
    setError(null);
    try {
      await replay({ deliveryId: d._id });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <tr data-testid="delivery" data-delivery-id={d._id} data-status={d.status} data-event-id={d.eventId}>
      <td>
        <code>{d.eventType}</code>
      </td>
      <td>
        <span className={`tag status-${shown}`} data-testid="delivery-status">
          {shown}
        </span>
      </td>
      <td data-testid="delivery-attempts">{d.attempts}</td>
      <td className="delivery-result" data-testid="delivery-result" title={result}>
        {result || "—"}
      </td>
      <td title={new Date(d.createdAt).toLocaleString()}>{shortTime(d.createdAt)}</td>
      <td>{d.lastAttemptAt ? shortTime(d.lastAttemptAt) : "—"}</td>
      <td>
        {d.deliveredAt ? shortTime(d.deliveredAt) : d.status === "pending" && d.nextAttemptAt ? `next ${shortTime(d.nextAttemptAt)}` : "—"}
      </td>
      <td>
        {failed(d) && (
          <button className="small" disabled={busy || !hookEnabled} title={hookEnabled ? "Send it again now" : "The webhook is disabled"} onClick={() => void onReplay()} data-testid="replay">
            Replay
          </button>
        )}
        {error && (
          <span className="error small" role="alert">
            {error}
          </span>
        )}
      </td>
    </tr>
  );
}
