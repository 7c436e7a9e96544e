export {
  createClient,
  LifelineClient,
  type ClientEvents,
  type LifelineClientLike,
  type ClientOptions,
  type DropInfo,
  type DropReason,
  type HeartbeatOptions,
  type Message,
  type OpenInfo,
  type OutboxOptions,
  type OverflowPolicy,
  type ReconnectOptions,
  type RequestOptions,
  type SendOptions,
} from './client.js';
export { canTransition, TRANSITIONS, type ClientState, type CloseInfo, type NextStatus, type Status, type WaitingFor } from './state.js';
export { jsonCodec, textCodec, type Codec } from './codec.js';
export type { ModeFactory, RequestHandler, ResetInfo, ResetReason, SessionInfo } from './mode.js';
export { toWebSocketUrl } from './url.js';
export type { Frame, WebSocketConstructor, WebSocketLike } from './types.js';
export { backoffDelay, defaultCloseAction, LifelineError, parseRetryHint, type CloseAction, type LifelineErrorCode } from '@lifeline/protocol';
