// latency.mjs: write→push latency through the official client, end to end.
// One client (the store) sends messages; another (John) is subscribed to
// getMessages; each round trip is timed from the send call until the
// subscriber holds the message. Not a test: run it against `parley dev`.
//
//   PARLEY_URL=http://127.0.0.1:3210 \
//   PARLEY_TOKEN_CUSTOMER=$(bin/parley token --sub cust123456789 --role customer --name "John Doe") \
//   PARLEY_TOKEN_STORE=$(bin/parley token --sub user123456789 --role store --store-id store123456789) \
//   node e2e/node/latency.mjs [rounds]
import { ConvexClient } from "convex/browser";
import { anyApi as api } from "convex/server";

const url = process.env.PARLEY_URL ?? "http://127.0.0.1:3210";
const rounds = Number(process.argv[2] ?? 500);
const john = new ConvexClient(url);
john.setAuth(async () => process.env.PARLEY_TOKEN_CUSTOMER);
const store = new ConvexClient(url);
store.setAuth(async () => process.env.PARLEY_TOKEN_STORE);

const { conversationId } = await john.mutation(api.shared.chat.createOrGetConversation,
  { orderId: "order987654321", storeId: "store123456789" });
let want = null;
let arrived = null;
john.onUpdate(api.shared.chat.getMessages, { conversationId, limit: 5 }, (page) => {
  if (want !== null && page.messages[0]?.content === want) arrived();
});
await new Promise((r) => setTimeout(r, 300));

const samples = [];
for (let i = 0; i < rounds; i++) {
  want = `latency probe ${i} ${Math.random()}`;
  const seen = new Promise((r) => (arrived = r));
  const t0 = performance.now();
  store.mutation(api.shared.chat.sendMessage, { conversationId, content: want, messageType: "text" });
  await seen;
  samples.push(performance.now() - t0);
  // Stay under the default rate limit (5 messages/s, bursts of 10).
  await new Promise((r) => setTimeout(r, 210));
}
samples.sort((a, b) => a - b);
const q = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))].toFixed(2);
console.log(`send → subscriber has it, ${samples.length} rounds (ms): p50 ${q(0.5)}  p95 ${q(0.95)}  p99 ${q(0.99)}  max ${q(1)}`);
await john.close();
await store.close();
