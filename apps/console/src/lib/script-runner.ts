/**
 * Runs a script on a tab's connection, and writes starter scripts: from the tab's settings,
 * or from what the log shows (each message sent becomes a send, each one received an expect).
 */
import type { Connection, ConnectionSettings, Outgoing } from './connection';
import type { LogEntry } from './message-log';
import { parseBase64, parseHex, toHex } from './payload';
import { ScriptRun, type Script, type ScriptMessage, type ScriptSend, type ScriptStep, type StepResult } from './script';

function outgoing(send: ScriptSend): Outgoing {
  if (typeof send === 'string') return { kind: 'text', text: send };
  if ('text' in send) return { kind: 'text', text: send.text };
  if ('json' in send) return { kind: 'json', text: JSON.stringify(send.json), value: send.json };
  const bytes = 'hex' in send ? parseHex(send.hex) : parseBase64(send.base64);
  if (!bytes.ok) throw new Error(bytes.error);
  return { kind: 'binary', bytes: bytes.value };
}

function scriptMessage(entry: LogEntry, lifelineMode: boolean): ScriptMessage {
  if (entry.bytes) return { bytes: entry.bytes };
  const text = entry.text ?? '';
  // In Lifeline mode a JSON message is a value: match it as one.
  return lifelineMode && entry.kind === 'json' ? { text, value: JSON.parse(text) as unknown } : { text };
}

/** A script as people read it: one step a line. */
export function formatScript(script: Script): string {
  const { steps, ...head } = script;
  const fields = Object.entries(head).map(([key, value]) => `  ${JSON.stringify(key)}: ${JSON.stringify(value)},`);
  return `{\n${fields.join('\n')}\n  "steps": [\n${steps.map((step) => `    ${JSON.stringify(step)}`).join(',\n')}\n  ]\n}`;
}

/** Runs `script` on `connection` (which must be connected); `result` hears each step. */
export function runOn(connection: Connection, script: Script, result: (r: StepResult) => void): { done: Promise<StepResult[]>; stop(): void } {
  const lifelineMode = connection.active?.lifeline ?? false;
  const run = new ScriptRun(script, {
    send: (s) => {
      if (!connection.send(outgoing(s), 'script')) throw new Error('not sent (see the log)');
    },
    result,
  });
  const listener = (entry: LogEntry) => {
    if (entry.dir !== 'in' || entry.tag === 'heartbeat') return;
    run.receive(scriptMessage(entry, lifelineMode));
  };
  connection.listeners.add(listener);
  const done = run.run().finally(() => connection.listeners.delete(listener));
  return { done, stop: () => run.cancel() };
}

/** A first script for these settings: one exchange of each kind, for an echo server. */
export function starterScript(settings: ConnectionSettings): Script {
  return {
    lifelineScript: 1,
    name: 'echo answers',
    url: settings.url,
    ...(settings.lifeline ? { lifeline: true } : settings.protocols.trim() ? { protocols: settings.protocols.split(/[\s,]+/).filter(Boolean) } : {}),
    steps: [
      { send: 'hello' },
      { expect: { text: 'hello' }, within: 2000 },
      { send: { json: { type: 'ping', n: 1 } } },
      { expect: { json: { type: 'ping' } }, within: 2000 },
      { send: { hex: '00 ff 10' } },
      { expect: { binary: '00ff10' }, within: 2000 },
    ],
  };
}

/** The log as a script: messages sent become sends, messages received expects (the last `max` messages). */
export function scriptFromLog(settings: ConnectionSettings, entries: Iterable<LogEntry>, max = 50): Script {
  const steps: ScriptStep[] = [];
  for (const e of entries) {
    if (e.dir === 'sys' || e.tag === 'heartbeat') continue;
    if (e.dir === 'out') {
      steps.push({ send: e.bytes ? { hex: toHex(e.bytes) } : e.kind === 'json' ? { json: JSON.parse(e.text!) as unknown } : e.text! });
    } else {
      steps.push({ expect: e.bytes ? { binary: toHex(e.bytes).replace(/ /g, '') } : e.kind === 'json' ? { json: JSON.parse(e.text!) as unknown } : { text: e.text! }, within: 5000 });
    }
  }
  return { ...starterScript(settings), name: 'recorded from the log', steps: steps.slice(-max) };
}
