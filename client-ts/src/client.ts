import { ConvexClient } from "convex/browser";
import type { ConnectionState, ConvexClientOptions, PaginationStatus } from "convex/browser";
import { getFunctionName } from "convex/server";
import type {
  FunctionArgs,
  FunctionReference,
  FunctionReturnType,
  OptionalRestArgs,
  PaginationOptions,
  PaginationResult,
} from "convex/server";
import { api } from "./api.js";
import type { ChatSettings, SendMessageArgs } from "./api.js";
import { DeliveryAcker, type ReceivedMessages } from "./delivery.js";
import { ParleyUploadError, parleyErrorData } from "./errors.js";
import { PresenceHeartbeat, type PresenceHeartbeatOptions } from "./presence.js";
import { statusSocket } from "./status.js";
import { newTransportState, transportConstructor, type ActiveTransport, type Transport } from "./transports.js";
import { checkImage, postImage } from "./upload.js";
import type { UploadImageOptions, UploadResult } from "./upload.js";

/**
 * Returns the current JWT, or null/undefined when the user is signed out.
 * It is called at start (`forceRefreshToken: false`), then with
 * `forceRefreshToken: true` before each token's `exp` (see
 * {@link ParleyClientOptions.authRefreshLeewaySeconds}) and when the server
 * rejected a token: return a newly issued token then, not a cached one (a
 * token identical to the current one is not sent again, and no further
 * refresh is scheduled). The refresh is scheduled `exp − iat − leeway` after
 * the server accepts a token, so the first token should be recently issued
 * too.
 */
export type AuthFetcher = (args: { forceRefreshToken: boolean }) => Promise<string | null | undefined>;

/**
 * Tells the client that the app came back to the foreground: it registers
 * onForeground and returns a function that unregisters it. The default, in a
 * browser, listens to `visibilitychange`; in React Native pass
 * {@link appStateForegroundSignal}(AppState).
 */
export type ForegroundSignal = (onForeground: () => void) => () => void;

/**
 * Who the client's current token says the caller is: its claims, decoded
 * without checking the signature (the server checks it). Parley tokens
 * carry `sub`, `role` and, for store staff, `store_id`; a guest's
 * (requestGuestToken) has role "guest".
 */
export interface TokenIdentity {
  subject: string;
  role: "customer" | "store" | "admin" | "guest" | (string & {});
  name?: string;
  storeId?: string;
  /** The token's exp, in milliseconds since the epoch (undefined when it has none). */
  expiresAt?: number;
}

/** The three states of the connection to the server. */
export type ConnectionStatus = "connected" | "connecting" | "disconnected";

/** Options of {@link createParleyClient}. */
export interface ParleyClientOptions {
  /** The server's URL, e.g. "http://127.0.0.1:3210" (http or https). */
  url: string;
  /** Supplies the JWT; omit for an anonymous client. */
  auth?: AuthFetcher | (() => Promise<string | null | undefined>);
  /** Called when the server accepts (true) or stops accepting (false) the token. */
  onAuthChange?: (isAuthenticated: boolean) => void;
  /**
   * The token is fetched again this many seconds before its `exp` (it needs
   * `iat` and `exp` claims, which `parley token` and any OIDC provider set).
   * Undefined means 10s, convex's default.
   */
  authRefreshLeewaySeconds?: number;
  /**
   * Where app-foreground events come from; each one reconnects at once if
   * the connection is down, instead of waiting out the reconnect backoff.
   * Undefined means `visibilitychange` when `document` exists when the
   * client is created (never at import); false turns it off.
   */
  foregroundSignal?: ForegroundSignal | false;
  /**
   * On an app-foreground event, a connection that looks open but has heard
   * nothing from the server (not even its pings, every 15s when idle) for
   * this long is taken for half-open (e.g. the network changed while the app
   * was in the background) and replaced at once. Undefined means 35 000 ms;
   * 0 turns the check off (convex's own 60 s inactivity timeout remains).
   */
  staleConnectionMs?: number;
  /**
   * A WebSocket implementation where there is no global one. The client
   * wraps it (or the global one) to ask the server for its status
   * messages (see {@link ParleyClient.isStale}).
   */
  webSocketConstructor?: typeof WebSocket;
  /**
   * How the client reaches the server. "websocket": the sync protocol
   * over a WebSocket (convex's own way). "sse": the same protocol over a
   * Server-Sent Events stream (read with fetch) plus POSTs, for networks
   * whose proxies refuse the WebSocket Upgrade. "poll": over long polls
   * plus POSTs, for proxies that also hold back streamed responses.
   * "auto" (the default): the WebSocket first; when it cannot open (its
   * handshake fails, it closes before it opens, or it has not opened after
   * 8 s) SSE, then long polling; the transport that worked is tried first
   * at every reconnect (the WebSocket again after 10 minutes). Queries,
   * mutations, hooks and read-your-writes behave the same on each. "auto"
   * and "websocket" wrap a WebSocket constructor (global, or
   * webSocketConstructor); where there is none (Node 20) convex's own
   * is used and "auto" cannot fall back: give webSocketConstructor (e.g.
   * the ws package). "sse" and "poll" need only fetch (SSE: with a
   * streaming response body; React Native's fetch has none, use "poll").
   */
  transport?: Transport;
  /**
   * How {@link ParleyClient.mutation} retries a mutation that failed because
   * the server could not reach its database (code `unavailable`, without
   * `mayHaveCommitted`) or refused it for a rate limit (`rate_limited`);
   * false turns retrying off.
   */
  mutationRetry?: MutationRetryOptions | false;
  /** Further options of convex's client (logger, verbose, …). */
  convex?: Omit<ConvexClientOptions, "webSocketConstructor" | "authRefreshTokenLeewaySeconds">;
}

/** Options of {@link ParleyClientOptions.mutationRetry}. */
export interface MutationRetryOptions {
  /**
   * Retries stop once the next one would start later than this after the
   * first attempt; the call then rejects with the last `unavailable` error.
   * Undefined means 60 000 ms.
   */
  maxTotalMs?: number;
  /** The longest wait between two attempts. Undefined means 5 000 ms. */
  maxDelayMs?: number;
  /** Called before each wait, e.g. to log it. */
  onRetry?: (info: MutationRetryInfo) => void;
}

/** What {@link MutationRetryOptions.onRetry} is told. */
export interface MutationRetryInfo {
  /** The mutation's path, e.g. "shared/chat:sendMessage". */
  udfPath: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** How long the client waits before the next attempt. */
  delayMs: number;
  /** The `unavailable` or `rate_limited` error of the failed attempt. */
  error: unknown;
}

/** Options of one {@link ParleyClient.mutation} call. */
export interface MutationCallOptions {
  /**
   * Stops the retries: an abort while the client waits to retry rejects at
   * once with the signal's reason. An attempt already sent is not recalled
   * (the server may apply it); its outcome is the call's.
   */
  signal?: AbortSignal;
}

/** A paginated subscription's current value (convex's PaginatedQueryResult). */
export interface PaginatedUpdate<T> {
  /** Every loaded item, page after page. */
  results: T[];
  status: PaginationStatus;
  /** Loads numItems more; returns whether loading started. */
  loadMore: (numItems: number) => boolean;
}

/** Where a failed page's error rides in a patched paginated result (see guardPaginatedErrors). */
const PAGE_ERROR: unique symbol = Symbol("parley.paginatedQueryError");

interface PaginatedClientInternals {
  localQueryResultByToken(token: string): unknown;
  processPaginatedQuerySplits(changed: unknown, getResult: (token: string) => unknown): void;
  [PAGE_ERROR]?: true;
}

/** The parts of convex's WebSocketManager (1.48.0) the client uses. */
interface SocketManagerInternals {
  socket?: { state: string };
  tryReconnectImmediately?: () => void;
  closeAndReconnect?: (reason: string) => void;
  resetServerInactivityTimeout?: () => void;
}

/** Arguments of {@link ParleyClient.sendImage}. */
export interface SendImageOptions extends UploadImageOptions {
  /** The caption (the message's content). */
  caption?: string;
  /** The file name shown; default: the File's name when it is a File. */
  fileName?: string;
}

/**
 * ParleyClient is one connection to a Parley server: typed queries,
 * subscriptions and mutations over convex's sync protocol (one WebSocket,
 * reconnection, query set, optimistic updates, pagination — all convex's),
 * connection state, and the image upload helper. Framework-free: React and
 * Vue adapters take it from `@parley/client/react` and `@parley/client/vue`.
 *
 * Safe to share across a whole app; create one per user session and
 * {@link ParleyClient.close} it when done (e.g. on sign-out).
 */
export class ParleyClient {
  /** The server URL. */
  readonly url: string;
  /**
   * The underlying convex client. `convex.client` is its BaseConvexClient,
   * which the React adapter shares (one socket for everything).
   */
  readonly convex: ConvexClient;
  private closed = false;
  private readonly stopForeground: (() => void) | undefined;
  private currentIdentity: TokenIdentity | undefined;
  private readonly identityListeners = new Set<(identity: TokenIdentity | undefined) => void>();
  private authGeneration = 0;
  private lastHeardAt = Date.now();
  private readonly staleConnectionMs: number;
  /** The server's last ParleyStatus (kept across reconnects); false until one arrives. */
  private serverStale = false;
  private lastStale: boolean;
  private readonly staleListeners = new Set<(stale: boolean) => void>();
  private readonly retry: Required<Omit<MutationRetryOptions, "onRetry">> & Pick<MutationRetryOptions, "onRetry">;
  private readonly retrying: boolean;
  /**
   * Per function, its rate-limit lane (see mutation): the turn of its last
   * mutation in it (refused ones sent again, new ones made meanwhile, one
   * at a time) and how many are in it. A function has a lane while some
   * wait in it.
   */
  private readonly limitedLanes = new Map<string, { tail: Promise<unknown>; size: number }>();
  /** Aborted by close(): ends every wait between mutation attempts. */
  private readonly closing = new AbortController();
  private readonly acker = new DeliveryAcker((args) => this.mutation(api.shared.chat.markDelivered, args));
  private readonly transportState = newTransportState();

  constructor(options: ParleyClientOptions) {
    if (!options || typeof options.url !== "string") {
      throw new Error("createParleyClient: url is required");
    }
    this.url = options.url.replace(/\/+$/, "");
    const convexOptions: ConvexClientOptions = { ...options.convex };
    // The socket asks for ParleyStatus messages and hands them to us, never
    // to convex (which takes an unknown message type for a protocol error).
    const ws = options.webSocketConstructor ?? (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
    const base = transportConstructor(options.transport ?? "auto", ws, this.transportState);
    if (base) {
      convexOptions.webSocketConstructor = statusSocket(base, (stale) => {
        this.serverStale = stale;
        this.notifyStale();
      });
    }
    const retry = options.mutationRetry;
    this.retrying = retry !== false;
    this.retry = {
      maxTotalMs: (retry ? retry.maxTotalMs : undefined) ?? 60_000,
      maxDelayMs: (retry ? retry.maxDelayMs : undefined) ?? 5_000,
      onRetry: retry ? retry.onRetry : undefined,
    };
    if (options.authRefreshLeewaySeconds !== undefined) {
      convexOptions.authRefreshTokenLeewaySeconds = options.authRefreshLeewaySeconds;
    }
    // initialAuthTokenReuse: the first token the server accepts gets a
    // refresh scheduled before its exp, like every later one. (convex's
    // default re-fetches it at once instead; a fetcher that answers that
    // with the same token, e.g. one minted within the same second, would
    // then never be refreshed, and the server drops the session at exp.)
    this.convex = new ConvexClient(this.url, {
      skipConvexDeploymentUrlCheck: true,
      initialAuthTokenReuse: true,
      ...convexOptions,
    });
    if (options.auth) {
      this.installAuth(options.auth, options.onAuthChange);
    }
    this.staleConnectionMs = options.staleConnectionMs ?? 35_000;
    // Every message from the server, pings included, resets convex's
    // inactivity timer (WebSocketManager internals of the pinned version):
    // that is when the server was last heard from.
    const manager = this.socketManager();
    if (manager && typeof manager.resetServerInactivityTimeout === "function") {
      const reset = manager.resetServerInactivityTimeout.bind(manager);
      manager.resetServerInactivityTimeout = () => {
        this.lastHeardAt = Date.now();
        reset();
      };
    }
    this.lastStale = this.isStale();
    this.convex.subscribeToConnectionState(() => this.notifyStale());
    const signal = options.foregroundSignal === undefined ? documentForegroundSignal() : options.foregroundSignal;
    this.stopForeground = signal ? signal(() => this.reconnectNow()) : undefined;
  }

  /** Runs a query once (served from the local cache when subscribed). */
  query<Q extends FunctionReference<"query">>(
    query: Q,
    ...args: OptionalRestArgs<Q>
  ): Promise<Awaited<FunctionReturnType<Q>>> {
    return this.convex.query(query, (args[0] ?? {}) as FunctionArgs<Q>);
  }

  /**
   * Runs a mutation; resolves once its result is visible to subscriptions.
   *
   * A mutation the server could not run because its database was
   * unreachable (code `unavailable`: nothing was written) is tried again,
   * waiting the error's retryAfterMs first, then twice as long each time
   * (see {@link ParleyClientOptions.mutationRetry}); meanwhile the promise
   * stays pending and subscriptions keep their last results. An
   * `unavailable` error with `mayHaveCommitted: true` (the outcome is
   * unknown, so a retry could apply it twice) and every other error reject
   * at once. While the connection itself is down, convex holds the
   * mutation and sends it on reconnect, as before.
   *
   * A mutation the server refused for a rate limit (`rate_limited`: the
   * server already let it wait its turn as long as it allows, 5 s by
   * default) is sent again after the error's retryAfterMs, as often as it
   * takes within maxTotalMs of its first try again (then it rejects with
   * the last error). Refused mutations of one function, and every
   * mutation of that function made while one waits, go through one at a
   * time in the order they were made, so that messages a client replays
   * after being offline arrive in order; other functions are not held up.
   * Typing updates and presence heartbeats are not sent again: a late one
   * is worthless.
   */
  mutation<M extends FunctionReference<"mutation">>(
    mutation: M,
    ...args: OptionalRestArgs<M>
  ): Promise<Awaited<FunctionReturnType<M>>>;
  mutation<M extends FunctionReference<"mutation">>(
    mutation: M,
    args: FunctionArgs<M>,
    options: MutationCallOptions,
  ): Promise<Awaited<FunctionReturnType<M>>>;
  mutation<M extends FunctionReference<"mutation">>(
    mutation: M,
    args?: FunctionArgs<M>,
    options: MutationCallOptions = {},
  ): Promise<Awaited<FunctionReturnType<M>>> {
    const call = () => this.convex.mutation(mutation, (args ?? {}) as FunctionArgs<M>);
    if (!this.retrying) return call();
    const udfPath = getFunctionName(mutation);
    if (this.limitedLanes.has(udfPath)) return this.inLimitedLane(udfPath, call, options.signal);
    return this.withRetries(udfPath, call, options.signal);
  }

  /**
   * Runs call in udfPath's rate-limit lane, after every mutation already in
   * it: first after refused's retryAfterMs when it was refused, else at
   * once; again after each `rate_limited` answer's retryAfterMs, and after
   * an `unavailable` one's backoff, within maxTotalMs of its turn. See
   * mutation.
   */
  private inLimitedLane<T>(udfPath: string, call: () => Promise<T>, signal: AbortSignal | undefined, refused?: unknown): Promise<T> {
    const lane = this.limitedLanes.get(udfPath) ?? { tail: Promise.resolve(), size: 0 };
    this.limitedLanes.set(udfPath, lane);
    lane.size++;
    const turn = lane.tail.then(async () => {
      const started = Date.now();
      let error = refused;
      let failed = refused === undefined ? 0 : 1;
      let backoff = 0;
      for (;;) {
        if (error !== undefined) {
          let delayMs = retryAfterMs(error);
          if (!rateLimited(error)) {
            backoff = Math.min(backoff === 0 ? delayMs : backoff * 2, Math.max(this.retry.maxDelayMs, delayMs));
            delayMs = backoff;
          }
          if (Date.now() + delayMs - started > this.retry.maxTotalMs || this.closed) throw error;
          this.retry.onRetry?.({ udfPath, attempt: failed, delayMs, error });
          await wait(delayMs, signal, this.closing.signal);
        }
        signal?.throwIfAborted();
        try {
          return await call();
        } catch (e) {
          if (!rateLimited(e) && !retryable(e)) throw e;
          error = e;
          failed++;
        }
      }
    });
    const done = turn.finally(() => {
      if (--lane.size === 0) this.limitedLanes.delete(udfPath);
    });
    lane.tail = done.catch(() => {});
    return done;
  }

  /** Runs call, again after a backoff while it fails as unavailable; see mutation. */
  private async withRetries<T>(udfPath: string, call: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const started = Date.now();
    let delay = 0;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      try {
        return await call();
      } catch (e) {
        if (rateLimited(e) && !this.closed && !NOT_SENT_AGAIN.has(udfPath)) return this.inLimitedLane(udfPath, call, signal, e);
        if (!retryable(e) || this.closed) throw e;
        const first = retryAfterMs(e);
        delay = Math.min(delay === 0 ? first : delay * 2, Math.max(this.retry.maxDelayMs, first));
        if (Date.now() + delay - started > this.retry.maxTotalMs) throw e;
        this.retry.onRetry?.({ udfPath, attempt, delayMs: delay, error: e });
        await wait(delay, signal, this.closing.signal);
      }
    }
  }

  /**
   * Whether live results may be out of date: the connection is down (or
   * not up yet, or the client is closed), or the server says it cannot
   * follow its database right now (its replication stream is interrupted,
   * or its re-runs cannot reach the database). Subscriptions keep their
   * last results meanwhile. A server that does not send its status (not
   * Parley) is taken to be up to date while connected.
   */
  isStale(): boolean {
    return this.closed || !this.convex.connectionState().isWebSocketConnected || this.serverStale;
  }

  /** Calls cb with {@link isStale} each time it changes; returns the unsubscribe function. */
  onStaleChange(cb: (stale: boolean) => void): () => void {
    this.staleListeners.add(cb);
    return () => {
      this.staleListeners.delete(cb);
    };
  }

  private notifyStale() {
    const now = this.isStale();
    if (now === this.lastStale) return;
    this.lastStale = now;
    for (const cb of [...this.staleListeners]) cb(now);
  }

  /**
   * Subscribes: callback gets every new result, onError every error.
   * Returns the unsubscribe function (which also has getCurrentValue()).
   */
  onUpdate<Q extends FunctionReference<"query">>(
    query: Q,
    args: FunctionArgs<Q>,
    callback: (result: FunctionReturnType<Q>) => unknown,
    onError?: (e: Error) => unknown,
  ): (() => void) & { getCurrentValue(): FunctionReturnType<Q> | undefined } {
    return this.convex.onUpdate(query, args, callback, onError);
  }

  /**
   * Subscribes to a paginated query (convex's onPaginatedUpdate_experimental:
   * live pages that grow and split): onResult gets each new value, onError
   * the error of a failed page. Returns the unsubscribe function (which also
   * has getCurrentValue(), throwing a failed page's error).
   *
   * In the pinned convex (1.48.0) a failed page throws out of the client's
   * transition handler: no onError, and every later transition stops at it
   * (other subscriptions miss their updates). This client guards its
   * paginated query client against that: a failed page becomes an
   * "Exhausted" value carrying the error, turned into onError here.
   */
  onPaginatedUpdate<Q extends FunctionReference<"query", "public", { paginationOpts: PaginationOptions }, PaginationResult<unknown>>>(
    query: Q,
    args: Omit<FunctionArgs<Q>, "paginationOpts">,
    options: { initialNumItems: number },
    onResult: (result: PaginatedUpdate<FunctionReturnType<Q>["page"][number]>) => unknown,
    onError: (e: Error) => unknown,
  ): (() => void) & { getCurrentValue(): PaginatedUpdate<FunctionReturnType<Q>["page"][number]> | undefined } {
    type R = PaginatedUpdate<FunctionReturnType<Q>["page"][number]>;
    this.guardPaginatedErrors();
    const current = (): R | undefined => {
      const r = unsubscribe.getCurrentValue() as (R & { [PAGE_ERROR]?: unknown }) | undefined;
      if (r && r[PAGE_ERROR] !== undefined) throw r[PAGE_ERROR];
      return r;
    };
    const unsubscribe = this.convex.onPaginatedUpdate_experimental(
      query,
      args as FunctionArgs<Q>,
      options,
      () => {
        let r: R | undefined;
        try {
          r = current();
        } catch (e) {
          onError(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        if (r) onResult(r);
      },
      onError,
    );
    return Object.assign(() => unsubscribe(), { getCurrentValue: current });
  }

  /** See onPaginatedUpdate: makes a failed page a value instead of an exception in convex's transition handler. */
  private guardPaginatedErrors(): void {
    const pc = (this.convex as unknown as { paginatedClient: PaginatedClientInternals }).paginatedClient;
    if (!pc || pc[PAGE_ERROR] || typeof pc.localQueryResultByToken !== "function") return;
    pc[PAGE_ERROR] = true;
    const localQueryResultByToken = pc.localQueryResultByToken.bind(pc);
    pc.localQueryResultByToken = (token) => {
      try {
        return localQueryResultByToken(token);
      } catch (e) {
        return { results: [], status: "Exhausted", loadMore: () => false, [PAGE_ERROR]: e };
      }
    };
    const processSplits = pc.processPaginatedQuerySplits.bind(pc);
    pc.processPaginatedQuerySplits = (changed, getResult) =>
      processSplits(changed, (token) => {
        try {
          return getResult(token);
        } catch {
          return undefined; // a failed page is not split
        }
      });
  }

  /**
   * Replaces the token fetcher (e.g. after sign-in); see
   * {@link ParleyClientOptions.auth}.
   */
  setAuth(auth: ParleyClientOptions["auth"], onAuthChange?: (isAuthenticated: boolean) => void): void {
    if (!auth) {
      this.clearAuth();
      return;
    }
    this.installAuth(auth, onAuthChange);
  }

  /** Drops the token: the connection continues anonymously. */
  clearAuth(): void {
    this.authGeneration++;
    this.setIdentity(undefined);
    this.convex.client.clearAuth();
  }

  /**
   * Who the current token says the caller is (decoded, not verified), or
   * undefined when there is no token (signed out, or not fetched yet).
   * The same object until the identity changes.
   */
  identity(): TokenIdentity | undefined {
    return this.currentIdentity;
  }

  /** Calls cb when {@link identity} changes (sign-in, sign-out, another user); returns the unsubscribe function. */
  onIdentityChange(cb: (identity: TokenIdentity | undefined) => void): () => void {
    this.identityListeners.add(cb);
    return () => {
      this.identityListeners.delete(cb);
    };
  }

  private installAuth(auth: NonNullable<ParleyClientOptions["auth"]>, onAuthChange?: (isAuthenticated: boolean) => void) {
    const fetcher = auth as AuthFetcher;
    const generation = ++this.authGeneration;
    this.convex.setAuth(
      async (args) => {
        const token = await fetcher(args);
        if (generation === this.authGeneration) this.setIdentity(token ? decodeIdentity(token) : undefined);
        return token;
      },
      (ok) => {
        if (!ok && generation === this.authGeneration) this.setIdentity(undefined);
        onAuthChange?.(ok);
      },
    );
  }

  private setIdentity(next: TokenIdentity | undefined) {
    const prev = this.currentIdentity;
    const same =
      prev === next ||
      (prev !== undefined &&
        next !== undefined &&
        prev.subject === next.subject &&
        prev.role === next.role &&
        prev.name === next.name &&
        prev.storeId === next.storeId);
    if (same) {
      if (prev && next) prev.expiresAt = next.expiresAt;
      return;
    }
    this.currentIdentity = next;
    for (const cb of [...this.identityListeners]) cb(next);
  }

  /** "connected", "connecting" (never connected yet) or "disconnected" (lost; reconnecting, or closed). */
  connectionState(): ConnectionStatus {
    if (this.closed) return "disconnected";
    return statusOf(this.convex.connectionState());
  }

  /**
   * The transport of the open connection ("websocket", "sse" or "poll"),
   * or undefined while there is none (or convex uses a WebSocket of its
   * own: no constructor was available to wrap).
   */
  transport(): ActiveTransport | undefined {
    return this.closed ? undefined : this.transportState.current;
  }

  /** convex's full connection state (inflight requests, retries, …). */
  connectionDetails(): ConnectionState {
    return this.convex.connectionState();
  }

  /** Calls cb with the new status each time it changes; returns the unsubscribe function. */
  onConnectionStateChange(cb: (status: ConnectionStatus) => void): () => void {
    let last = this.connectionState();
    return this.convex.subscribeToConnectionState(() => {
      const now = this.connectionState();
      if (now !== last) {
        last = now;
        cb(now);
      }
    });
  }

  /**
   * Reconnects at once when the connection is down and waiting out its
   * backoff, or when it looks open but nothing came from the server for
   * {@link ParleyClientOptions.staleConnectionMs} (a half-open socket after
   * the app was in the background); a no-op on a live connection. The
   * foreground signal calls it.
   */
  reconnectNow(): void {
    if (this.closed) return;
    // convex's WebSocketManager (pinned version) has no public hook for
    // this; tryReconnectImmediately is what its own "online" listener calls.
    const manager = this.socketManager();
    if (!manager) return;
    const silentFor = Date.now() - this.lastHeardAt;
    if (
      this.staleConnectionMs > 0 &&
      silentFor > this.staleConnectionMs &&
      (manager.socket?.state === "ready" || manager.socket?.state === "connecting")
    ) {
      manager.closeAndReconnect?.("ForegroundStaleConnection");
    }
    manager.tryReconnectImmediately?.();
  }

  private socketManager(): SocketManagerInternals | undefined {
    return (this.convex.client as unknown as { webSocketManager?: SocketManagerInternals }).webSocketManager;
  }

  /** The chat settings (image limits, …) as the server has them now. */
  chatSettings(): Promise<ChatSettings> {
    return this.query(api.shared.chat.getChatSettings, {});
  }

  /**
   * Uploads an image and returns its storageId (for
   * `sendMessage({messageType: "image", imageAttachment: {fileId: storageId}})`).
   * The file's type (sniffed from its first bytes) and size are checked
   * against getChatSettings first: a file the server would refuse rejects
   * with ParleyUploadError (reason "type" or "size") before any request is
   * made, not even generateUploadUrl.
   */
  async uploadImage(file: Blob, options: UploadImageOptions = {}): Promise<UploadResult> {
    const { signal } = options;
    const checkAborted = () => {
      if (signal?.aborted) throw new ParleyUploadError("aborted", "Upload aborted");
    };
    checkAborted();
    const settings = await this.chatSettings();
    const type = await checkImage(file, settings);
    checkAborted(); // no upload URL for an upload already given up
    const uploadUrl = await this.mutation(api.shared.chat.generateUploadUrl, {});
    checkAborted();
    return postImage(uploadUrl, file, type, options);
  }

  /**
   * Uploads file and sends it as an image message; returns the message id.
   */
  async sendImage(conversationId: string, file: Blob, options: SendImageOptions = {}): Promise<string> {
    const { storageId } = await this.uploadImage(file, options);
    const name = options.fileName ?? (file as Blob & { name?: unknown }).name;
    const args: SendMessageArgs = {
      conversationId,
      content: options.caption ?? "",
      messageType: "image",
      imageAttachment: {
        fileId: storageId,
        fileSize: file.size,
        ...(typeof name === "string" && name !== "" ? { fileName: name } : {}),
      },
    };
    return this.mutation(api.shared.chat.sendMessage, args);
  }

  /**
   * Tells the server this client has received conversationId's messages
   * (markDelivered up to the newest one someone else sent), unless it
   * already did for that message or a newer one. Call it with every
   * result that lists messages (useChat does for its own). A
   * conversation the caller only moderates is not acknowledged.
   */
  acknowledgeDelivery(conversationId: string, messages: ReceivedMessages | undefined): Promise<void> | undefined {
    if (this.closed) return undefined;
    return this.acker.observe(conversationId, this.currentIdentity?.subject, messages);
  }

  /**
   * Starts keeping this connection's presence alive
   * (`shared/support:heartbeat`, see {@link PresenceHeartbeat}): a beat now
   * (or as soon as the connection is up), every interval the server asks
   * for, and again after every reconnect or change of identity (the server
   * drops a connection's entry when it closes or logs out). Beats are
   * skipped while disconnected rather than queued. Tell it when the user is
   * idle with setIdle; dispose it (or close the client) to stop.
   */
  startPresence(options: PresenceHeartbeatOptions = {}): PresenceHeartbeat {
    const hb = new PresenceHeartbeat((args) => {
      if (this.closed || this.connectionState() !== "connected" || !this.currentIdentity) return undefined;
      return this.convex.mutation(api.shared.support.heartbeat, args);
    }, options);
    const offConnection = this.onConnectionStateChange((status) => {
      if (status === "connected") hb.beat();
    });
    const offIdentity = this.onIdentityChange(() => hb.beat());
    const dispose = hb.dispose.bind(hb);
    hb.dispose = () => {
      offConnection();
      offIdentity();
      dispose();
    };
    hb.start();
    return hb;
  }

  /** Whether close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the connection and stops every subscription. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort(new Error("ParleyClient closed"));
    this.stopForeground?.();
    this.notifyStale();
    await this.convex.close();
  }
}

/**
 * The identity a JWT claims: its payload (base64url JSON) read without
 * checking the signature; undefined when it is not a JWT with sub and role.
 */
export function decodeIdentity(token: string): TokenIdentity | undefined {
  try {
    const part = token.split(".")[1];
    if (!part) return undefined;
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4);
    // atob gives one char per byte; percent-encoding them lets
    // decodeURIComponent do the UTF-8 (no TextDecoder needed, e.g. on Hermes).
    const binary = atob(b64);
    const utf8 = Array.from(binary, (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
    const claims = JSON.parse(decodeURIComponent(utf8)) as Record<string, unknown>;
    if (typeof claims.sub !== "string" || typeof claims.role !== "string") return undefined;
    const id: TokenIdentity = { subject: claims.sub, role: claims.role };
    if (typeof claims.name === "string") id.name = claims.name;
    if (typeof claims.store_id === "string") id.storeId = claims.store_id;
    if (typeof claims.exp === "number") id.expiresAt = claims.exp * 1000;
    return id;
  } catch {
    return undefined;
  }
}

/** Whether a failed mutation is worth trying again: unavailable, and surely not applied. */
/** Mutations a rate limit's refusal is final for: a late one is worthless. */
const NOT_SENT_AGAIN = new Set(["shared/chat:updateTypingStatus", "shared/support:heartbeat"]);

/** Whether e is a rate limit's refusal (nothing was applied). */
function rateLimited(e: unknown): boolean {
  return parleyErrorData(e)?.code === "rate_limited";
}

/** How long e asks to wait before trying again: its retryAfterMs, else 1 s. */
function retryAfterMs(e: unknown): number {
  const after = Number(parleyErrorData(e)?.retryAfterMs);
  return Number.isFinite(after) && after > 0 ? after : 1000;
}

function retryable(e: unknown): boolean {
  const data = parleyErrorData(e);
  return data !== undefined && data.code === "unavailable" && data.mayHaveCommitted !== true;
}

/** Resolves after ms; rejects at once when either signal aborts (with its reason). */
function wait(ms: number, signal: AbortSignal | undefined, closing: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const signals = signal ? [signal, closing] : [closing];
    const done = () => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener("abort", onAbort);
    };
    const onAbort = function (this: AbortSignal) {
      done();
      reject(this.reason);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    for (const s of signals) {
      if (s.aborted) {
        done();
        reject(s.reason);
        return;
      }
      s.addEventListener("abort", onAbort);
    }
  });
}

function statusOf(s: ConnectionState): ConnectionStatus {
  if (s.isWebSocketConnected) return "connected";
  return s.hasEverConnected ? "disconnected" : "connecting";
}

/** visibilitychange → visible, when there is a document (looked up at call time). */
function documentForegroundSignal(): ForegroundSignal | undefined {
  const doc = (globalThis as { document?: Document }).document;
  if (!doc || typeof doc.addEventListener !== "function") return undefined;
  return (onForeground) => {
    const handler = () => {
      if (doc.visibilityState === "visible") onForeground();
    };
    doc.addEventListener("visibilitychange", handler);
    return () => doc.removeEventListener("visibilitychange", handler);
  };
}

/** The subset of React Native's AppState that {@link appStateForegroundSignal} uses. */
export interface AppStateLike {
  addEventListener(type: "change", listener: (state: string) => void): { remove(): void };
}

/**
 * A foreground signal from React Native's AppState (passed in, so this
 * package never imports react-native):
 *
 *     import { AppState } from "react-native";
 *     createParleyClient({ url, auth, foregroundSignal: appStateForegroundSignal(AppState) });
 */
export function appStateForegroundSignal(appState: AppStateLike): ForegroundSignal {
  return (onForeground) => {
    const sub = appState.addEventListener("change", (state) => {
      if (state === "active") onForeground();
    });
    return () => sub.remove();
  };
}

/** Creates a {@link ParleyClient}. */
export function createParleyClient(options: ParleyClientOptions): ParleyClient {
  return new ParleyClient(options);
}
