import type { ChatSettings, ParleyErrorData } from "./api.js";
import { ParleyUploadError } from "./errors.js";

/** Upload progress, in bytes of the request body. */
export interface UploadProgress {
  loaded: number;
  total: number;
  /** loaded / total, from 0 to 1. */
  fraction: number;
}

/** Options of {@link ParleyClient.uploadImage}. */
export interface UploadImageOptions {
  /**
   * Called as the body goes out: 0 first, then as bytes go (below 1), and 1
   * once the server has taken the upload (a 2xx answer; a refusal rejects
   * without it). With XMLHttpRequest (browsers, React Native) it follows
   * the upload events; with fetch it follows the body where the runtime
   * can stream a request body (Node, Deno), else only 0 and 1.
   */
  onProgress?: (progress: UploadProgress) => void;
  /** Aborts the upload; the promise rejects with reason "aborted". */
  signal?: AbortSignal;
  /**
   * How the bytes are sent. Default: "xhr" where XMLHttpRequest exists
   * (browsers, React Native), else "fetch" (Node, workers).
   */
  transport?: "xhr" | "fetch";
}

/** What a successful upload answers: pass storageId as imageAttachment.fileId. */
export interface UploadResult {
  storageId: string;
}

/** The image types the server can recognise from their first bytes. */
const MAGIC: ReadonlyArray<{ type: string; test: (b: Uint8Array) => boolean }> = [
  { type: "image/jpeg", test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  {
    type: "image/png",
    test: (b) =>
      [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v),
  },
  { type: "image/gif", test: (b) => ascii(b, 0, 4) === "GIF8" && (b[4] === 0x37 || b[4] === 0x39) && b[5] === 0x61 },
  { type: "image/webp", test: (b) => ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP" },
];

function ascii(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to && i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/**
 * The type of an image as the server will see it: sniffed from its first
 * bytes where the Blob can be read (the server ignores the declared type),
 * else the Blob's declared type; "" when neither is known.
 */
export async function sniffImageType(file: Blob): Promise<string> {
  try {
    if (typeof file.slice === "function") {
      const head = file.slice(0, 16);
      if (typeof head.arrayBuffer === "function") {
        const bytes = new Uint8Array(await head.arrayBuffer());
        for (const m of MAGIC) {
          if (m.test(bytes)) return m.type;
        }
        // Readable, but none of the image types: the server would refuse it.
        return file.type && !file.type.startsWith("image/") ? file.type : "application/octet-stream";
      }
    }
  } catch {
    // Some Blob implementations (React Native's) cannot be read here.
  }
  return file.type || "";
}

/**
 * Checks file against the chat settings as the server will, and throws
 * ParleyUploadError("type" | "size") if the server would refuse it. Nothing
 * is sent.
 */
export async function checkImage(file: Blob, settings: ChatSettings): Promise<string> {
  const type = await sniffImageType(file);
  const allowed = settings.allowedImageTypes;
  if (!allowed.includes(type)) {
    const shown = type || "unknown";
    throw new ParleyUploadError(
      "type",
      `Image type ${shown} is not allowed (allowed: ${allowed.join(", ")})`,
      { code: "invalid_argument", status: 400, error: `Image type ${shown} is not allowed` },
    );
  }
  const maxBytes = settings.maxImageSizeMB * 1024 * 1024;
  if (file.size > maxBytes) {
    throw new ParleyUploadError("size", `Image size exceeds ${settings.maxImageSizeMB}MB limit`, {
      code: "invalid_argument",
      status: 400,
      error: `Image size exceeds ${settings.maxImageSizeMB}MB limit`,
      size: file.size,
      maxBytes,
    });
  }
  return type;
}

/** POSTs file to uploadUrl and returns the server's {storageId}. */
export async function postImage(
  uploadUrl: string,
  file: Blob,
  contentType: string,
  options: UploadImageOptions = {},
): Promise<UploadResult> {
  const transport =
    options.transport ?? (typeof XMLHttpRequest !== "undefined" ? "xhr" : "fetch");
  const { status, text } =
    transport === "xhr"
      ? await postWithXHR(uploadUrl, file, contentType, options)
      : await postWithFetch(uploadUrl, file, contentType, options);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (status >= 200 && status < 300) {
    const storageId = (body as { storageId?: unknown } | undefined)?.storageId;
    if (typeof storageId !== "string") {
      throw new ParleyUploadError("server", `Upload answered ${status} without a storageId`);
    }
    return { storageId };
  }
  const data: ParleyErrorData =
    typeof body === "object" && body !== null && typeof (body as { code?: unknown }).code === "string"
      ? (body as ParleyErrorData)
      : { code: "internal", status, error: text || `HTTP ${status}` };
  throw new ParleyUploadError("server", data.error, data);
}

function abortedError(): ParleyUploadError {
  return new ParleyUploadError("aborted", "Upload aborted");
}

function postWithXHR(
  url: string,
  file: Blob,
  contentType: string,
  { onProgress, signal }: UploadImageOptions,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError());
      return;
    }
    const xhr = new XMLHttpRequest();
    const onAbort = () => xhr.abort();
    const done = () => signal?.removeEventListener("abort", onAbort);
    xhr.open("POST", url);
    if (contentType) xhr.setRequestHeader("Content-Type", contentType);
    if (onProgress && xhr.upload) {
      // Upload events cover the body; 1 is reported with a 2xx answer only.
      xhr.upload.onprogress = (e) => {
        const total = e.lengthComputable && e.total > 0 ? e.total : file.size;
        onProgress({ loaded: e.loaded, total, fraction: total > 0 ? Math.min(0.999, e.loaded / total) : 0 });
      };
    }
    xhr.onload = () => {
      done();
      // 100% only for an upload the server took; a refusal rejects instead.
      if (xhr.status >= 200 && xhr.status < 300) onProgress?.({ loaded: file.size, total: file.size, fraction: 1 });
      resolve({ status: xhr.status, text: xhr.responseText });
    };
    xhr.onerror = () => {
      done();
      reject(new ParleyUploadError("network", "Upload failed: network error"));
    };
    xhr.onabort = () => {
      done();
      reject(abortedError());
    };
    signal?.addEventListener("abort", onAbort);
    onProgress?.({ loaded: 0, total: file.size, fraction: 0 });
    xhr.send(file);
  });
}

/**
 * Whether fetch can send a ReadableStream body (Node 18+, Deno; Chrome
 * only over HTTP/2), the standard feature test: only a runtime that knows
 * the duplex option reads it, and a stream body gets no Content-Type.
 */
function supportsRequestStreams(): boolean {
  try {
    if (typeof ReadableStream === "undefined" || typeof Request === "undefined") return false;
    let duplexAccessed = false;
    const hasContentType = new Request("http://localhost/", {
      body: new ReadableStream(),
      method: "POST",
      get duplex() {
        duplexAccessed = true;
        return "half";
      },
    } as RequestInit).headers.has("Content-Type");
    return duplexAccessed && !hasContentType;
  } catch {
    return false;
  }
}

const UPLOAD_CHUNK = 64 * 1024;

/**
 * file as a stream that reports each chunk as fetch takes it: progress
 * follows the body as it goes out (bytes handed to the connection).
 */
function progressStream(file: Blob, onChunk: (loaded: number) => void): { body: ReadableStream<Uint8Array>; pulled: () => number } {
  const reader = file.stream().getReader();
  let loaded = 0;
  let pending: Uint8Array | undefined;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!pending || pending.byteLength === 0) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        pending = value;
      }
      // At most 64 KiB a pull (a Blob may stream as one chunk), so that the
      // progress follows the connection taking the bytes.
      const chunk = pending.subarray(0, UPLOAD_CHUNK);
      pending = pending.subarray(chunk.byteLength);
      loaded += chunk.byteLength;
      controller.enqueue(chunk);
      onChunk(loaded);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { body, pulled: () => loaded };
}

async function postWithFetch(
  url: string,
  file: Blob,
  contentType: string,
  { onProgress, signal }: UploadImageOptions,
): Promise<{ status: number; text: string }> {
  const total = file.size;
  onProgress?.({ loaded: 0, total, fraction: 0 });
  const headers: Record<string, string> = contentType ? { "Content-Type": contentType } : {};
  const send = (body: BodyInit, streamed: boolean) =>
    fetch(url, {
      method: "POST",
      body,
      headers,
      ...(streamed ? { duplex: "half" } : {}),
      ...(signal ? { signal } : {}),
    } as RequestInit);
  const fail = (e: unknown): ParleyUploadError =>
    signal?.aborted ? abortedError() : new ParleyUploadError("network", `Upload failed: ${(e as Error)?.message ?? String(e)}`);

  let res: Response;
  try {
    // With onProgress and a runtime that can stream a request body, the
    // progress follows the body (the last chunk counts as just under 100%:
    // 1 comes with the answer). Else 0% and 100% only.
    if (onProgress && total > 0 && typeof file.stream === "function" && supportsRequestStreams()) {
      const { body, pulled } = progressStream(file, (loaded) =>
        onProgress({ loaded, total, fraction: Math.min(loaded / total, 0.999) }),
      );
      try {
        res = await send(body, true);
      } catch (e) {
        // A runtime that refuses the stream before reading any of it
        // (Chrome over HTTP/1.1): send the Blob instead.
        if (signal?.aborted || pulled() > 0) throw e;
        res = await send(file, false);
      }
    } else {
      res = await send(file, false);
    }
  } catch (e) {
    throw fail(e);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    throw fail(e);
  }
  if (res.ok) onProgress?.({ loaded: total, total, fraction: 1 });
  return { status: res.status, text };
}
