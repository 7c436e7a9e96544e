import { lifeline } from '@lifeline/client/lifeline';
import { createLifeline } from '@lifeline/vue';
import { createApp } from 'vue';
import App from './App.vue';
import { RECONNECT, wsUrl } from './connection';
import type { FromResults, Numbered } from './wire';
import './style.css';

// The app's shared connection (useLifeline() without a URL): the Lifeline panel's session.
// The raw panel makes its own with useLifeline(url).
const results = createLifeline<FromResults, Numbered>({ url: wsUrl('results'), mode: lifeline(), reconnect: RECONNECT });

createApp(App).use(results).mount('#app');
