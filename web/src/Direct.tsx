import { api } from "@parley/client";
import { useMutation, useQuery } from "@parley/client/react";
import { useState, type FormEvent } from "react";
import type { DemoIdentity, Identity } from "./auth";
import { InboxItem } from "./ConversationList";
import { errorMessage } from "./format";
import { conversationPath, useRouter } from "./router";

/**
 * The caller's direct channels (getDirectChannels: live, with their own
 * unread counts) and a way to open one with someone. Who may write to
 * whom is the server's decision (anyone to support, support to anyone,
 * else as for groups); the form shows its answer when it refuses.
 */
export function DirectChannels({ me, demo }: { me: Identity; demo: DemoIdentity[] | null }) {
  const channels = useQuery(api.shared.chat.getDirectChannels, { limit: 100 });
  const { route } = useRouter();
  const current = route.page === "conversation" ? route.conversationId : null;
  const [open, setOpen] = useState(false);

  return (
    <section className="groups" aria-label="Direct messages">
      <div className="row section-head">
        <h3>Direct messages</h3>
        <button className="link small" data-testid="new-direct" onClick={() => setOpen((o) => !o)}>
          {open ? "Cancel" : "New message"}
        </button>
      </div>
      {open && <NewDirect me={me} demo={demo} onDone={() => setOpen(false)} />}
      {channels === undefined ? (
        <p className="muted small">Loading direct messages…</p>
      ) : channels.length === 0 ? (
        <p className="empty small muted" data-testid="no-directs">
          No direct messages yet.
        </p>
      ) : (
        <ul className="conv-list" data-testid="direct-list">
          {channels.map((c) => (
            <li key={c._id}>
              <InboxItem
                c={c}
                me={me}
                current={c._id === current}
                unread={c.unreadCount ?? 0}
                testId="direct"
                avatar="role-direct"
                sub="Direct message"
              />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function NewDirect({ me, demo, onDone }: { me: Identity; demo: DemoIdentity[] | null; onDone: () => void }) {
  const open = useMutation(api.shared.chat.getOrCreateDirectChannel);
  const { navigate } = useRouter();
  const people = (demo ?? []).filter((d) => d.sub !== me.sub);
  const [userId, setUserId] = useState(people[0]?.sub ?? "");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { conversationId } = await open({ userId: userId.trim() });
      onDone();
      navigate(conversationPath(conversationId));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="new-group" onSubmit={(e) => void submit(e)} data-testid="new-direct-form">
      {people.length > 0 && (
        <select value={userId} onChange={(e) => setUserId(e.target.value)} aria-label="Person" data-testid="direct-person">
          {people.map((p) => (
            <option key={p.sub} value={p.sub}>
              {p.name ?? p.sub} · {p.role}
            </option>
          ))}
        </select>
      )}
      <input value={userId} onChange={(e) => setUserId(e.target.value)} placeholder="User id" aria-label="User id" />
      <button type="submit" className="primary" disabled={busy || !userId.trim()} data-testid="open-direct">
        Open
      </button>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
