/**
 * A long answer sent as messages of about a page each, built a page at a time in slices of the
 * event loop (see `Slicer`), so that neither the server nor one message grows with it: a
 * subscription's snapshot, a dump.
 */
export abstract class Pages {
  /** The next page, as a message. */
  abstract next(): string;
  /** Whether the page built last was the last one. */
  abstract get done(): boolean;
}

/** The items of a page: as many as fit in about `pageBytes` of JSON (one larger goes alone). */
export function page<T>(ahead: { current: IteratorResult<T> }, items: Iterator<T>, pageBytes: number, encode: (item: T) => string): string[] {
  const parts: string[] = [];
  let bytes = 0;
  while (ahead.current.done !== true && bytes < pageBytes) {
    const json = encode(ahead.current.value);
    parts.push(json);
    bytes += json.length;
    ahead.current = items.next();
  }
  return parts;
}
