import type { CheckDef } from '../context.js';
import { BINARY_FORM_CHECKS } from './binary-form.js';
import { CHANNEL_CHECKS } from './channels.js';
import { DELIVERY_CHECKS } from './delivery.js';
import { ENVELOPE_CHECKS, ERROR_MATCHES_CLOSE_CHECK, QUOTING_CHECK } from './envelopes.js';
import { HANDSHAKE_CHECKS } from './handshake.js';
import { LIMIT_CHECKS } from './limits.js';
import { LIVENESS_CHECKS } from './liveness.js';
import { NODE_CHECKS } from './nodes.js';
import { REQUEST_CHECKS } from './requests.js';
import { RESUME_CHECKS } from './resume.js';
import { SESSION_CHECKS } from './session.js';

/** Every check, mostly in the order of PROTOCOL.md's sections. */
export const ALL_CHECKS: readonly CheckDef[] = [
  ...HANDSHAKE_CHECKS,
  ...SESSION_CHECKS,
  ...ENVELOPE_CHECKS,
  QUOTING_CHECK,
  ERROR_MATCHES_CLOSE_CHECK,
  ...DELIVERY_CHECKS,
  ...RESUME_CHECKS,
  ...REQUEST_CHECKS,
  ...LIVENESS_CHECKS,
  ...NODE_CHECKS,
  ...BINARY_FORM_CHECKS,
  ...CHANNEL_CHECKS,
  // Last: a server that falls over on hostile input takes only these with it.
  ...LIMIT_CHECKS,
];
