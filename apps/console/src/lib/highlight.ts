/**
 * Colours for pretty JSON: keys, strings, numbers, literals. Escapes first, then wraps
 * tokens, so message content can never become markup. Large documents are left plain:
 * colouring a megabyte of JSON would stall the page for a detail nobody reads.
 */
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export function highlightJson(pretty: string, maxLength = 200_000): string {
  const escaped = escapeHtml(pretty);
  if (pretty.length > maxLength) return escaped;
  return escaped.replace(
    /(&quot;(?:[^&\\]|\\.|&(?!quot;))*&quot;)(\s*:)?|\b(true|false|null)\b|(-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b)/g,
    (match, string: string | undefined, colon: string | undefined, literal: string | undefined, number: string | undefined) => {
      if (string !== undefined) return colon ? `<span class="j-key">${string}</span>${colon}` : `<span class="j-str">${string}</span>`;
      if (literal !== undefined) return `<span class="j-lit">${literal}</span>`;
      if (number !== undefined) return `<span class="j-num">${number}</span>`;
      return match;
    },
  );
}
