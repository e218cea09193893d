// Transports for clients that cannot hold a WebSocket (a proxy that
// refuses the Upgrade): WebSocket-shaped classes that speak the same sync
// protocol over Server-Sent Events plus POSTs, or over long polls plus
// POSTs, so that convex's client, which is given one as its
// webSocketConstructor, works unchanged on each. The server side is
// reactive/transport's sse.go and poll.go:
//
//   SSE:  GET  /api/<v>/sse-sync                    the stream; its first event
//                                                   names the connection's URL
//         POST /api/<v>/sse-sync?connection=…       client messages (a JSON array)
//   poll: POST /api/<v>/poll-sync                   opens: {connectionId, url}
//         GET  <url>&after=N                        frames numbered after N
//         POST <url>                                client messages
//         DELETE <url>                              close
//
// A close from the server carries the code and reason a WebSocket Close
// frame would; anything else that ends a connection is reported as 1006,
// and convex reconnects as after a dropped WebSocket.

/** How a client reaches the server; see {@link ParleyClientOptions.transport}. */
export type Transport = "auto" | "websocket" | "sse" | "poll";

/** The transports "auto" tries, in order. */
const ORDER = ["websocket", "sse", "poll"] as const;

/** A transport a connection actually uses. */
export type ActiveTransport = (typeof ORDER)[number];

type Handler<E> = ((this: unknown, ev: E) => unknown) | null;

interface CloseEventLike {
  type: "close";
  code: number;
  reason: string;
  wasClean: boolean;
}

/** The most client messages one POST carries (the server takes up to 64). */
const MAX_BATCH = 32;
/** A batch stops growing past this many characters. */
const MAX_BATCH_CHARS = 256 * 1024;

/** The http(s) URL of endpoint ("sse-sync", "poll-sync") for convex's ws(s)://…/api/<v>/sync URL. */
export function transportURL(wsURL: string | URL, endpoint: string): URL {
  const u = new URL(String(wsURL));
  u.protocol = u.protocol === "wss:" ? "https:" : u.protocol === "ws:" ? "http:" : u.protocol;
  u.pathname = u.pathname.replace(/\/sync$/, "/" + endpoint);
  return u;
}

/**
 * The WebSocket surface convex (pinned version) uses: the four handlers
 * (accessors, so that statusSocket's subclass can wrap onmessage), send,
 * close and readyState. Handlers are called with the socket as this.
 */
abstract class SocketShape {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readonly url: string;
  protected state = 0;
  #onopen: Handler<Event> = null;
  #onmessage: Handler<MessageEvent> = null;
  #onclose: Handler<CloseEventLike> = null;
  #onerror: Handler<Event> = null;

  constructor(url: string | URL) {
    this.url = String(url);
  }

  get readyState(): number {
    return this.state;
  }
  get onopen(): Handler<Event> {
    return this.#onopen;
  }
  set onopen(h: Handler<Event>) {
    this.#onopen = h;
  }
  get onmessage(): Handler<MessageEvent> {
    return this.#onmessage;
  }
  set onmessage(h: Handler<MessageEvent>) {
    this.#onmessage = h;
  }
  get onclose(): Handler<CloseEventLike> {
    return this.#onclose;
  }
  set onclose(h: Handler<CloseEventLike>) {
    this.#onclose = h;
  }
  get onerror(): Handler<Event> {
    return this.#onerror;
  }
  set onerror(h: Handler<Event>) {
    this.#onerror = h;
  }

  // The stored handlers, not the accessors: a subclass's onmessage getter
  // returns what it was given, while the base holds its wrapper.
  protected emitOpen(): void {
    this.state = 1;
    this.#onopen?.call(this, { type: "open" } as Event);
  }
  protected emitMessage(data: string): void {
    this.#onmessage?.call(this, { type: "message", data } as MessageEvent);
  }
  protected emitError(message: string): void {
    this.#onerror?.call(this, { type: "error", message } as unknown as Event);
  }
  protected emitClose(code: number, reason: string): void {
    this.state = 3;
    this.#onclose?.call(this, { type: "close", code, reason, wasClean: code === 1000 });
  }

  abstract send(data: string): void;
  abstract close(code?: number, reason?: string): void;
}

/**
 * What the SSE and poll sockets share: a connection URL the server names,
 * client messages POSTed there one batch at a time (the server handles
 * them in order), and the end of the connection, reported once.
 */
abstract class HttpSyncSocket extends SocketShape {
  protected readonly endpoint: URL;
  protected readonly abort = new AbortController();
  /** The connection's URL, once the server named it. */
  protected connURL: string | undefined;
  #queue: string[] = [];
  #sending = false;
  #ended = false;

  constructor(url: string | URL, endpoint: string) {
    super(url);
    this.endpoint = transportURL(url, endpoint);
  }

  send(data: string): void {
    if (this.state !== 1) throw new Error(`send on a ${this.state === 0 ? "connecting" : "closed"} connection`);
    this.#queue.push(data);
    void this.flush();
  }

  /** POSTs queued messages, one request at a time. */
  protected async flush(): Promise<void> {
    if (this.#sending || !this.connURL) return;
    this.#sending = true;
    try {
      while (this.#queue.length > 0 && !this.#ended) {
        let n = 0;
        let chars = 0;
        while (n < this.#queue.length && n < MAX_BATCH && (n === 0 || chars + this.#queue[n]!.length <= MAX_BATCH_CHARS)) {
          chars += this.#queue[n]!.length;
          n++;
        }
        const batch = this.#queue.splice(0, n);
        // text/plain: a "simple" request, no CORS preflight per send.
        const resp = await fetch(this.connURL, {
          method: "POST",
          headers: { "Content-Type": "text/plain;charset=UTF-8" },
          body: `[${batch.join(",")}]`,
          signal: this.abort.signal,
        });
        if (!resp.ok) {
          this.end(1006, `send refused: HTTP ${resp.status}`);
          return;
        }
      }
    } catch (e) {
      this.end(1006, `send failed: ${errorText(e)}`);
    } finally {
      this.#sending = false;
    }
  }

  close(code = 1005, reason = ""): void {
    if (this.#ended) return;
    const url = this.connURL;
    if (url) {
      // Tell the server now rather than when the stream breaks or the
      // poll connection idles out. keepalive: it survives a page unload.
      fetch(url, { method: "DELETE", keepalive: true }).catch(() => {});
    }
    this.state = 2;
    // As a WebSocket's, onclose comes later, never inside close().
    setTimeout(() => this.end(code, reason), 0);
  }

  /** Ends the connection (once): stops its requests and reports the close. */
  protected end(code: number, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.abort.abort();
    if (code === 1006 && this.state !== 2) this.emitError(reason);
    this.emitClose(code, reason);
  }

  protected get ended(): boolean {
    return this.#ended;
  }

  /** The connection's URL from the server's path. */
  protected named(path: string): void {
    this.connURL = new URL(path, this.endpoint).toString();
  }

  /** Reports a close the server sent ({code, reason}). */
  protected serverClose(data: string): void {
    try {
      const c = JSON.parse(data) as { code?: unknown; reason?: unknown };
      this.end(typeof c.code === "number" ? c.code : 1006, typeof c.reason === "string" ? c.reason : "");
    } catch {
      this.end(1006, "bad close event");
    }
  }
}

/** The sync protocol over an SSE stream (read with fetch) and POSTs. */
export class SseSyncSocket extends HttpSyncSocket {
  constructor(url: string | URL) {
    super(url, "sse-sync");
    void this.#run();
  }

  async #run(): Promise<void> {
    try {
      const resp = await fetch(this.endpoint, {
        headers: { Accept: "text/event-stream" },
        cache: "no-store",
        signal: this.abort.signal,
      });
      if (!resp.ok || !resp.body) {
        this.end(1006, `SSE stream refused: HTTP ${resp.status}`);
        return;
      }
      await readEvents(resp.body, (event, data) => {
        if (this.ended) return;
        if (event === "connection") {
          const c = JSON.parse(data) as { send: string };
          this.named(c.send);
          this.emitOpen();
          void this.flush();
        } else if (event === "close") {
          this.serverClose(data);
        } else if (event === "message" && this.state === 1) {
          this.emitMessage(data);
        }
      });
      this.end(1006, "SSE stream ended");
    } catch (e) {
      this.end(1006, `SSE stream failed: ${errorText(e)}`);
    }
  }
}

/** The sync protocol over long polls and POSTs. */
export class PollSyncSocket extends HttpSyncSocket {
  constructor(url: string | URL) {
    super(url, "poll-sync");
    void this.#run();
  }

  async #run(): Promise<void> {
    try {
      const open = await fetch(this.endpoint, { method: "POST", cache: "no-store", signal: this.abort.signal });
      if (!open.ok) {
        this.end(1006, `long poll refused: HTTP ${open.status}`);
        return;
      }
      const c = (await open.json()) as { url: string };
      this.named(c.url);
      this.emitOpen();
      void this.flush();
      let after = 0;
      while (!this.ended) {
        const resp = await fetch(`${this.connURL}&after=${after}`, { cache: "no-store", signal: this.abort.signal });
        if (!resp.ok) {
          this.end(1006, resp.status === 404 ? "long-poll connection ended" : `poll refused: HTTP ${resp.status}`);
          return;
        }
        const a = (await resp.json()) as { frames: unknown[]; last: number; close?: { code: number; reason: string } };
        after = a.last;
        for (const f of a.frames) {
          if (this.ended) return;
          this.emitMessage(JSON.stringify(f));
        }
        if (a.close) {
          this.end(a.close.code, a.close.reason);
          return;
        }
      }
    } catch (e) {
      this.end(1006, `long poll failed: ${errorText(e)}`);
    }
  }
}

/**
 * Reads an event stream, calling onEvent with each event's type
 * ("message" when unnamed) and data, until the stream ends.
 */
export async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (event: string, data: string) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let event = "";
  let data: string[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      if (buf[nl] === "\r" && nl === buf.length - 1) break; // a "\n" may follow in the next chunk
      const line = buf.slice(0, nl);
      buf = buf.slice(buf[nl] === "\r" && buf[nl + 1] === "\n" ? nl + 2 : nl + 1);
      if (line === "") {
        if (data.length > 0) onEvent(event || "message", data.join("\n"));
        event = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Where "auto" stands: the transport that last worked, shared by one client's connections. */
export interface TransportState {
  /** Index in ORDER of the transport to try first. */
  first: number;
  /** When first last moved past the WebSocket. */
  since: number;
  /** The transport of the open connection, if any. */
  current: ActiveTransport | undefined;
}

export function newTransportState(): TransportState {
  return { first: 0, since: 0, current: undefined };
}

/** How long "auto" waits for a WebSocket to open before it tries SSE. */
export const WEBSOCKET_OPEN_TIMEOUT_MS = 8_000;
/** After this long on a fallback, "auto" tries the WebSocket first again (at the next reconnect). */
export const WEBSOCKET_RETRY_AFTER_MS = 10 * 60_000;

type SocketLike = {
  onopen: unknown;
  onmessage: unknown;
  onclose: unknown;
  onerror: unknown;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  readonly readyState: number;
};

/**
 * The webSocketConstructor for transport: ws itself for "websocket", a
 * shim for "sse" and "poll", and for "auto" a socket that tries the
 * WebSocket, then SSE, then long polling, each only when the one before
 * could not open (a handshake refused, a close before open, no open
 * within WEBSOCKET_OPEN_TIMEOUT_MS), and starts where the last working one
 * was (state) at each reconnect. Undefined for "websocket" and "auto"
 * when there is no WebSocket to wrap: convex then uses its own default
 * (in Node, a bundled ws), without fallback.
 */
export function transportConstructor(
  transport: Transport,
  ws: typeof WebSocket | undefined,
  state: TransportState,
): typeof WebSocket | undefined {
  const make = (kind: ActiveTransport, url: string | URL): SocketLike => {
    if (kind === "sse") return new SseSyncSocket(url);
    if (kind === "poll") return new PollSyncSocket(url);
    return new ws!(url) as unknown as SocketLike;
  };
  if (!ws && (transport === "websocket" || transport === "auto")) return undefined;
  const order: readonly ActiveTransport[] = transport === "auto" ? ORDER : [transport];

  class ParleyTransportSocket extends SocketShape {
    #inner: SocketLike | undefined;
    #closed = false;

    constructor(url: string | URL) {
      super(url);
      if (state.first > 0 && Date.now() - state.since > WEBSOCKET_RETRY_AFTER_MS) state.first = 0;
      this.#try(Math.min(state.first, order.length - 1), url);
    }

    #try(i: number, url: string | URL): void {
      const kind = order[i]!;
      const inner = make(kind, url);
      this.#inner = inner;
      let opened = false;
      const fallback = i + 1 < order.length;
      const timer =
        kind === "websocket" && fallback
          ? setTimeout(() => {
              if (opened || this.#closed) return;
              detach(inner);
              inner.close();
              this.#try(i + 1, url);
            }, WEBSOCKET_OPEN_TIMEOUT_MS)
          : undefined;
      inner.onopen = () => {
        opened = true;
        clearTimeout(timer);
        if (i !== state.first) {
          state.first = i;
          state.since = Date.now();
        }
        state.current = kind;
        this.emitOpen();
      };
      inner.onmessage = (ev: MessageEvent) => this.emitMessage(ev.data as string);
      inner.onerror = (ev: Event & { message?: string }) => {
        if (opened || !fallback) this.emitError(ev.message ?? "");
      };
      inner.onclose = (ev: CloseEventLike) => {
        clearTimeout(timer);
        if (!opened && fallback && !this.#closed) {
          this.#try(i + 1, url); // could not open: the next transport
          return;
        }
        if (state.current === kind) state.current = undefined;
        this.emitClose(ev.code, ev.reason);
      };
    }

    send(data: string): void {
      this.#inner!.send(data);
    }

    close(code?: number, reason?: string): void {
      this.#closed = true;
      this.state = 2;
      this.#inner!.close(code, reason);
    }
  }
  return ParleyTransportSocket as unknown as typeof WebSocket;
}

function detach(s: SocketLike): void {
  s.onopen = null;
  s.onmessage = null;
  s.onerror = null;
  s.onclose = null;
}
