/**
 * @lifeline/redis: the Redis broker for @lifeline/server channels (docs/redis.md).
 *
 *   const app = createApp({ broker: createRedisBroker({ url: 'redis://127.0.0.1:6379' }) });
 */
export { createRedisBroker, connectionOptions, RedisBroker, REDIS_BROKER_DEFAULTS, type RedisBrokerEvents, type RedisBrokerOptions, type RedisConnection } from './broker.js';
export {
  createRedisSessionStore,
  RedisSessionStore,
  REDIS_SESSION_STORE_DEFAULTS,
  type RedisSessionStoreEvents,
  type RedisSessionStoreOptions,
} from './session-store.js';
