import { createApp } from 'vue';
import App from './App.vue';
import { results } from './results-connection';
import './style.css';

// The app's connection (useLifeline() without a URL): the Lifeline panel's session, shared
// by every tab of the page. The raw panel makes its own with useLifeline(url).

createApp(App).use(results).mount('#app');
