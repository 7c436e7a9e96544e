/**
 * "Copy as code": the tab's settings as the few lines that make the same connection in an
 * application, with `@lifeline/client` or with `useLifeline` from `@lifeline/vue`.
 */
import { protocolList, reconnectOptions, type ConnectionSettings } from './connection';

/** The options object literal, only what differs from the client's defaults. */
function optionLines(settings: ConnectionSettings, indent: string): string[] {
  const lines: string[] = [];
  if (settings.lifeline) {
    lines.push('mode: lifeline(),                      // sessions that survive reconnects');
    if (!settings.heartbeat) lines.push('heartbeat: false,                      // do not judge the link by the server’s pings');
  } else {
    const protocols = protocolList(settings.protocols);
    if (protocols.length === 1) lines.push(`protocols: ${JSON.stringify(protocols[0])},`);
    else if (protocols.length > 1) lines.push(`protocols: ${JSON.stringify(protocols)},`);
    if (settings.heartbeat) {
      const reply = settings.heartbeatReply ? `, reply: ${JSON.stringify(settings.heartbeatReply)}` : '';
      lines.push(`heartbeat: { message: ${JSON.stringify(settings.heartbeatMessage)}${reply}, interval: ${settings.heartbeatInterval} },`);
    }
  }
  if (!settings.reconnect) lines.push('reconnect: false,                      // stay closed when the link is lost');
  else {
    const backoff = Object.entries(reconnectOptions(settings)).map(([key, value]) => `${key}: ${value}`);
    if (backoff.length) lines.push(`reconnect: { ${backoff.join(', ')} },`);
  }
  return lines.map((line) => indent + line);
}

function imports(settings: ConnectionSettings, main: string): string {
  return `${main}${settings.lifeline ? "\nimport { lifeline } from '@lifeline/client/lifeline';" : ''}`;
}

export function clientSnippet(settings: ConnectionSettings): string {
  const options = optionLines(settings, '  ');
  const call = options.length ? `createClient(${JSON.stringify(settings.url)}, {\n${options.join('\n')}\n})` : `createClient(${JSON.stringify(settings.url)})`;
  return `${imports(settings, "import { createClient } from '@lifeline/client';")}

const client = ${call};
client.on('state', (s) => console.log(s.status, s.lastClose?.code ?? ''));
client.on('message', (m) => console.log(m.data ?? m.bytes));
client.send('hello');                   // queued until the connection is open
`;
}

export function vueSnippet(settings: ConnectionSettings): string {
  const options = optionLines(settings, '  ');
  const call = options.length ? `useLifeline(${JSON.stringify(settings.url)}, {\n${options.join('\n')}\n})` : `useLifeline(${JSON.stringify(settings.url)})`;
  return `<script setup lang="ts">
${imports(settings, "import { useLifeline } from '@lifeline/vue';")}

// Closed when the component unmounts; status, data, latency… are refs.
const { status, data, countdown, send } = ${call};
</script>

<template>
  <p>{{ status }}<span v-if="countdown !== undefined"> — retrying in {{ countdown }} s</span></p>
  <button :disabled="status !== 'open'" @click="send('hello')">send</button>
  <pre>{{ data }}</pre>
</template>
`;
}
