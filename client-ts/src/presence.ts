import type { HeartbeatArgs, HeartbeatResult } from "./api.js";

/** Options of {@link PresenceHeartbeat}. */
export interface PresenceHeartbeatOptions {
  /**
   * Beat this often until the server's answer says otherwise (its
   * `intervalMs`, a third of its presence TTL). Zero means 10000ms.
   */
  intervalMs?: number;
}

/**
 * PresenceHeartbeat keeps the connection's presence entry alive
 * (`shared/support:heartbeat`): it beats at once on {@link start}, then every
 * interval (the server's `intervalMs` once one answer came), at once when
 * {@link setIdle} changes the idle state, and on {@link beat} (after a
 * reconnect or a new identity, whose connection the server no longer counts).
 * Errors of send (a rate limit, a dropped connection) are swallowed: the next
 * beat tries again, and the entry outlives one missed beat.
 *
 * It is framework-free; {@link ParleyClient.startPresence} wires one to a
 * client. One per connection: {@link dispose} it when done.
 */
export class PresenceHeartbeat {
  private readonly send: (args: HeartbeatArgs) => unknown;
  private intervalMs: number;
  private idle = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private lastBeatAt = 0;

  constructor(send: (args: HeartbeatArgs) => unknown, options: PresenceHeartbeatOptions = {}) {
    this.send = send;
    this.intervalMs = options.intervalMs || 10_000;
  }

  /** Whether the last beat sent (or about to be sent) said idle. */
  get isIdle(): boolean {
    return this.idle;
  }

  /** Starts beating (a no-op when started). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.beat();
  }

  /** Says whether the user is idle (a hidden tab, no input): a change beats at once. */
  setIdle(idle: boolean): void {
    if (idle === this.idle) return;
    this.idle = idle;
    if (this.running) this.beat();
  }

  /** Beats now and starts the interval again. */
  beat(): void {
    if (!this.running) return;
    this.lastBeatAt = Date.now();
    this.schedule(this.intervalMs);
    let sent: unknown;
    try {
      sent = this.send({ idle: this.idle });
    } catch {
      return;
    }
    if (sent && typeof (sent as Promise<unknown>).then === "function") {
      (sent as Promise<HeartbeatResult | undefined>).then(
        (res) => this.adopt(res?.intervalMs),
        () => {},
      );
    }
  }

  /** Takes the server's interval, counted from the last beat. */
  private adopt(intervalMs: number | undefined): void {
    if (typeof intervalMs !== "number" || !(intervalMs > 0) || intervalMs === this.intervalMs) return;
    this.intervalMs = intervalMs;
    if (this.running && this.timer !== undefined) this.schedule(Math.max(0, this.lastBeatAt + intervalMs - Date.now()));
  }

  private schedule(delayMs: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.beat();
    }, delayMs);
  }

  /** Stops beating; the server drops the entry when the connection closes, or after its TTL. */
  dispose(): void {
    this.running = false;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
