// The outbox: messages the user sent that the server has not acknowledged
// yet. A send while the connection is down stays here as "Sending…"
// (convex's client holds the mutation and sends it on reconnect; the
// server's (session, request) log makes a resend run once); a send the
// server refuses (blocked, rate limited, too big) or an upload that fails
// stays as "Failed" with Retry and Discard. Nothing is dropped silently.
// A send the server could not run because its database was unreachable
// (unavailable, and surely not applied) is no failure: the client retries
// it with backoff, and when it gives up the outbox sends it again, so it
// stays "Sending…" until it goes through. Nor is a send over the rate
// limit: the server lets it wait for its token (up to 5 s), and past that
// the client sends it again after retryAfterMs, in order, so messages
// queued offline all go out; only a limit that asks for a wait longer
// than the client's retry budget (a minute) shows as "Failed".
// It lives above the pages, so leaving a conversation loses nothing.
import { useParleyClient } from "@parley/client/react";
import { api, parleyErrorData, type MessageDoc } from "@parley/client";
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";
import { errorMessage } from "./format";

export interface OutboxItem {
  localId: string;
  conversationId: string;
  kind: "text" | "system" | "image";
  content: string;
  file?: File;
  /** Sends a text or system message; default: the client's sendMessage mutation. */
  send?: (args: { content: string; messageType: "text" | "system" }) => Promise<string>;
  /** An object URL of the image being sent. */
  previewUrl?: string;
  /** Upload progress, 0..1. */
  progress?: number;
  status: "sending" | "failed";
  error?: string;
  createdAt: number;
}

interface OutboxValue {
  items: OutboxItem[];
  sendText(conversationId: string, content: string, options?: { system?: boolean; send?: OutboxItem["send"] }): void;
  sendImage(conversationId: string, file: File, caption?: string): void;
  retry(localId: string): void;
  discard(localId: string): void;
}

const OutboxContext = createContext<OutboxValue | null>(null);

let counter = 0;

/** How long the outbox waits before sending again a message whose retries ran out. */
const RESEND_MS = 5_000;

/** Whether e says the server could not reach its database and did not apply the call. */
function stillUnavailable(e: unknown): boolean {
  const data = parleyErrorData(e);
  return data?.code === "unavailable" && data.mayHaveCommitted !== true;
}

export function OutboxProvider({ children }: { children: ReactNode }) {
  const client = useParleyClient();
  const [items, setItems] = useState<OutboxItem[]>([]);
  const itemsRef = useRef(items);
  itemsRef.current = items;

  const update = useCallback((localId: string, patch: Partial<OutboxItem>) => {
    setItems((xs) => xs.map((x) => (x.localId === localId ? { ...x, ...patch } : x)));
  }, []);

  const remove = useCallback((localId: string) => {
    setItems((xs) => {
      const gone = xs.find((x) => x.localId === localId);
      if (gone?.previewUrl) URL.revokeObjectURL(gone.previewUrl);
      return xs.filter((x) => x.localId !== localId);
    });
  }, []);

  const run = useCallback(
    async (item: OutboxItem) => {
      try {
        if (item.kind === "image" && item.file) {
          const { storageId } = await client.uploadImage(item.file, {
            onProgress: (p) => update(item.localId, { progress: p.fraction }),
          });
          await client.mutation(api.shared.chat.sendMessage, {
            conversationId: item.conversationId,
            content: item.content,
            messageType: "image",
            imageAttachment: { fileId: storageId, fileName: item.file.name, fileSize: item.file.size },
          });
        } else if (item.send) {
          await item.send({ content: item.content, messageType: item.kind === "system" ? "system" : "text" });
        } else {
          await client.mutation(api.shared.chat.sendMessage, {
            conversationId: item.conversationId,
            content: item.content,
            messageType: item.kind === "system" ? "system" : "text",
          });
        }
        // The mutation resolves once its message is in the subscriptions:
        // the real message replaces this one without a gap.
        remove(item.localId);
      } catch (e) {
        if (stillUnavailable(e) && !client.isClosed) {
          // The client's own retries ran out: keep at it, still "Sending…",
          // until the user discards it.
          setTimeout(() => {
            if (itemsRef.current.some((x) => x.localId === item.localId && x.status === "sending")) void run(item);
          }, RESEND_MS);
          return;
        }
        update(item.localId, { status: "failed", error: errorMessage(e), progress: undefined });
      }
    },
    [client, remove, update],
  );

  const add = useCallback(
    (item: Omit<OutboxItem, "localId" | "status" | "createdAt">) => {
      const full: OutboxItem = { ...item, localId: `local-${++counter}`, status: "sending", createdAt: Date.now() };
      setItems((xs) => [...xs, full]);
      void run(full);
    },
    [run],
  );

  const value = useMemo<OutboxValue>(
    () => ({
      items,
      sendText: (conversationId, content, options = {}) =>
        add({ conversationId, content, kind: options.system ? "system" : "text", send: options.send }),
      sendImage: (conversationId, file, caption = "") =>
        add({ conversationId, content: caption, kind: "image", file, previewUrl: URL.createObjectURL(file), progress: 0 }),
      retry: (localId) => {
        const item = itemsRef.current.find((x) => x.localId === localId);
        if (!item) return;
        const again: OutboxItem = { ...item, status: "sending", error: undefined, progress: item.kind === "image" ? 0 : undefined };
        update(localId, again);
        void run(again);
      },
      discard: remove,
    }),
    [items, add, run, update, remove],
  );
  return <OutboxContext.Provider value={value}>{children}</OutboxContext.Provider>;
}

export function useOutbox(): OutboxValue {
  const v = useContext(OutboxContext);
  if (!v) throw new Error("useOutbox: no OutboxProvider");
  return v;
}

/** Whether a delivered message is the caller's own. */
export function isMine(m: MessageDoc, sub: string): boolean {
  return m.senderId === sub;
}
