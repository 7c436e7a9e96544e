/**
 * @lifeline/redis: the Redis broker for @lifeline/server channels (docs/redis.md).
 *
 *   const app = createApp({ broker: createRedisBroker({ url: 'redis://127.0.0.1:6379' }) });
 */
export { createRedisBroker, RedisBroker, REDIS_BROKER_DEFAULTS, type RedisBrokerEvents, type RedisBrokerOptions } from './broker.js';
export { connectionOptions, REDIS_CONNECTION_DEFAULTS, type RedisConnection, type RedisConnectionOptions } from './connections.js';
export {
  createRedisSessionStore,
  RedisSessionStore,
  REDIS_SESSION_STORE_DEFAULTS,
  type RedisSessionStoreEvents,
  type RedisSessionStoreOptions,
} from './session-store.js';
