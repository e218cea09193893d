import { api, type NotificationSettings } from "@parley/client";
import { useMutation, useQuery } from "@parley/client/react";
import { useState, type FormEvent } from "react";
import { errorMessage } from "./format";

type Mode = NotificationSettings["mode"];

const modes: { mode: Mode; label: string; about: string }[] = [
  { mode: "immediate", label: "Immediately", about: "A mail soon after a message you missed while offline (one per conversation until you read it)." },
  { mode: "digest", label: "Daily digest", about: "One mail a day listing the conversations with unread messages." },
  { mode: "off", label: "Off", about: "No mail." },
];

const sourceLabel = {
  settings: "set here",
  token: "from your sign-in token",
  account: "from your account",
} as const;

/**
 * The caller's own email-notification settings (getNotificationSettings,
 * live): the mode and the address mail goes to. The address field holds
 * only an address set here; left empty, mail goes to the token's or the
 * account's address, which the panel shows as the effective one.
 */
export function Notifications() {
  const settings = useQuery(api.shared.events.getNotificationSettings, {});
  return (
    <div className="page" data-testid="notifications-page">
      <div className="page-head">
        <h2>Notifications</h2>
        <p className="muted small">How Parley tells you by mail about the messages you miss.</p>
      </div>
      {settings === undefined ? <p className="muted small">Loading settings…</p> : <SettingsForm settings={settings} />}
    </div>
  );
}

function SettingsForm({ settings }: { settings: NotificationSettings }) {
  const update = useMutation(api.shared.events.updateNotificationSettings);
  const ownAddress = settings.emailSource === "settings" ? (settings.email ?? "") : "";
  const [mode, setMode] = useState<Mode>(settings.mode);
  const [email, setEmail] = useState(ownAddress);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const dirty = mode !== settings.mode || email.trim() !== ownAddress;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const next = await update({
        ...(mode !== settings.mode ? { mode } : {}),
        // Only a changed address is sent: "" removes the one set here.
        ...(email.trim() !== ownAddress ? { email: email.trim() } : {}),
      });
      setMode(next.mode);
      setEmail(next.emailSource === "settings" ? (next.email ?? "") : "");
      setSaved(true);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card settings-form" onSubmit={(e) => void submit(e)} data-testid="notifications-form">
      {!settings.emailEnabled && (
        <p className="banner small" data-testid="mail-disabled">
          This server sends no mail (it has no mail transport): your settings are kept for when it does.
        </p>
      )}
      <fieldset className="modes">
        <legend className="small muted">Email me</legend>
        {modes.map((m) => (
          <label key={m.mode} className="mode">
            <input
              type="radio"
              name="mode"
              value={m.mode}
              checked={mode === m.mode}
              onChange={() => {
                setMode(m.mode);
                setSaved(false);
              }}
              data-testid={`mode-${m.mode}`}
            />
            <span>
              <strong>{m.label}</strong>
              <br />
              <span className="small muted">{m.about}</span>
            </span>
          </label>
        ))}
      </fieldset>
      <label className="field">
        <span className="small muted">Address (leave empty to use your account's)</span>
        <input
          type="email"
          value={email}
          onChange={(e) => {
            setEmail(e.target.value);
            setSaved(false);
          }}
          placeholder={settings.emailSource !== "settings" && settings.email ? settings.email : "you@example.com"}
          aria-label="Notification email"
          data-testid="notification-email"
        />
      </label>
      <p className="small" data-testid="effective-email">
        {settings.email ? (
          <>
            Mail goes to <strong>{settings.email}</strong>{" "}
            <span className="muted" data-testid="email-source">
              ({settings.emailSource ? sourceLabel[settings.emailSource] : "unknown source"})
            </span>
          </>
        ) : (
          <span className="muted">No address: no mail can be sent until you set one.</span>
        )}
      </p>
      <div className="row">
        <button type="submit" className="primary" disabled={busy || !dirty} data-testid="save-notifications">
          Save
        </button>
        {saved && !dirty && (
          <span className="small muted" role="status" data-testid="notifications-saved">
            Saved
          </span>
        )}
      </div>
      {error && (
        <p className="error small" role="alert" data-testid="notifications-error">
          {error}
        </p>
      )}
    </form>
  );
}
