export { CloseCode, describeCloseCode, isSendableCloseCode, MAX_CLOSE_REASON_BYTES } from './close-codes.js';
export { formatRetryHint, parseRetryHint } from './retry-hint.js';
export { LifelineError, type LifelineErrorCode } from './errors.js';
export { backoffDelay, backoffWindow, type BackoffOptions } from './backoff.js';
export { defaultCloseAction, type CloseAction } from './close-policy.js';
