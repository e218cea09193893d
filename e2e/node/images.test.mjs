// Image messages end to end through the official client, as an app does
// it: generateUploadUrl, fetch POST of the bytes, {storageId}, sendMessage
// with imageAttachment.fileId, and the image reaching the other side's
// live getMessages with URLs that serve it. In John's support
// conversation, so the demo conversation stays as other files expect it.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { Clients, TOKENS, api, rejectsWithData, subscribe, unique, within } from "./helpers.mjs";

const clients = new Clients();
after(() => clients.close());

// ---- a real PNG, encoded here (node has zlib; PNG needs CRC-32) ----

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A width×height RGBA PNG: a diagonal gradient, half transparent. */
function png(width, height) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 4 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const i = row + 1 + x * 4;
      raw[i] = (x * 255) / width;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = 160;
      raw[i + 3] = x < width / 2 ? 128 : 255;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Uploads bytes the way the Convex docs show it; returns the answer. */
async function upload(client, bytes, contentType) {
  const postUrl = await within(client.mutation(api.shared.chat.generateUploadUrl, {}), undefined, "generateUploadUrl");
  assert.equal(typeof postUrl, "string");
  const result = await fetch(postUrl, { method: "POST", headers: { "Content-Type": contentType }, body: bytes });
  return { status: result.status, body: await result.json() };
}

test("an uploaded image reaches the other side's live getMessages with working URLs", async () => {
  const john = clients.ws(TOKENS.customer);
  const admin = clients.ws(TOKENS.admin);
  const { conversationId } = await within(john.mutation(api.shared.chat.createOrGetConversation, {}), undefined, "support conversation");
  const live = subscribe(admin, api.shared.chat.getMessages, { conversationId, limit: 10 });
  try {
    await live.until(() => true, undefined, "the admin's first page");

    const { status, body } = await upload(john, png(900, 600), "image/png");
    assert.equal(status, 200, JSON.stringify(body));
    const { storageId } = body;
    assert.match(storageId, /^file/);

    const caption = unique("the broken box");
    const messageId = await within(
      john.mutation(api.shared.chat.sendMessage, {
        conversationId,
        content: caption,
        messageType: "image",
        imageAttachment: { fileId: storageId, fileName: "box.png", fileType: "image/png", fileSize: 1, width: 1, height: 1 },
      }),
      undefined,
      "sendMessage (image)",
    );
    const page = await live.until((p) => p.messages.some((m) => m._id === messageId), undefined, "the image message to reach the admin");
    const msg = page.messages.find((m) => m._id === messageId);
    assert.equal(msg.messageType, "image");
    assert.equal(msg.content, caption);
    const att = msg.imageAttachment;
    assert.equal(att.fileId, storageId);
    assert.equal(att.fileName, "box.png");
    assert.equal(att.fileType, "image/webp");
    assert.deepEqual([att.width, att.height, att.thumbnailWidth, att.thumbnailHeight], [900, 600, 320, 213]);

    for (const url of [att.url, att.thumbnailUrl]) {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "image/webp");
      assert.equal(Buffer.from(await res.arrayBuffer()).subarray(8, 12).toString(), "WEBP");
    }
    // Another customer cannot list the conversation, so never sees a URL.
    const other = clients.http(TOKENS.other);
    await rejectsWithData(other.query(api.shared.chat.getMessages, { conversationId }), { status: 404, error: "Conversation not found" }, "getMessages by another customer");
  } finally {
    live.unsubscribe();
  }
});

test("uploads are validated: sniffed type, no empty files, single-use URLs", async () => {
  const john = clients.ws(TOKENS.customer);
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
  let r = await upload(john, svg, "image/png"); // declared a PNG; it is not one
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, {
    code: "invalid_argument",
    status: 400,
    error: "Unsupported image type; allowed types: image/jpeg, image/png, image/gif, image/webp",
  });
  r = await upload(john, new Uint8Array(0), "image/jpeg");
  assert.deepEqual(r.body, { code: "invalid_argument", status: 400, error: "Image is empty" });
  const truncated = png(200, 200).subarray(0, 200);
  r = await upload(john, truncated, "image/png");
  assert.deepEqual(r.body, { code: "invalid_argument", status: 400, error: "Image is corrupt or truncated" });

  // Someone else's upload cannot be attached.
  const jane = clients.ws(TOKENS.other);
  const mine = await upload(john, png(20, 20), "image/png");
  assert.equal(mine.status, 200);
  const { conversationId } = await within(jane.mutation(api.shared.chat.createOrGetConversation, {}), undefined, "Jane's support conversation");
  await rejectsWithData(
    jane.mutation(api.shared.chat.sendMessage, {
      conversationId,
      content: "",
      messageType: "image",
      imageAttachment: { fileId: mine.body.storageId },
    }),
    { code: "not_found", status: 404, error: "File not found" },
    "sendMessage with John's upload",
  );
});
