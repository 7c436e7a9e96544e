/**
 * The process runs on Bun. Its JavaScriptCore makes a joined string a rope and searches
 * strings at other speeds than V8, so the JSON codec takes another way there for the same
 * result where that measured faster (envelope-json.ts, bounds.ts). Browsers are not told
 * apart: they take V8's ways.
 */
export const ON_BUN = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined';
