import { ConvexError } from "convex/values";
import type { ErrorCode, ParleyErrorData } from "./api.js";

/**
 * The ParleyErrorData of a function error (a ConvexError thrown by a query or
 * mutation) or of a {@link ParleyUploadError} that has it (reasons "server",
 * "type", "size"), or undefined when e is anything else (a network failure,
 * an aborted upload, a bug).
 */
export function parleyErrorData(e: unknown): ParleyErrorData | undefined {
  if (e instanceof ParleyUploadError) {
    return e.data;
  }
  // instanceof fails when two copies of convex are bundled; the name and
  // the data's shape do not.
  const isConvexError =
    e instanceof ConvexError ||
    (typeof e === "object" && e !== null && (e as { name?: unknown }).name === "ConvexError");
  if (!isConvexError) {
    return undefined;
  }
  const data = (e as { data?: unknown }).data;
  if (
    typeof data === "object" &&
    data !== null &&
    typeof (data as { code?: unknown }).code === "string" &&
    typeof (data as { status?: unknown }).status === "number"
  ) {
    return data as ParleyErrorData;
  }
  return undefined;
}

/** A function error: a ConvexError whose data is ParleyErrorData. */
export type ParleyFunctionError = Error & { name: "ConvexError"; data: ParleyErrorData };

/** A ParleyUploadError with the server's (or the same-shaped) answer. */
export type ParleyUploadErrorWithData = ParleyUploadError & { data: ParleyErrorData };

/**
 * Reports whether e carries ParleyErrorData (optionally: with this code),
 * exactly when {@link parleyErrorData} returns it: an error a Parley function
 * threw, or an upload error with data (the server's refusal, or a type/size
 * check that gives the answer the server would have). Its data is then
 * `e.data`. Tell them apart with `e instanceof ParleyUploadError`.
 */
export function isParleyError(e: unknown, code?: ErrorCode): e is ParleyFunctionError | ParleyUploadErrorWithData {
  const data = parleyErrorData(e);
  return data !== undefined && (code === undefined || data.code === code);
}

/**
 * Why {@link ParleyUploadError} was thrown:
 * - `type`: the file's type is not one of the chat settings' allowedImageTypes
 *   (checked before anything is sent);
 * - `size`: the file is larger than maxImageSizeMB (checked before anything is sent);
 * - `server`: the upload endpoint refused it (`data` holds its answer);
 * - `network`: the request failed without an answer;
 * - `aborted`: the caller's AbortSignal fired.
 */
export type UploadErrorReason = "type" | "size" | "server" | "network" | "aborted";

/** The error uploadImage rejects with. */
export class ParleyUploadError extends Error {
  override readonly name = "ParleyUploadError";
  /** Why the upload failed. */
  readonly reason: UploadErrorReason;
  /** The server's answer, when it answered (reason "server"); for "type" and
   * "size", the same shape the server would have answered with. */
  readonly data: ParleyErrorData | undefined;

  constructor(reason: UploadErrorReason, message: string, data?: ParleyErrorData) {
    super(message);
    this.reason = reason;
    this.data = data;
  }
}
