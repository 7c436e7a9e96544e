/**
 * The console's tabs: each is one connection with its log, draft, filter and panels.
 * The Connection (and its log of up to a million entries) is kept out of Vue's reactivity
 * (markRaw): proxies around every entry would cost more than the entries.
 */
import { markRaw, reactive, ref, shallowRef } from 'vue';
import { Automation } from './automation';
import { ChaosLab } from './chaos';
import type { DraftMode } from './compose';
import { Connection, type ConnectionSettings } from './connection';
import { ALL, type LogFilter, type LogLimits } from './message-log';

export type PanelName = 'message' | 'charts' | 'server' | 'automation' | 'chaos' | 'script' | 'code';

export interface Tab {
  readonly id: number;
  readonly connection: Connection;
  readonly automation: Automation;
  /** Virtual clients of the chaos scenarios (made on first use). */
  readonly chaos: ChaosLab;
  title: string;
  /** `previous`: the last text sent from the composer (↑ in the empty box brings it back). */
  draft: { mode: DraftMode; text: string; repeat: number; previous: string };
  filter: LogFilter;
  /** Follow new messages at the bottom of the log. */
  follow: boolean;
  /** seq of the selected log entry. */
  selected: number | undefined;
  panel: PanelName;
  /** The Script panel's JSON (empty: a starter made from the connection). */
  script: string;
}

/** Replaced, not mutated, on every change (a shallow ref: the tabs themselves are reactive). */
export const tabs = shallowRef<Tab[]>([]);
export const activeId = ref<number>(0);

export function addTab(settings: Partial<ConnectionSettings> = {}, title?: string, limits?: LogLimits): Tab {
  const connection = markRaw(new Connection(settings));
  if (limits) connection.log.setLimits(limits);
  const tab = reactive({
    id: connection.id,
    connection,
    automation: markRaw(new Automation(connection)),
    chaos: markRaw(new ChaosLab()),
    title: title ?? titleOf(connection.settings.url),
    draft: { mode: 'text' as DraftMode, text: '', repeat: 1, previous: '' },
    filter: { ...ALL },
    follow: true,
    selected: undefined as number | undefined,
    panel: 'message' as PanelName,
    script: '',
  }) as Tab;
  tabs.value = [...tabs.value, tab];
  activeId.value = tab.id;
  return tab;
}

export function closeTab(id: number): void {
  const index = tabs.value.findIndex((t) => t.id === id);
  if (index === -1) return;
  const tab = tabs.value[index]!;
  tabs.value = tabs.value.filter((t) => t.id !== id);
  tab.automation.dispose();
  tab.chaos.dispose();
  tab.connection.dispose();
  if (activeId.value === id) activeId.value = tabs.value[Math.min(index, tabs.value.length - 1)]?.id ?? 0;
}

/** `127.0.0.1:5000/echo` from `ws://127.0.0.1:5000/echo`. */
export function titleOf(url: string): string {
  return url.replace(/^[a-z]+:\/\//i, '') || 'new connection';
}
