// @parley/client: the framework-free core. React and Vue adapters live in
// @parley/client/react and @parley/client/vue; nothing here imports either.

export * from "./api.js";
export {
  ParleyClient,
  createParleyClient,
  appStateForegroundSignal,
  decodeIdentity,
  type AppStateLike,
  type AuthFetcher,
  type ConnectionStatus,
  type ForegroundSignal,
  type MutationCallOptions,
  type MutationRetryInfo,
  type MutationRetryOptions,
  type ParleyClientOptions,
  type SendImageOptions,
  type TokenIdentity,
} from "./client.js";
export { type ChatMessageInput, type EventLike, type MarkAsReadInput, type UpdateTypingInput } from "./chat.js";
export {
  ParleyUploadError,
  isParleyError,
  parleyErrorData,
  type ParleyFunctionError,
  type ParleyUploadErrorWithData,
  type UploadErrorReason,
} from "./errors.js";
export {
  checkImage,
  sniffImageType,
  type UploadImageOptions,
  type UploadProgress,
  type UploadResult,
} from "./upload.js";
export { type ActiveTransport, type Transport } from "./transports.js";
export { TypingNotifier, type TypingNotifierOptions } from "./typing.js";
export { DeliveryAcker, type ReceivedMessages } from "./delivery.js";
export { isAssistantMessage, toolSteps, type ToolStep } from "./assistant.js";
export { PresenceHeartbeat, type PresenceHeartbeatOptions } from "./presence.js";
export {
  GuestTokenError,
  guestTokenPath,
  requestGuestToken,
  type GuestToken,
  type GuestTokenErrorReason,
  type GuestTokenOptions,
} from "./guest.js";
export { ConvexError } from "convex/values";
export type { ConnectionState } from "convex/browser";
