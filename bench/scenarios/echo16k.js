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
  pairs: RUNTIME_PAIRS,
});
