// Delivery acknowledgements (markDelivered): a client that has received
// others' messages says so, once per newer message and conversation.

import type { MarkDeliveredArgs, MessageDoc } from "./api.js";
import { isParleyError } from "./errors.js";

/** The messages an acknowledgement looks at: getMessages' or a page's. */
export type ReceivedMessages = ReadonlyArray<Pick<MessageDoc, "_id" | "_creationTime" | "senderId" | "deliveredTo">>;

/**
 * Acknowledges received messages: given a conversation's messages as a
 * result brought them, it calls markDelivered up to the newest message
 * someone else sent, unless this client has already acknowledged it (or a
 * newer one). A conversation the caller only moderates (403) is not asked
 * again. Used by useChat (React and Vue) and ParleyClient.acknowledgeDelivery.
 */
export class DeliveryAcker {
  private readonly acked = new Map<string, number>();
  private readonly refused = new Set<string>();

  constructor(private readonly send: (args: MarkDeliveredArgs) => Promise<unknown>) {}

  /**
   * Acknowledges messages of conversationId received by subject (the
   * caller's user id). Returns the call, or undefined when none was due.
   */
  observe(
    conversationId: string,
    subject: string | undefined,
    messages: ReceivedMessages | undefined,
  ): Promise<void> | undefined {
    if (!subject || !messages) return undefined;
    const key = `${subject}\u0000${conversationId}`; // a new identity acknowledges for itself
    if (this.refused.has(key)) return undefined;
    let newest: ReceivedMessages[number] | undefined;
    for (const m of messages) {
      if (m.senderId !== subject && (newest === undefined || m._creationTime > newest._creationTime)) newest = m;
    }
    if (!newest || newest.deliveredTo?.includes(subject)) return undefined;
    const done = this.acked.get(key);
    if (done !== undefined && done >= newest._creationTime) return undefined;
    this.acked.set(key, newest._creationTime);
    const at = newest._creationTime;
    return this.send({ conversationId, upToMessageId: newest._id }).then(
      () => undefined,
      (e: unknown) => {
        if (isParleyError(e, "forbidden")) {
          this.refused.add(key);
          return;
        }
        // Not acknowledged: the next result tries again.
        if (this.acked.get(key) === at) this.acked.delete(key);
      },
    );
  }
}
