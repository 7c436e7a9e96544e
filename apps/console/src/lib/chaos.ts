/**
 * The console's side of the chaos scenarios: a hidden same-origin iframe running sim.html
 * (see sim.ts), made when a scenario starts and kept while the tab lives, whichever panel
 * is showing; the panel reads its snapshots.
 */
import { reactive } from 'vue';
import type { SimApi, SimOptions, SimSnapshot } from './sim-api';

export class ChaosLab {
  readonly state = reactive<{ snapshot: SimSnapshot | undefined; problem: string; loading: boolean }>({ snapshot: undefined, problem: '', loading: false });
  #frame: HTMLIFrameElement | undefined;
  #api: SimApi | undefined;
  #poll: ReturnType<typeof setInterval> | undefined;

  get api(): SimApi | undefined {
    return this.#api;
  }

  async start(options: SimOptions): Promise<void> {
    this.state.problem = '';
    try {
      const api = this.#api ?? (await this.#load());
      api.start(options);
      this.#refresh();
      this.#poll ??= setInterval(() => this.#refresh(), 250);
    } catch (error) {
      this.state.problem = `The scenario realm did not start: ${(error as Error).message}`;
    }
  }

  /** Runs `action` on the realm, then shows its effect at once. */
  run(action: (api: SimApi) => void): void {
    if (!this.#api) return;
    action(this.#api);
    this.#refresh();
  }

  stop(): void {
    this.#api?.stop();
    this.#refresh();
  }

  dispose(): void {
    clearInterval(this.#poll);
    this.#poll = undefined;
    this.#api?.stop();
    this.#frame?.remove();
    this.#frame = undefined;
    this.#api = undefined;
  }

  #refresh(): void {
    this.state.snapshot = this.#api?.snapshot();
  }

  #load(): Promise<SimApi> {
    this.state.loading = true;
    const frame = document.createElement('iframe');
    frame.title = 'Chaos scenario clients';
    frame.setAttribute('aria-hidden', 'true');
    frame.tabIndex = -1;
    // Not display:none: a realm that is laid out like any other keeps running normally.
    frame.style.cssText = 'position:fixed;width:1px;height:1px;left:-10px;top:-10px;border:0;opacity:0;pointer-events:none';
    frame.src = new URL('sim.html', document.baseURI).href;
    this.#frame = frame;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('sim.html did not load within 10 s')), 10_000);
      frame.addEventListener('load', () => {
        const check = () => {
          const api = frame.contentWindow?.lifelineSim;
          if (api) {
            clearTimeout(timer);
            this.#api = api;
            this.state.loading = false;
            resolve(api);
          } else setTimeout(check, 20); // its module script runs after load in some engines
        };
        check();
      });
      document.body.append(frame);
    });
  }
}
