/**
 * Periodic sends and auto-reply rules of one tab. Both go through the connection's client,
 * so they queue while it is reconnecting like anything else sent.
 */
import { reactive } from 'vue';
import { compose, type DraftMode } from './compose';
import type { Connection, Outgoing } from './connection';
import type { LogEntry } from './message-log';
import { compileMatch, type MatchKind } from './match';

export interface AutoReplyRule {
  id: number;
  enabled: boolean;
  match: MatchKind;
  pattern: string;
  replyMode: DraftMode;
  /** `{{text}}` is replaced by the message that matched. */
  reply: string;
  delayMs: number;
  fired: number;
  /** Why the rule is off or unusable. */
  problem?: string;
}

/** A rule that fires this often in one second is in a loop (an echo server answering its own reply). */
const LOOP_LIMIT = 20;

let nextRuleId = 1;

export class Automation {
  readonly periodic = reactive({ running: false, intervalMs: 1000, count: 10, sent: 0, problem: '' });
  readonly rules = reactive<AutoReplyRule[]>([]);
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #recent = new Map<number, number[]>();
  readonly #listener = (entry: LogEntry) => this.#onEntry(entry);

  constructor(private readonly connection: Connection) {
    connection.listeners.add(this.#listener);
  }

  /** Sends `message` every `intervalMs`, `count` times (0: until stopped). */
  startPeriodic(message: Outgoing): void {
    this.stopPeriodic();
    const p = this.periodic;
    if (!(p.intervalMs >= 10)) {
      p.problem = 'The interval must be at least 10 ms.';
      return;
    }
    p.problem = '';
    p.sent = 0;
    p.running = true;
    const tick = () => {
      if (!this.connection.client) {
        p.problem = 'Stopped: not connected.';
        this.stopPeriodic();
        return;
      }
      this.connection.send(message, 'periodic');
      p.sent++;
      if (p.count > 0 && p.sent >= p.count) this.stopPeriodic();
    };
    this.#timer = setInterval(tick, p.intervalMs);
    tick();
  }

  stopPeriodic(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.periodic.running = false;
  }

  addRule(rule: Partial<AutoReplyRule> = {}): AutoReplyRule {
    const added: AutoReplyRule = { id: nextRuleId++, enabled: true, match: 'contains', pattern: '', replyMode: 'text', reply: '', delayMs: 0, fired: 0, ...rule };
    this.rules.push(added);
    return this.rules[this.rules.length - 1]!;
  }

  removeRule(id: number): void {
    const index = this.rules.findIndex((r) => r.id === id);
    if (index !== -1) this.rules.splice(index, 1);
  }

  #onEntry(entry: LogEntry): void {
    if (entry.dir !== 'in' || entry.tag === 'heartbeat' || this.rules.length === 0) return;
    const text = entry.text ?? '';
    for (const rule of this.rules) {
      if (!rule.enabled || rule.pattern === '' || entry.bytes) continue;
      const test = compileMatch(rule.match, rule.pattern);
      if (typeof test === 'string') {
        rule.problem = test;
        continue;
      }
      if (!test(text)) continue;
      if (this.#looping(rule, entry.at)) {
        rule.enabled = false;
        rule.problem = `Turned off: it fired ${LOOP_LIMIT} times within a second (answering its own reply through an echo server?).`;
        continue;
      }
      const message = compose(rule.replyMode, rule.reply.replaceAll('{{text}}', text));
      if (!message.ok) {
        rule.problem = message.error;
        continue;
      }
      rule.problem = undefined;
      rule.fired++;
      const send = () => this.connection.send(message.value, 'auto-reply');
      if (rule.delayMs > 0) setTimeout(send, rule.delayMs);
      else queueMicrotask(send); // after the message that triggered it is logged
    }
  }

  #looping(rule: AutoReplyRule, at: number): boolean {
    const times = this.#recent.get(rule.id) ?? [];
    times.push(at);
    while (times.length && at - times[0]! > 1000) times.shift();
    this.#recent.set(rule.id, times);
    return times.length > LOOP_LIMIT;
  }

  dispose(): void {
    this.stopPeriodic();
    this.connection.listeners.delete(this.#listener);
  }
}
