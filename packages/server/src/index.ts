export { App, createApp, type AppState, type AttachOptions, type ListenOptions, type HttpHandler, type WsHandler, type WsRouteOptions } from './app/app.js';
export {
  Socket,
  type ChannelOptions,
  type DropInfo,
  type RequestContext,
  type RequestHandler,
  type RequestOptions,
  type Sendable,
  type SocketEvents,
  type SocketStats,
} from './connection/socket.js';
export { LifelineMessage } from './lifeline/message.js';
export type { SessionSocket } from './lifeline/session.js';
export { RequestError } from '@lifeline/protocol';
export {
  MemorySessionStore,
  type ClaimRequest,
  type ClaimResult,
  type JournalBatch,
  type JournalFrame,
  type MemorySessionStoreOptions,
  type NewSessionInit,
  type SessionEndReason,
  type SessionJournal,
  type SessionSnapshot,
  type SessionStore,
  type SharedSessionStore,
  type StoredSession,
} from './lifeline/session-store.js';
export { InvalidMessageError, Message } from './connection/message.js';
export type { AuthSource, SocketAuth } from './connection/identity.js';
export { TOKEN_EXPIRED_CLOSE } from './app/auth/binding.js';
export { AUTH_PROTOCOL_PREFIX } from './app/auth/tokens.js';
export type { AuthContext, AuthGrant, AuthOptions, AuthVerify } from './app/auth/options.js';
export { DEFAULTS, type AppOptions, type LifelineFormat, type LifelineOptions, type HeartbeatOptions, type OriginCheck, type RuntimeChoice, type ShutdownOptions, type SlowConsumerPolicy } from './app/options.js';
export type { RateLimitAction, RateLimitOptions } from './leaves/rate-limit.js';
export type { ClientAddressFunction } from './app/client-address.js';
export { createJsonLogger, LOG_LEVELS, type Logger, type LogFields, type LogLevel } from './leaves/logger.js';
export type { RouteParams } from './leaves/router.js';
export type { AppStats, RouteStats, StatsEndpointOptions } from './app/admin/stats.js';
export type { StatsCounts } from './app/admin/totals.js';
export { CloseCode, DEFAULT_DECODE_LIMITS, describeCloseCode, LifelineError, type DecodeLimits, type LifelineErrorCode } from '@lifeline/protocol';
export type { Broker, HistoryOptions, HistoryResult, PresenceEntry, PresenceEvent, Publication, PublicationPayload, PublishOptions } from './channels/broker.js';
export { PresenceChanges } from './channels/presence-changes.js';
export { MemoryBroker } from './channels/memory-broker.js';
export { ChannelHub, type ChannelHubOptions, type ChannelHubStats, type SubscribeResult, type Subscriber, type WireFormat } from './channels/hub.js';
export { CHANNEL_DEFAULTS, type ChannelAction, type SlowSubscriberPolicy } from './channels/names.js';
export { isChannelName, type ChannelPosition, type PresenceMember } from '@lifeline/protocol';
export { DEFAULT_PUBLISH_PATH, type PublishEndpointOptions } from './app/publish-endpoint.js';
export type { HealthEndpointsOptions } from './app/admin/health.js';
export { HANDSHAKE_CHECK_DEFAULTS, type HandshakeCheckOptions, type HandshakeReport } from './app/admin/handshake-check.js';
export { checkHandshake } from './transport/node/handshake-probe.js';
export type { MetricsEndpointOptions } from './app/admin/metrics.js';
