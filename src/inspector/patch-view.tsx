import type { Operation } from '../client/browser.js';

const SIGNS: Record<string, string> = { add: '+', replace: '~', remove: '−', move: '→', copy: '⧉', test: '?' };

/** An RFC 6902 patch, one line per operation: added, replaced and removed paths marked as such. */
export function PatchView({ patch }: { patch: readonly Operation[] }) {
  return (
    <ul class="patch">
      {patch.map((operation, i) => (
        <li key={i} class={`patch-op op-${operation.op}`} data-op={operation.op}>
          <span class="patch-sign" aria-label={operation.op}>
            {SIGNS[operation.op] ?? operation.op}
          </span>
          <code class="patch-path">{operation.path === '' ? '(the record)' : operation.path}</code>
          {'value' in operation && <code class="patch-value">{short(JSON.stringify(operation.value))}</code>}
          {'from' in operation && <code class="patch-value">from {operation.from}</code>}
        </li>
      ))}
    </ul>
  );
}

function short(text: string | undefined): string {
  if (text === undefined) return '';
  return text.length > 200 ? text.slice(0, 200) + '…' : text;
}
