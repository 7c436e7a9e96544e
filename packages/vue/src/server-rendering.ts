import { hasInjectionContext, inject, ssrContextKey } from 'vue';

/**
 * The rule for "never connect from the server" (docs/vue.md, Server-side rendering):
 *
 * 1. no `window`: a server process, or any other runtime without a page;
 * 2. inside a server render (`renderToString`, `renderToNodeStream` …): Vue's server
 *    renderer provides `ssrContextKey` to the whole app, so every component of it can see
 *    that it renders for the server even where a DOM exists (jsdom, happy-dom).
 *
 * `import.meta.env.SSR` is not used: bundlers replace it only in code they transform, and
 * a library in node_modules is often loaded by Node as it is.
 */
export function isServerRendering(): boolean {
  if (typeof window === 'undefined') return true;
  return hasInjectionContext() && inject(ssrContextKey, null) !== null;
}
