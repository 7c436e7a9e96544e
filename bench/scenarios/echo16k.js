import { echoScenario } from './echo.js';
import { RUNTIME_PAIRS } from '../lib/report.js';

export default echoScenario({
  name: 'echo16k',
  title: 'Echo 16 KiB',
  size: 16384,
  conns: 8,
  window: 8,
  primary: 'mb_per_s',
  ratioVs: ['ws', 'ws+bufferutil'],
  // Issue 16: Lifeline mode at 16 KiB, text and bytes in both codecs (the session targets
  // with their own envelopes, targets/index.js), against ws with its native helpers.
  requirement: ['lifeline-session', 'lifeline-session-bin', 'lifeline-session-b64', 'lifeline-session-msgpack', 'lifeline-session-msgpack-b'].map((target) => ({
    target,
    vs: 'ws+bufferutil',
    min: 0.8,
    source: target === 'lifeline-session-b64' ? 'issue 16 (base64 caps it at 0.75x; the binary form is the way to meet it)' : 'issue 16',
  })),
  pairs: RUNTIME_PAIRS,
});
