import type { Json } from '../client/browser.js';

/** A JSON value, objects and arrays collapsible (native `<details>`: keyboard operable), open to `open` levels. */
export function JsonView({ value, open = 2, depth = 0 }: { value: Json | undefined; open?: number; depth?: number }) {
  if (value === null || typeof value !== 'object') return <span class={`json-${value === null ? 'null' : typeof value}`}>{JSON.stringify(value)}</span>;
  const entries: [string, Json][] = Array.isArray(value) ? value.map((item, i) => [String(i), item]) : Object.entries(value);
  const [left, right] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) return <span class="json-empty">{left + right}</span>;
  return (
    <details class="json" open={depth < open}>
      <summary>
        {left}
        <span class="json-count">{entries.length} {Array.isArray(value) ? 'items' : 'fields'}</span>
        {right}
      </summary>
      <ul>
        {entries.map(([key, item]) => (
          <li key={key}>
            <span class="json-key">{Array.isArray(value) ? key : JSON.stringify(key)}</span>: <JsonView value={item} open={open} depth={depth + 1} />
          </li>
        ))}
      </ul>
    </details>
  );
}
