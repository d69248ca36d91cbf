/**
 * The keys of a table in order, kept as a sorted array so that ordered reads and ranges are a
 * binary search and a slice. Writes must stay O(1): a key appended past the end (time-sorted ids
 * such as `uuid()`) is pushed at once; other inserts and removals wait in side lists and are
 * folded in, one sort-merge for all of them, by the next ordered read.
 */
export class OrderedKeys {
  private list: string[] = [];
  private inserted: string[] = [];
  private removed = new Set<string>();

  /** Records a key that was absent. */
  add(key: string): void {
    if (this.removed.delete(key)) return; // removed then re-added before a read: still listed
    const last = this.list.length === 0 ? undefined : this.list[this.list.length - 1];
    if (this.inserted.length === 0 && (last === undefined || key > last)) this.list.push(key);
    else this.inserted.push(key);
  }

  /** Records that a present key was removed. */
  remove(key: string): void {
    this.removed.add(key);
  }

  /**
   * The sorted keys. The array is owned by this object. Later writes only ever append to it (a
   * key past the end) or replace it with a new array, never change it otherwise: a caller that
   * keeps it across commits still finds, below the length it had, the keys it had then.
   */
  sorted(): readonly string[] {
    if (this.removed.size > 0) {
      const removed = this.removed;
      this.list = this.list.filter((key) => !removed.has(key));
      if (this.inserted.length > 0) this.inserted = this.inserted.filter((key) => !removed.has(key));
      this.removed = new Set();
    }
    if (this.inserted.length > 0) {
      this.list = mergeSorted(this.list, this.inserted.sort());
      this.inserted = [];
    }
    return this.list;
  }

  /** Replaces the contents with keys already in order (loading). */
  static fromSorted(keys: string[]): OrderedKeys {
    const ordered = new OrderedKeys();
    ordered.list = keys;
    return ordered;
  }
}

/** Merges two sorted arrays of distinct keys. */
export function mergeSorted(a: readonly string[], b: readonly string[]): string[] {
  const out = new Array<string>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = a[i]! < b[j]! ? a[i++]! : b[j++]!;
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}
