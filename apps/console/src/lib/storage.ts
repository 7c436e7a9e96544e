/**
 * Saved connections and message templates, in localStorage. Read defensively: the store
 * may be disabled (private windows), full, or hold what an older version wrote.
 */
import { ref, watch, type Ref } from 'vue';
import { isDraftMode, type DraftMode } from './compose';
import { defaultSettings, type ConnectionSettings } from './connection';

const PREFIX = 'lifeline-console:';

export interface SavedConnection {
  name: string;
  settings: ConnectionSettings;
}

export interface Template {
  name: string;
  mode: DraftMode;
  text: string;
}

function load(key: string): unknown {
  try {
    const text = localStorage.getItem(PREFIX + key);
    return text === null ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function save(key: string, value: unknown): void {
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    // storage disabled or full: the list still works for this page
  }
}

/** A list kept in localStorage under `key`, its items checked by `valid` when read. */
function storedList<T>(key: string, valid: (item: unknown) => T | undefined): Ref<T[]> {
  const raw = load(key);
  const list = ref(Array.isArray(raw) ? raw.map(valid).filter((x): x is T => x !== undefined) : []) as Ref<T[]>;
  watch(list, (value) => save(key, value), { deep: true });
  return list;
}

function asSettings(value: unknown): ConnectionSettings | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Partial<ConnectionSettings>;
  if (typeof v.url !== 'string') return undefined;
  const base = defaultSettings();
  // Only known fields of the right type: an older or hand-edited entry cannot break the form.
  const pick = <K extends keyof ConnectionSettings>(key: K): ConnectionSettings[K] => (typeof v[key] === typeof base[key] ? (v[key] as ConnectionSettings[K]) : base[key]);
  return {
    url: v.url,
    protocols: pick('protocols'),
    lifeline: pick('lifeline'),
    reconnect: pick('reconnect'),
    reconnectInitialDelay: pick('reconnectInitialDelay'),
    reconnectMaxDelay: pick('reconnectMaxDelay'),
    heartbeat: pick('heartbeat'),
    heartbeatMessage: pick('heartbeatMessage'),
    heartbeatReply: pick('heartbeatReply'),
    heartbeatInterval: pick('heartbeatInterval'),
  };
}

export const savedConnections = storedList<SavedConnection>('connections', (item) => {
  const v = item as Partial<SavedConnection> | null;
  const settings = asSettings(v?.settings);
  return settings && typeof v?.name === 'string' ? { name: v.name, settings } : undefined;
});

export const templates = storedList<Template>('templates', (item) => {
  const v = item as Partial<Template> | null;
  return v && typeof v.name === 'string' && typeof v.text === 'string' && isDraftMode(v.mode) ? { name: v.name, mode: v.mode, text: v.text } : undefined;
});

export interface SavedScript {
  name: string;
  text: string;
}

export const savedScripts = storedList<SavedScript>('scripts', (item) => {
  const v = item as Partial<SavedScript> | null;
  return v && typeof v.name === 'string' && typeof v.text === 'string' ? { name: v.name, text: v.text } : undefined;
});

/**
 * The option a "choose one…" select was just set to; the select goes back to its
 * placeholder, so that choosing the same item again fires again.
 */
export function takeChoice(event: Event): string {
  const select = event.target as HTMLSelectElement;
  const value = select.value;
  select.value = '';
  return value;
}

/** Adds or replaces (by name). */
export function upsert<T extends { name: string }>(list: Ref<T[]>, item: T): void {
  const index = list.value.findIndex((x) => x.name === item.name);
  if (index === -1) list.value.push(item);
  else list.value.splice(index, 1, item);
}

export function remove<T extends { name: string }>(list: Ref<T[]>, name: string): void {
  list.value = list.value.filter((x) => x.name !== name);
}

/** Small preferences (log limits, admin tokens by origin for this browser session). */
export const preferences = {
  get<T>(key: string, fallback: T): T {
    const value = load(`pref:${key}`);
    return value === undefined ? fallback : (value as T);
  },
  set(key: string, value: unknown): void {
    save(`pref:${key}`, value);
  },
};

/**
 * A server's admin token (for its /api/stats and handshake check), kept for this browser tab
 * only (sessionStorage), by the server's origin: an admin token should not outlive the session.
 */
export function adminToken(origin: string): string {
  try {
    return sessionStorage.getItem(`${PREFIX}token:${origin}`) ?? '';
  } catch {
    return '';
  }
}

export function setAdminToken(origin: string, token: string): void {
  try {
    if (token) sessionStorage.setItem(`${PREFIX}token:${origin}`, token);
    else sessionStorage.removeItem(`${PREFIX}token:${origin}`);
  } catch {
    // storage disabled: the token lasts as long as the panel
  }
}
