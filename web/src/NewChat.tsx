import { api } from "@parley/client";
import { useMutation, useQuery } from "@parley/client/react";
import { useState, type FormEvent } from "react";
import type { DemoIdentity } from "./auth";
import { ErrorBoundary } from "./ErrorBoundary";
import { errorMessage, orderLabel } from "./format";
import { conversationPath, useRouter } from "./router";

interface Store {
  id: string;
  name: string;
}

/**
 * Starting a conversation (customers): with a store about an order, which
 * canChatWithStore allows or refuses with its reason, or with support.
 * The API has no store directory; under `parley dev` the stores are the
 * demo ones, and any store id can be typed in.
 */
export function NewChat({ demo }: { demo: DemoIdentity[] | null }) {
  const settings = useQuery(api.shared.chat.getChatSettings, {});
  const create = useMutation(api.shared.chat.createOrGetConversation);
  const { navigate } = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [extra, setExtra] = useState<Store[]>([]);
  const [typed, setTyped] = useState("");

  const stores: Store[] = [];
  for (const id of demo ?? []) {
    if (id.role === "store" && id.store_id && !stores.some((s) => s.id === id.store_id)) {
      stores.push({ id: id.store_id, name: id.storeName ?? id.store_id });
    }
  }
  for (const s of extra) if (!stores.some((x) => x.id === s.id)) stores.push(s);

  const start = async (args: { storeId?: string; orderId?: string }) => {
    setBusy(true);
    setError(null);
    try {
      const { conversationId } = await create(args);
      navigate(conversationPath(conversationId));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  const addStore = (e: FormEvent) => {
    e.preventDefault();
    const id = typed.trim();
    if (id) setExtra((xs) => [...xs, { id, name: id }]);
    setTyped("");
  };

  return (
    <section className="newchat" aria-label="Start a conversation">
      <h3>Start a conversation</h3>
      {stores.map((s) => (
        <ErrorBoundary
          key={s.id}
          fallback={(e) => (
            <div className="store-option small">
              <strong>{s.name}</strong>
              <p className="error small">{errorMessage(e)}</p>
            </div>
          )}
        >
          <StoreOption store={s} busy={busy} onStart={(orderId) => void start({ storeId: s.id, orderId })} />
        </ErrorBoundary>
      ))}
      <form className="store-id" onSubmit={addStore}>
        <input value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="Another store id…" aria-label="Store id" />
        <button type="submit" disabled={!typed.trim()}>
          Check
        </button>
      </form>
      <button
        className="support-button"
        data-testid="contact-support"
        disabled={busy || settings?.adminSupportEnabled === false}
        title={settings?.adminSupportEnabled === false ? "Support chat is turned off" : undefined}
        onClick={() => void start({})}
      >
        Contact support
      </button>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

function StoreOption({ store, busy, onStart }: { store: Store; busy: boolean; onStart: (orderId: string) => void }) {
  const can = useQuery(api.shared.chat.canChatWithStore, { storeId: store.id });
  const [order, setOrder] = useState<string>("");
  if (can === undefined) {
    return <div className="store-option muted small">{store.name}: checking…</div>;
  }
  const chosen = order || can.orderIds[0] || "";
  return (
    <div className="store-option" data-testid={`store-${store.id}`}>
      <strong>{store.name}</strong>
      {can.canChat ? (
        <div className="row">
          <select value={chosen} onChange={(e) => setOrder(e.target.value)} aria-label={`Order with ${store.name}`}>
            {can.orderIds.map((o) => (
              <option key={o} value={o}>
                {orderLabel({ orderId: o })}
              </option>
            ))}
          </select>
          <button className="primary" disabled={busy} onClick={() => onStart(chosen)} data-testid="chat-with-store">
            Chat
          </button>
        </div>
      ) : (
        <p className="muted small reason" data-testid="cannot-chat">
          {can.reason ?? "You cannot chat with this store."}
        </p>
      )}
    </div>
  );
}
