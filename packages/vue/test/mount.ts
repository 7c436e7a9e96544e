import { mount, type MountingOptions, type VueWrapper } from '@vue/test-utils';
import { defineComponent, h } from 'vue';

/**
 * Mounts a component whose setup calls `use` (a composable: useLifeline, useChannel) and
 * renders its status, and hands back what the composable returned.
 */
export function mountWith<T extends { readonly status: { readonly value: string } }>(
  use: () => T,
  options: Pick<MountingOptions<Record<string, never>>, 'global'> = {},
): { wrapper: VueWrapper; lifeline: T } {
  let lifeline: T | undefined;
  const Probe = defineComponent({
    setup() {
      const result = use();
      lifeline = result;
      return () => h('p', result.status.value);
    },
  });
  const wrapper = mount(Probe, options);
  return { wrapper, lifeline: lifeline! };
}
