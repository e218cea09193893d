import { api } from "@parley/client";
import { useMutation } from "@parley/client/react";
import { useState } from "react";
import { errorMessage } from "./format";
import { conversationPath, useRouter } from "./router";

/**
 * A store's staff ask the marketplace's support (store_to_admin): about
 * the store, or about one of its orders. The thread is the store's: any of
 * its staff finds the same one.
 */
export function StoreSupport() {
  const open = useMutation(api.shared.chat.createOrGetStoreSupportConversation);
  const { navigate } = useRouter();
  const [order, setOrder] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      const orderId = order.trim();
      const { conversationId } = await open(orderId ? { orderId } : {});
      navigate(conversationPath(conversationId));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="newchat" aria-label="Store support">
      <h3>Parley Support</h3>
      <input value={order} onChange={(e) => setOrder(e.target.value)} placeholder="About an order (optional)…" aria-label="Order id" />
      <button className="support-button" data-testid="store-contact-support" disabled={busy} onClick={() => void start()}>
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
