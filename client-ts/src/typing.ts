/** Options of {@link TypingNotifier}. */
export interface TypingNotifierOptions {
  /**
   * While the user keeps typing, "typing" is re-sent at most this often (the
   * server forgets an indicator after its typing TTL, 5s by default).
   * Zero means 2000ms.
   */
  throttleMs?: number;
  /** A pause this long sends "stopped typing". Zero means 2000ms. */
  idleMs?: number;
}

/**
 * TypingNotifier turns keystrokes into typing updates: the first keystroke
 * sends `true` at once; continuous typing re-sends `true` at most once per
 * throttleMs; a pause of idleMs (or {@link TypingNotifier.stop}) sends one
 * `false`. Errors of send (a rate limit, a dropped connection) are swallowed:
 * typing indicators are best effort.
 *
 * It is framework-free; the React and Vue `useChat` use one per conversation.
 * Not safe to share between conversations: make one per conversation and
 * {@link TypingNotifier.dispose} it when leaving.
 */
export class TypingNotifier {
  private readonly send: (isTyping: boolean) => unknown;
  private readonly throttleMs: number;
  private readonly idleMs: number;
  private typing = false;
  private lastSentAt = -Infinity;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;

  constructor(send: (isTyping: boolean) => unknown, options: TypingNotifierOptions = {}) {
    this.send = send;
    this.throttleMs = options.throttleMs || 2000;
    this.idleMs = options.idleMs || 2000;
  }

  /** Whether the last update sent (or about to be sent) was "typing". */
  get isTyping(): boolean {
    return this.typing;
  }

  /** Call on every keystroke. */
  input(): void {
    if (this.disposed) return;
    const now = Date.now();
    if (!this.typing || now - this.lastSentAt >= this.throttleMs) {
      this.typing = true;
      this.lastSentAt = now;
      this.emit(true);
    }
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.stop();
    }, this.idleMs);
  }

  /** Sends "stopped typing" if "typing" was the last update sent. */
  stop(): void {
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    if (!this.typing) return;
    this.typing = false;
    this.lastSentAt = -Infinity;
    this.emit(false);
  }

  /**
   * Forgets the typing state without sending anything: after a message was
   * sent, which ends typing on the server.
   */
  reset(): void {
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    this.typing = false;
    this.lastSentAt = -Infinity;
  }

  /** Stops (sending "stopped typing" if needed); later input is ignored. */
  dispose(): void {
    if (this.disposed) return;
    this.stop();
    this.disposed = true;
  }

  private emit(isTyping: boolean): void {
    try {
      const r = this.send(isTyping);
      if (r && typeof (r as Promise<unknown>).catch === "function") {
        (r as Promise<unknown>).catch(() => {});
      }
    } catch {
      // best effort
    }
  }
}
