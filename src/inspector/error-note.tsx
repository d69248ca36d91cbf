/** An error as the server (or the client) gave it: its code first, so that FORBIDDEN reads as such. */
export function ErrorNote({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <p class="error" role="alert" data-code={typeof code === 'string' ? code : undefined}>
      {typeof code === 'string' && <strong>{code}</strong>} {message}
    </p>
  );
}

/** A point in time as the views show it: local time to the millisecond. */
export function time(ms: number): string {
  const at = new Date(ms);
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
}
