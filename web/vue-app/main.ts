// The API document's "Vue Composition API" integration through
// @parley/client/vue: ParleyPlugin, useChat (the React hook's fields as
// refs) and useQuery ({ data, error, isPending }, documented beside React's
// in client-ts/README.md), in a Vue app with no build step of its own (a
// render function: no SFC compiler needed). It signs in as a demo identity
// of `parley dev` (?as=KEY) and shows ?conversation=ID with a composer.
import { api, createParleyClient } from "@parley/client";
import { ParleyPlugin, useChat, useQuery } from "@parley/client/vue";
import { createApp, defineComponent, h, ref } from "vue";

const params = new URLSearchParams(window.location.search);
const who = params.get("as") ?? "john";
const conv = params.get("conversation") ?? "conv123456789";

const client = createParleyClient({
  url: window.location.origin,
  auth: async () => {
    const res = await fetch("/dev/token", { method: "POST", body: JSON.stringify({ identity: who }) });
    return res.ok ? ((await res.json()) as { token: string }).token : null;
  },
});

const App = defineComponent({
  setup() {
    const conversationId = ref(conv);
    const { messages, sendMessage, isLoading } = useChat(conversationId);
    const { data: unread, isPending } = useQuery(api.shared.chat.getUnreadCount);
    const text = ref("");
    return () =>
      isLoading.value
        ? h("p", { "data-testid": "loading" }, "Loading…")
        : h("main", [
            h("p", { "data-testid": "unread" }, `unread: ${isPending.value ? "…" : unread.value}`),
            h(
              "ul",
              [...(messages.value ?? [])]
                .reverse()
                .map((m) => h("li", { key: m._id, "data-testid": "vue-message" }, [h("b", m.senderName), `: ${m.content}`])),
            ),
            h(
              "form",
              {
                onSubmit: (e: Event) => {
                  e.preventDefault();
                  void sendMessage(text.value);
                  text.value = "";
                },
              },
              [
                h("input", {
                  "data-testid": "vue-input",
                  value: text.value,
                  onInput: (e: Event) => (text.value = (e.target as HTMLInputElement).value),
                }),
              ],
            ),
          ]);
  },
});

createApp(App).use(ParleyPlugin, { client }).mount("#root");
