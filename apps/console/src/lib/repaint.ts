/**
 * Repaints driven by the log: many messages in one frame cause one repaint, and a hidden
 * tab (no animation frames) causes none while capture goes on; the first frame after the
 * tab is shown again paints the current state.
 */
import { onBeforeUnmount, ref, watch, type Ref } from 'vue';
import type { MessageLog } from './message-log';

export function useRepaint(log: Ref<MessageLog>): Ref<number> {
  const tick = ref(0);
  let queued = false;
  const schedule = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      tick.value++;
    });
  };
  watch(
    log,
    (current, previous) => {
      if (previous && previous.onChange === schedule) previous.onChange = undefined;
      current.onChange = schedule;
      schedule();
    },
    { immediate: true },
  );
  onBeforeUnmount(() => {
    if (log.value.onChange === schedule) log.value.onChange = undefined;
  });
  return tick;
}

/** A counter that changes every `ms` while mounted: for charts and clocks. */
export function useTicker(ms: number): Ref<number> {
  const tick = ref(0);
  const timer = setInterval(() => tick.value++, ms);
  onBeforeUnmount(() => clearInterval(timer));
  return tick;
}
