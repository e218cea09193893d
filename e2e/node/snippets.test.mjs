// The API document's code snippets (convex/shared/chat.ts, "Chat System
// API"), each pasted as the document writes it (only indented), run through
// the official ConvexClient as John Doe, and their results compared with the
// document's examples field by field.
//
// TestAPIDocumentSnippets (e2e/e2e_test.go) runs this file alone against a
// pristine server of its own: the demo data (schema/demo.go) is the
// document's data, so ids, names, amounts, timestamps and statuses are
// compared exactly. The tests run in file order and depend on it: the
// read-only snippets first, against the untouched demo conversation, then the
// snippets that write, then the document's "Error Handling" section.
//
// Not here: the document's React hook snippet (useQuery/useMutation from
// convex/react, api from ./convex/_generated/api), which needs a browser:
// web/convex-app is that snippet verbatim in a Convex app, with the api
// `parley codegen --convex-dir` generates, and web/tests/convex-app.test.mjs
// runs it in Chromium, with web/vue-app for the document's Vue
// Composition API tab (through @parley/client/vue).

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { ConvexClient } from "convex/browser";
import { anyApi as api } from "convex/server";
import { ConvexError } from "convex/values";
import { Clients, SERVER_URL, TOKENS, rejectsWithData, subscribe, within } from "./helpers.mjs";

// The document's `convex`: John Doe (cust123456789), the demo customer.
const convex = new ConvexClient(SERVER_URL);
convex.setAuth(async () => TOKENS.customer);

// The other side of the conversation and a moderator, for the snippets that
// need one (typing indicators, replies to mark as read, blocking).
const clients = new Clients();
const store = clients.ws(TOKENS.store); // user123456789, Pizza Palace Support
const admin = clients.ws(TOKENS.admin); // admin123456789, Parley Support

after(async () => {
  await Promise.all([convex.close(), clients.close()]);
});

// ---------------------------------------------------------------------------
// The document's example results, as it prints them.

const DOC_CONVERSATIONS = [
  {
    "_id" : "conv123456789" ,
    "_creationTime" : 1640995200000 ,
    "conversationType" : "customer_to_store" ,
    "storeId" : "store123456789" ,
    "storeName" : "Pizza Palace" ,
    "orderId" : "order123456789" ,
    "lastMessageAt" : 1640995800000 ,
    "lastMessagePreview" : "Thank you for your help!" ,
    "unreadCountCustomer" : 0 ,
    "unreadCountRecipient" : 0 ,
    "status" : "active"
  }
];

const DOC_CONVERSATION = {
  "_id" : "conv123456789" ,
  "_creationTime" : 1640995200000 ,
  "customerId" : "cust123456789" ,
  "customerName" : "John Doe" ,
  "conversationType" : "customer_to_store" ,
  "storeId" : "store123456789" ,
  "storeName" : "Pizza Palace" ,
  "orderId" : "order123456789" ,
  "orderSummary" : {
    "_id" : "order123456789" ,
    "totalAmount" : 25.50 ,
    "status" : "delivered" ,
    "orderDate" : 1640995000000
  },
  "status" : "active" ,
  "lastMessageAt" : 1640995800000 ,
  "unreadCountCustomer" : 0 ,
  "unreadCountRecipient" : 0
};

const DOC_MESSAGES = {
  "messages" : [
    {
      "_id" : "msg123456789" ,
      "_creationTime" : 1640995800000 ,
      "senderType" : "customer" ,
      "senderName" : "John Doe" ,
      "messageType" : "text" ,
      "content" : "Thank you for your help!" ,
      "isRead" : true ,
      "readAt" : 1640995900000 ,
      "isDeleted" : false
    },
    {
      "_id" : "msg987654321" ,
      "_creationTime" : 1640995700000 ,
      "senderType" : "store" ,
      "senderName" : "Pizza Palace Support" ,
      "messageType" : "text" ,
      "content" : "You're welcome! Is there anything else I can help you with?" ,
      "isRead" : true ,
      "readAt" : 1640995750000 ,
      "isDeleted" : false
    }
  ],
  "isDone" : true ,
  "continueCursor" : undefined
};

const DOC_TYPING_INDICATORS = [
  {
    "userId" : "user123456789" ,
    "userType" : "store" ,
    "userName" : "Pizza Palace Support" ,
    "lastTypingAt" : 1640996000000 // dynamic: compared by type and range
  }
];

const DOC_CAN_CHAT = {
  "canChat" : true ,
  "reason" : undefined ,
  "orderIds" : [ "order123456789" , "order987654321" ]
};

const DOC_SETTINGS = {
  "directMessagingEnabled" : true ,
  "maxImageSizeMB" : 5 ,
  "allowedImageTypes" : [ "image/jpeg" , "image/png" , "image/gif" , "image/webp" ],
  "adminSupportEnabled" : true
};

// Fields Parley returns that the document's examples do not show, with their
// demo values. They are asserted too, so a field that appears or vanishes is
// noticed.
const EXTRA_CONVERSATION_LIST_FIELDS = { customerId: "cust123456789", customerName: "John Doe", isBlocked: false };
const EXTRA_CONVERSATION_FIELDS = { isBlocked: false, lastMessagePreview: "Thank you for your help!" };
// status is the message's delivery state (sent, delivered, read; issue 17):
// both demo messages are read; a deleted message has none.
const EXTRA_MESSAGE_FIELDS = {
  msg123456789: { conversationId: "conv123456789", senderId: "cust123456789", status: "read" },
  msg987654321: { conversationId: "conv123456789", senderId: "user123456789", status: "read" },
};

/**
 * Asserts actual against the document's example: each documented field
 * exactly (a field the document shows as undefined must be absent: the wire
 * has no undefined), then the whole object as the documented fields plus
 * extra, Parley's own fields.
 */
function assertDocumented(actual, documented, extra, what) {
  assert.ok(actual !== null && typeof actual === "object" && !Array.isArray(actual), `${what}: an object, got ${JSON.stringify(actual)}`);
  for (const [k, v] of Object.entries(documented)) {
    if (v === undefined) {
      assert.ok(!(k in actual), `${what}.${k}: absent (undefined in the document), got ${JSON.stringify(actual[k])}`);
    } else {
      assert.deepEqual(actual[k], v, `${what}.${k}: the document's value`);
    }
  }
  const expected = {};
  for (const [k, v] of Object.entries({ ...documented, ...extra })) {
    if (v !== undefined) expected[k] = v;
  }
  assert.deepEqual(actual, expected, `${what}: the documented fields plus Parley's ${Object.keys(extra).join(", ") || "none"}`);
}

/** The newest messages of the demo conversation, as John sees them. */
async function johnsMessages(limit = 100) {
  const page = await within(convex.query(api.shared.chat.getMessages, { conversationId: "conv123456789", limit }), undefined, "getMessages");
  assert.equal(page.isDone, true, "precondition: the conversation fits in one page");
  return page.messages;
}

// ---------------------------------------------------------------------------
// Read-only snippets, on the untouched demo conversation.

test("Get Conversations: the document's conversation, exactly", async () => {
  const conversations = await convex . query ( api . shared . chat . getConversations , {
  status: "active" ,
  limit: 25
  });

  assert.ok(Array.isArray(conversations), `an array, got ${JSON.stringify(conversations)}`);
  assert.equal(conversations.length, DOC_CONVERSATIONS.length, `John has one conversation: ${JSON.stringify(conversations)}`);
  assertDocumented(conversations[0], DOC_CONVERSATIONS[0], EXTRA_CONVERSATION_LIST_FIELDS, "conversations[0]");
});

test("Get Conversation Details: the document's object with orderSummary", async () => {
  const conversation = await convex . query ( api . shared . chat . getConversation , {
  conversationId: "conv123456789"
  });

  assertDocumented(conversation, DOC_CONVERSATION, EXTRA_CONVERSATION_FIELDS, "conversation");
});

test("Get Messages: the document's two messages, newest first, isDone, no continueCursor", async () => {
  const result = await convex . query ( api . shared . chat . getMessages , {
  conversationId: "conv123456789" ,
  limit: 25
  });

  assert.deepEqual(Object.keys(result).sort(), ["isDone", "messages"], "continueCursor is absent (undefined)");
  assert.equal(result.isDone, DOC_MESSAGES.isDone);
  assert.equal(result.continueCursor, DOC_MESSAGES.continueCursor);
  assert.deepEqual(result.messages.map((m) => m._id), DOC_MESSAGES.messages.map((m) => m._id), "the two messages in the document's order");
  DOC_MESSAGES.messages.forEach((doc, i) => {
    assertDocumented(result.messages[i], doc, EXTRA_MESSAGE_FIELDS[doc._id], `messages[${i}]`);
  });
});

test("Can Chat with Store: canChat true, reason undefined, both orders", async () => {
  const result = await convex . query ( api . shared . chat . canChatWithStore , {
  storeId: "store123456789"
  });

  assertDocumented(result, DOC_CAN_CHAT, {}, "canChatWithStore");
});

test("Get Chat Settings: exactly the document's settings", async () => {
  const settings = await convex . query ( api . shared . chat . getChatSettings , {});

  assert.deepEqual(settings, DOC_SETTINGS);
});

test("Get Unread Count: a number (0: both demo messages are read)", async () => {
  const result = await convex . query ( api . shared . chat . getUnreadCount , {});

  assert.equal(typeof result, "number");
  assert.equal(result, 0);
});

// ---------------------------------------------------------------------------
// Snippets that write.

test("Create or Get Conversation: the demo conversation, customer_to_store", async () => {
  const result = await convex . mutation ( api . shared . chat . createOrGetConversation , {
  orderId: "order123456789" ,
  storeId: "store123456789"
  });

  assert.deepEqual(result, {
    "conversationId" : "conv123456789" ,
    "conversationType" : "customer_to_store"
  });
});

test("Send Message (text): returns the new message's id", async () => {
  const before = Date.now();
  // Send text message
  const messageId = await convex . mutation ( api . shared . chat . sendMessage , {
  conversationId: "conv123456789" ,
  content: "Hello, I need help with my order" ,
  messageType: "text"
  });
  const afterSend = Date.now();

  assert.equal(typeof messageId, "string");
  assert.ok(messageId.length > 0);

  const [newest] = await johnsMessages();
  assert.equal(newest._id, messageId, "the newest message is the one sent");
  assert.equal(typeof newest._creationTime, "number");
  assert.ok(
    newest._creationTime >= before - 1000 && newest._creationTime <= afterSend + 1000,
    `_creationTime ${newest._creationTime} is a ms timestamp within [${before}, ${afterSend}]`,
  );
  assertDocumented(
    newest,
    {
      _id: messageId,
      _creationTime: newest._creationTime,
      senderType: "customer",
      senderName: "John Doe",
      messageType: "text",
      content: "Hello, I need help with my order",
      isRead: false,
      readAt: undefined,
      isDeleted: false,
    },
    { conversationId: "conv123456789", senderId: "cust123456789", status: "sent" },
    "the sent message",
  );

  const conversation = await convex.query(api.shared.chat.getConversation, { conversationId: "conv123456789" });
  assert.equal(conversation.lastMessageAt, newest._creationTime);
  assert.equal(conversation.lastMessagePreview, "Hello, I need help with my order");
  assert.equal(conversation.unreadCountRecipient, 1, "unread by the store");
  assert.equal(conversation.unreadCountCustomer, 0);
});

test("Send Message (image): attaches the demo upload file123456789, with the server's own facts and private URLs", async () => {
  // file123456789 is the document's image: the demo data holds it as an
  // upload of John's (a 1920×1080 photo) that no message has yet, so the
  // snippet attaches it. What the snippet declares about it is not
  // trusted: the attachment shows what the server stored.
  // Send image message
  const imageMessageId = await convex . mutation ( api . shared . chat . sendMessage , {
  conversationId: "conv123456789" ,
  content: "Here's a photo of the issue" ,
  messageType: "image" ,
  imageAttachment: {
  fileId: "file123456789" ,
  fileName: "issue.jpg" ,
  fileType: "image/jpeg" ,
  fileSize: 1024000 ,
  width: 1920 ,
  height: 1080
  }
  });

  assert.equal(typeof imageMessageId, "string");
  const [newest] = await johnsMessages();
  assert.equal(newest._id, imageMessageId, "the newest message is the image");
  const att = newest.imageAttachment;
  assertDocumented(
    newest,
    {
      _id: imageMessageId,
      _creationTime: newest._creationTime,
      senderType: "customer",
      senderName: "John Doe",
      messageType: "image",
      content: "Here's a photo of the issue",
      isRead: false,
      readAt: undefined,
      isDeleted: false,
    },
    { conversationId: "conv123456789", senderId: "cust123456789", imageAttachment: att, status: "sent" },
    "the image message",
  );
  // Compressed to WebP, bounded to 1600 pixels: not the declared JPEG of
  // 1920×1080 and 1024000 bytes.
  assert.deepEqual(
    { ...att, fileSize: undefined, url: undefined, thumbnailUrl: undefined, expiresAt: undefined },
    {
      fileId: "file123456789",
      fileName: "issue.jpg",
      fileType: "image/webp",
      fileSize: undefined,
      width: 1600,
      height: 900,
      thumbnailWidth: 320,
      thumbnailHeight: 180,
      url: undefined,
      thumbnailUrl: undefined,
      expiresAt: undefined,
    },
  );
  assert.ok(Number.isInteger(att.fileSize) && att.fileSize > 0 && att.fileSize !== 1024000, `fileSize ${att.fileSize} is measured`);
  assert.ok(att.expiresAt > Date.now(), "the URLs expire in the future");

  // The URLs serve the images to anyone holding them, for a while, with
  // headers that keep browsers from treating them as anything else.
  for (const url of [att.url, att.thumbnailUrl]) {
    assert.ok(url.startsWith(SERVER_URL + "/api/storage/file123456789/"), url);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/webp");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.match(res.headers.get("cache-control"), /no-store/);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(bytes.subarray(0, 4).toString(), "RIFF");
    assert.equal(bytes.subarray(8, 12).toString(), "WEBP");
  }
  // The same URL for another conversation opens nothing.
  const elsewhere = new URL(att.url);
  elsewhere.searchParams.set("c", "conv000000000");
  assert.equal((await fetch(elsewhere)).status, 403);

  // The conversation's preview is the caption; the file is attached once.
  const conversation = await convex.query(api.shared.chat.getConversation, { conversationId: "conv123456789" });
  assert.equal(conversation.lastMessagePreview, "Here's a photo of the issue");
  const again = await rejectsWithData(
    convex.mutation(api.shared.chat.sendMessage, {
      conversationId: "conv123456789",
      content: "Again",
      messageType: "image",
      imageAttachment: { fileId: "file123456789" },
    }),
    { code: "conflict", status: 409, error: "File is already attached to a message" },
    "sendMessage with an attached file",
  );
  assert.ok(again instanceof ConvexError);
});

test("Mark Messages as Read (all unread): marks the store's reply", async () => {
  // Something to read: a reply from the store.
  const replyId = await within(
    store.mutation(api.shared.chat.sendMessage, {
      conversationId: "conv123456789",
      content: "Sorry to hear that, what went wrong?",
      messageType: "text",
    }),
    undefined,
    "the store's reply",
  );
  const unread = subscribe(convex, api.shared.chat.getUnreadCount, {});
  try {
    await unread.until((n) => n === 1, undefined, "John's unread count to become 1");
  } finally {
    unread.unsubscribe();
  }

  // Mark all unread messages as read
  const result = await convex . mutation ( api . shared . chat . markMessagesAsRead , {
  conversationId: "conv123456789"
  });

  // The document shows no result; Parley's says which messages changed.
  assert.deepEqual(result, { markedCount: 1, messageIds: [replyId] });
  assert.equal(await convex.query(api.shared.chat.getUnreadCount, {}), 0);
  const reply = (await johnsMessages()).find((m) => m._id === replyId);
  assert.equal(reply.isRead, true);
  assert.equal(typeof reply.readAt, "number");
});

test("Mark Messages as Read (specific ids): both already read, nothing changes", async () => {
  // Mark specific messages as read
  const result = await convex . mutation ( api . shared . chat . markMessagesAsRead , {
  conversationId: "conv123456789" ,
  messageIds: [ "msg123456789" , "msg987654321" ]
  });

  // msg987654321 was read in the demo data; msg123456789 is John's own.
  assert.deepEqual(result, { markedCount: 0, messageIds: [] });
  const msgs = await johnsMessages();
  DOC_MESSAGES.messages.forEach((doc) => {
    const m = msgs.find((x) => x._id === doc._id);
    assert.ok(m, `${doc._id} is listed`);
    assert.equal(m.isRead, true, `${doc._id}.isRead`);
    assert.equal(m.readAt, doc.readAt, `${doc._id}.readAt is unchanged`);
  });
});

test("Update Typing Status and Get Typing Indicators: John sees the store typing", async () => {
  // The store's staff starts typing first (before John's own mutation, so
  // John's next query reads a snapshot that includes it).
  const before = Date.now();
  await within(
    store.mutation(api.shared.chat.updateTypingStatus, { conversationId: "conv123456789", isTyping: true }),
    undefined,
    "the store starts typing",
  );

  // Start typing
  await convex . mutation ( api . shared . chat . updateTypingStatus , {
  conversationId: "conv123456789" ,
  isTyping: true
  });

  const indicators = await convex . query ( api . shared . chat . getTypingIndicators , {
  conversationId: "conv123456789"
  });
  const afterQuery = Date.now();

  // Exactly the store's indicator: the caller's own is never listed.
  assert.ok(Array.isArray(indicators) && indicators.length === 1, `one indicator, got ${JSON.stringify(indicators)}`);
  const lastTypingAt = indicators[0].lastTypingAt;
  assert.equal(typeof lastTypingAt, "number");
  assert.ok(
    lastTypingAt >= before - 1000 && lastTypingAt <= afterQuery + 1000,
    `lastTypingAt ${lastTypingAt} is a ms timestamp within [${before}, ${afterQuery}]`,
  );
  assert.deepEqual(indicators, [{ ...DOC_TYPING_INDICATORS[0], lastTypingAt }]);

  // The store sees John typing, and stop typing clears it.
  const storeView = subscribe(store, api.shared.chat.getTypingIndicators, { conversationId: "conv123456789" });
  try {
    const seen = await storeView.until((l) => l.length === 1, undefined, "the store to see John typing");
    assert.deepEqual(seen, [
      { userId: "cust123456789", userType: "customer", userName: "John Doe", lastTypingAt: seen[0].lastTypingAt },
    ]);

    // Stop typing
    await convex . mutation ( api . shared . chat . updateTypingStatus , {
    conversationId: "conv123456789" ,
    isTyping: false
    });

    await storeView.until((l) => l.length === 0, undefined, "John's indicator to go away after isTyping:false");
  } finally {
    storeView.unsubscribe();
  }
  await within(
    store.mutation(api.shared.chat.updateTypingStatus, { conversationId: "conv123456789", isTyping: false }),
    undefined,
    "the store stops typing",
  );
  assert.deepEqual(await convex.query(api.shared.chat.getTypingIndicators, { conversationId: "conv123456789" }), []);
});

test("Archive Conversation: leaves the active list, appears under archived", async () => {
  await convex . mutation ( api . shared . chat . archiveConversation , {
  conversationId: "conv123456789"
  });

  assert.deepEqual(await convex.query(api.shared.chat.getConversations, { status: "active", limit: 25 }), []);
  const archived = await convex.query(api.shared.chat.getConversations, { status: "archived", limit: 25 });
  assert.deepEqual(archived.map((c) => [c._id, c.status]), [["conv123456789", "archived"]]);
});

test("Delete Message: John's msg123456789 is soft-deleted, content hidden", async () => {
  await convex . mutation ( api . shared . chat . deleteMessage , {
  messageId: "msg123456789"
  });

  const msgs = await johnsMessages();
  const deleted = msgs.find((m) => m._id === "msg123456789");
  assert.ok(deleted, "the deleted message is still listed (soft delete)");
  assertDocumented(
    deleted,
    { ...DOC_MESSAGES.messages[0], content: "", isDeleted: true },
    { conversationId: "conv123456789", senderId: "cust123456789" },
    "the deleted message",
  );
  const other = msgs.find((m) => m._id === "msg987654321");
  assertDocumented(other, DOC_MESSAGES.messages[1], EXTRA_MESSAGE_FIELDS.msg987654321, "the other demo message");
});

// ---------------------------------------------------------------------------
// Error Handling: each documented error through the client, as ConvexError
// data {code, status, error}.

test("Error 404: Conversation not found", async () => {
  const expected = { code: "not_found", status: 404, error: "Conversation not found" };
  const q = await rejectsWithData(
    convex.query(api.shared.chat.getConversation, { conversationId: "conv000000000" }),
    expected,
    "getConversation of a conversation that does not exist",
  );
  assert.deepEqual(q.data, expected);
  const m = await rejectsWithData(
    convex.mutation(api.shared.chat.sendMessage, { conversationId: "conv000000000", content: "Hello?", messageType: "text" }),
    expected,
    "sendMessage to a conversation that does not exist",
  );
  assert.deepEqual(m.data, expected);
});

test("Error 403: Unauthorized to send message to this conversation (an admin in a store conversation)", async () => {
  const expected = { code: "forbidden", status: 403, error: "Unauthorized to send message to this conversation" };
  const err = await rejectsWithData(
    admin.mutation(api.shared.chat.sendMessage, { conversationId: "conv123456789", content: "Hi, support here", messageType: "text" }),
    expected,
    "sendMessage by an admin into the store conversation",
  );
  assert.deepEqual(err.data, expected);
});

test("Error 403: Conversation is blocked", async () => {
  const expected = { code: "forbidden", status: 403, error: "Conversation is blocked" };
  await within(
    admin.mutation(api.shared.chat.blockConversation, { conversationId: "conv123456789" }),
    undefined,
    "blockConversation by an admin",
  );
  try {
    const err = await rejectsWithData(
      convex.mutation(api.shared.chat.sendMessage, { conversationId: "conv123456789", content: "Hello again", messageType: "text" }),
      expected,
      "sendMessage by John into the blocked conversation",
    );
    assert.deepEqual(err.data, expected);
  } finally {
    await within(
      admin.mutation(api.shared.chat.unblockConversation, { conversationId: "conv123456789" }),
      undefined,
      "unblockConversation by an admin",
    );
  }
  // Unblocked, the same message goes through: it was the block.
  const id = await convex.mutation(api.shared.chat.sendMessage, { conversationId: "conv123456789", content: "Hello again", messageType: "text" });
  assert.equal(typeof id, "string");
});

const OVERSIZED_IMAGE = {
  conversationId: "conv123456789",
  content: "A big photo",
  messageType: "image",
  imageAttachment: {
    fileId: "file123456789",
    fileName: "big.jpg",
    fileType: "image/jpeg",
    fileSize: 6 * 1024 * 1024, // over getChatSettings' maxImageSizeMB (5)
    width: 4000,
    height: 3000,
  },
};

test("Error 400: invalid messages are rejected with invalid_argument", async () => {
  // The documented 400 is an oversized image (the next test checks its
  // message).
  const image = await rejectsWithData(
    convex.mutation(api.shared.chat.sendMessage, OVERSIZED_IMAGE),
    { code: "invalid_argument", status: 400 },
    "sendMessage with a 6MB image",
  );
  assert.equal(typeof image.data.error, "string");
  assert.ok(image instanceof ConvexError);

  const empty = { code: "invalid_argument", status: 400, error: "Message content must not be empty" };
  const err = await rejectsWithData(
    convex.mutation(api.shared.chat.sendMessage, { conversationId: "conv123456789", content: "   ", messageType: "text" }),
    empty,
    "sendMessage with blank content",
  );
  assert.deepEqual(err.data, empty);
});

test("Error 400: Image size exceeds 5MB limit (declared, and uploaded)", async () => {
  const expected = { code: "invalid_argument", status: 400, error: "Image size exceeds 5MB limit" };
  // A message that declares more than getChatSettings' maxImageSizeMB.
  const err = await rejectsWithData(
    convex.mutation(api.shared.chat.sendMessage, OVERSIZED_IMAGE),
    expected,
    "sendMessage with a 6MB image",
  );
  assert.deepEqual(err.data, expected);

  // The bytes themselves: the upload endpoint measures them, whatever is
  // declared, and answers with the same error.
  const postUrl = await convex.mutation(api.shared.chat.generateUploadUrl, {});
  assert.ok(postUrl.startsWith(SERVER_URL + "/api/storage/upload?token="), postUrl);
  const sixMB = new Uint8Array(6 * 1024 * 1024);
  sixMB.set([0xff, 0xd8, 0xff, 0xe0]); // a JPEG's first bytes, for what it is worth
  const res = await fetch(postUrl, { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: sixMB });
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), expected);
  // The URL was spent on it.
  const reused = await fetch(postUrl, { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: new Uint8Array(10) });
  assert.equal(reused.status, 410);
});
