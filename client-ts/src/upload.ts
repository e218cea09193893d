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
   * Called as the body goes out. With XMLHttpRequest (browsers, React
   * Native) it follows the upload events; with fetch it is called at 0% and
   * at 100% only.
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
      xhr.upload.onprogress = (e) => {
        const total = e.lengthComputable ? e.total : file.size;
        onProgress({ loaded: e.loaded, total, fraction: total > 0 ? Math.min(1, e.loaded / total) : 1 });
      };
    }
    xhr.onload = () => {
      done();
      onProgress?.({ loaded: file.size, total: file.size, fraction: 1 });
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

async function postWithFetch(
  url: string,
  file: Blob,
  contentType: string,
  { onProgress, signal }: UploadImageOptions,
): Promise<{ status: number; text: string }> {
  onProgress?.({ loaded: 0, total: file.size, fraction: 0 });
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      body: file,
      headers: contentType ? { "Content-Type": contentType } : {},
      ...(signal ? { signal } : {}),
    });
  } catch (e) {
    if (signal?.aborted) throw abortedError();
    throw new ParleyUploadError("network", `Upload failed: ${(e as Error)?.message ?? String(e)}`);
  }
  const text = await res.text();
  onProgress?.({ loaded: file.size, total: file.size, fraction: 1 });
  return { status: res.status, text };
}
