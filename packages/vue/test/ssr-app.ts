import { defineComponent, h } from 'vue';
import { useLifeline, type LifelineUrl } from '@lifeline/vue';

/**
 * The component tree the server-rendering tests render: one component with its own URL and
 * two on the app's shared connection. Live status is marked `data-allow-mismatch`, as
 * docs/vue.md recommends: the server renders `idle`, the browser is already `connecting`.
 */
export function ssrRoot(url: LifelineUrl) {
  const Status = defineComponent({
    props: { own: Boolean },
    setup(props) {
      const lifeline = props.own ? useLifeline(url) : useLifeline();
      return () => h('span', { 'data-allow-mismatch': 'text' }, lifeline.status.value);
    },
  });
  return defineComponent(() => () => h('div', [h(Status, { own: true }), h(Status), h(Status)]));
}
