import { api } from "@parley/client";
import { useMutation, useQuery } from "@parley/client/react";
import { useState, type FormEvent } from "react";
import type { DemoIdentity, Identity } from "./auth";
import { InboxItem } from "./ConversationList";
import { errorMessage } from "./format";
import { conversationPath, useRouter } from "./router";

/**
 * The caller's groups (getGroupConversations: live, with their own unread
 * counts) and a form to start one. Whom a caller may add is the server's
 * decision (a customer: staff of a store they may message; staff: their
 * colleagues; admins: anyone); the form offers the demo identities and any
 * typed user id, and shows the server's answer when it refuses.
 */
export function Groups({ me, demo }: { me: Identity; demo: DemoIdentity[] | null }) {
  const groups = useQuery(api.shared.chat.getGroupConversations, {
    limit: 100,
  });
  const { route } = useRouter();
  const current = route.page === "conversation" ? route.conversationId : null;
  const [open, setOpen] = useState(false);

  return (
    <section className="groups" aria-label="Groups">
      <div className="row section-head">
        <h3>Groups</h3>
        <button className="link small" data-testid="new-group" onClick={() => setOpen((o) => !o)}>
          {open ? "Cancel" : "New group"}
        </button>
      </div>
      {open && <NewGroup me={me} demo={demo} onDone={() => setOpen(false)} />}
      {groups === undefined ? (
        <p className="muted small">Loading groups…</p>
      ) : groups.length === 0 ? (
        <p className="empty small muted" data-testid="no-groups">
          No groups yet.
        </p>
      ) : (
        <ul className="conv-list" data-testid="group-list">
          {groups.map((g) => {
            const unread = g.unreadCount ?? 0;
            return (
              <li key={g._id}>
                <InboxItem
                  c={g}
                  me={me}
                  current={g._id === current}
                  unread={unread}
                  testId="group"
                  avatar="role-group"
                  sub={`${(g.participants ?? []).length} people`}
                />
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function NewGroup({ me, demo, onDone }: { me: Identity; demo: DemoIdentity[] | null; onDone: () => void }) {
  const create = useMutation(api.shared.chat.createGroupConversation);
  const { navigate } = useRouter();
  const [title, setTitle] = useState("");
  const [chosen, setChosen] = useState<string[]>([]);
  const [typed, setTyped] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const people = (demo ?? []).filter((d) => d.sub !== me.sub);
  const toggle = (id: string) => setChosen((xs) => (xs.includes(id) ? xs.filter((x) => x !== id) : [...xs, id]));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const ids = [
      ...chosen,
      ...typed
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ];
    setBusy(true);
    setError(null);
    try {
      const { conversationId } = await create({
        participantIds: ids,
        ...(title.trim() ? { title: title.trim() } : {}),
      });
      onDone();
      navigate(conversationPath(conversationId));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="new-group" onSubmit={(e) => void submit(e)} data-testid="new-group-form">
      <input
        value={title}
        onChange={(e) => setTitle(e.target.value)}
        placeholder="Title (optional)"
        aria-label="Group title"
        maxLength={100}
      />
      {people.map((p) => (
        <label key={p.sub} className="small row">
          <input type="checkbox" checked={chosen.includes(p.sub)} onChange={() => toggle(p.sub)} data-testid={`add-${p.key}`} />
          {p.name ?? p.sub}
          <span className="muted"> · {p.role}</span>
        </label>
      ))}
      <input value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="Other user ids, comma-separated" aria-label="User ids" />
      <button type="submit" className="primary" disabled={busy || (chosen.length === 0 && !typed.trim())} data-testid="create-group">
        Create group
      </button>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
