export interface BundleSize {
  /** Minified bytes of the browser bundle. */
  bytes: number;
  /** The same, gzipped at level 9. */
  gzipBytes: number;
  /** Files esbuild bundled (paths). */
  inputs: string[];
  /** The minified code. */
  code: string;
}

/** Bundles the built browser entry (dist/index.js) with esbuild, minifies and gzips it. */
export function measureBundleSize(options?: { entry?: string }): Promise<BundleSize>;

/** Bundles esbuild input (`entryPoints` or `stdin`) for browsers, minified, and gzips it. */
export function bundleForBrowser(input: Record<string, unknown>): Promise<BundleSize>;

/** The main entry and `@lifeline/client/lifeline`, every export of both kept, bundled together. */
export function measureLifelineBundleSize(): Promise<BundleSize>;

/** The main entry, `@lifeline/client/lifeline` and `@lifeline/client/channels`, every export kept, bundled together. */
export function measureChannelsBundleSize(): Promise<BundleSize>;

/** Built entry points of the package (`index`, `lifeline`, `persist`, `shared`, `shared-worker`, …), every export kept, bundled together. */
export function measureEntries(names: string[]): Promise<BundleSize>;

/** The main entry, `@lifeline/client/lifeline` and `@lifeline/client/persist`. */
export function measurePersistBundleSize(): Promise<BundleSize>;

/** The main entry, `@lifeline/client/lifeline` and `@lifeline/client/shared` (with the hub a leader tab runs). */
export function measureSharedBundleSize(): Promise<BundleSize>;

/** `@lifeline/client/shared-worker` alone: what a SharedWorker script bundles. */
export function measureSharedWorkerBundleSize(): Promise<BundleSize>;
