// The WebSocket convex is given: it asks the server for Parley's own
// status messages (?parleyStatus=1 on the sync URL) and takes them out of
// the stream before convex sees them, since convex treats an unknown
// message type as a protocol error. Everything else passes through.

/** The query parameter by which a client opts in to ParleyStatus messages. */
export const STATUS_QUERY = "parleyStatus";

/** The server's ParleyStatus message. */
interface StatusMessage {
  type: "ParleyStatus";
  stale: boolean;
}

const PREFIX = '{"type":"ParleyStatus"';

/** The status in a message's data, or undefined when it is not a ParleyStatus. */
export function parseStatus(data: unknown): StatusMessage | undefined {
  if (typeof data !== "string" || !data.startsWith(PREFIX)) return undefined;
  try {
    const m = JSON.parse(data) as Partial<StatusMessage>;
    return m.type === "ParleyStatus" && typeof m.stale === "boolean" ? (m as StatusMessage) : undefined;
  } catch {
    return undefined;
  }
}

/** url with ?parleyStatus=1 added. */
export function withStatusQuery(url: string | URL): string {
  const u = String(url);
  const hash = u.indexOf("#");
  const [head, tail] = hash < 0 ? [u, ""] : [u.slice(0, hash), u.slice(hash)];
  return `${head}${head.includes("?") ? "&" : "?"}${STATUS_QUERY}=1${tail}`;
}

type MessageHandler = ((this: WebSocket, ev: MessageEvent) => unknown) | null;

/**
 * A WebSocket class like Base that opts in to ParleyStatus messages and
 * hands each one's stale flag to onStatus instead of to the onmessage
 * handler (which is how convex listens, in the pinned version).
 */
export function statusSocket(Base: typeof WebSocket, onStatus: (stale: boolean) => void): typeof WebSocket {
  class ParleyStatusSocket extends Base {
    #handler: MessageHandler = null;

    constructor(url: string | URL, ...rest: unknown[]) {
      super(withStatusQuery(url), ...(rest as [string | string[] | undefined]));
    }

    override get onmessage(): MessageHandler {
      return this.#handler;
    }

    override set onmessage(handler: MessageHandler) {
      this.#handler = handler;
      if (!handler) {
        super.onmessage = null;
        return;
      }
      super.onmessage = function (this: WebSocket, ev: MessageEvent) {
        const status = parseStatus(ev.data);
        if (status) {
          onStatus(status.stale);
          return;
        }
        return handler.call(this, ev);
      };
    }
  }
  return ParleyStatusSocket;
}
