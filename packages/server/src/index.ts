export { App, createApp, type AppState, type AttachOptions, type ListenOptions, type HttpHandler, type WsHandler, type WsRouteOptions } from './app.js';
export {
  Socket,
  type DropInfo,
  type RequestContext,
  type RequestHandler,
  type RequestOptions,
  type Sendable,
  type SocketEvents,
  type SocketStats,
} from './socket.js';
export { LifelineMessage, type SessionSocket } from './session.js';
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
} from './session-store.js';
export { InvalidMessageError, Message } from './message.js';
export { AUTH_PROTOCOL_PREFIX, TOKEN_EXPIRED_CLOSE, type AuthContext, type AuthGrant, type AuthOptions, type AuthSource, type AuthVerify, type SocketAuth } from './auth.js';
export { DEFAULTS, type AppOptions, type LifelineFormat, type LifelineOptions, type HeartbeatOptions, type OriginCheck, type ShutdownOptions, type SlowConsumerPolicy } from './options.js';
export type { RateLimitAction, RateLimitOptions } from './rate-limit.js';
export type { ClientAddressFunction } from './client-address.js';
export { createJsonLogger, LOG_LEVELS, type Logger, type LogFields, type LogLevel } from './logger.js';
export type { RouteParams } from './router.js';
export type { AppStats, RouteStats, StatsCounts, StatsEndpointOptions } from './stats.js';
export { CloseCode, DEFAULT_DECODE_LIMITS, describeCloseCode, LifelineError, type DecodeLimits, type LifelineErrorCode } from '@lifeline/protocol';
export type { Broker, HistoryOptions, HistoryResult, PresenceEntry, PresenceEvent, Publication, PublicationPayload, PublishOptions } from './channels/broker.js';
export { PresenceChanges } from './channels/presence-changes.js';
export { MemoryBroker } from './channels/memory-broker.js';
export { ChannelHub, type ChannelHubOptions, type ChannelHubStats, type SubscribeResult, type Subscriber, type WireFormat } from './channels/hub.js';
export { CHANNEL_DEFAULTS, type ChannelAction, type ChannelOptions, type SlowSubscriberPolicy } from './channels/names.js';
export { isChannelName, type ChannelPosition, type PresenceMember } from '@lifeline/protocol';
export { DEFAULT_PUBLISH_PATH, type PublishEndpointOptions } from './channels/publish-endpoint.js';
export type { HealthEndpointsOptions } from './health.js';
export { checkHandshake, HANDSHAKE_CHECK_DEFAULTS, type HandshakeCheckOptions, type HandshakeReport } from './handshake-check.js';
export type { MetricsEndpointOptions } from './metrics.js';
