/**
 * The messages of the `/results` route, from the route's own definitions
 * (packages/cli/src/routes/results-messages.ts: types only, erased from the bundle), so that
 * a change there fails this page's type check instead of its users.
 */
export type { EchoReply, Numbered, PiResult, ReceiveLog, ResultsMessage as FromResults, RunInfo } from '../../../packages/cli/src/routes/results-messages.js';
