import type { Json } from '../json/types.js';

/** Per-record metadata, kept beside the value rather than inside it. */
export interface RecordMeta {
  /** When the record was created (ms since the epoch). */
  readonly created: number;
  /** When it was last written (ms since the epoch). */
  readonly updated: number;
  /** The `seq` of the commit that last wrote it: what `{ ifVersion }` compares with. */
  readonly version: number;
}

/** A committed record: its frozen value and its metadata. Immutable; replaced on every write. */
export class Entry implements RecordMeta {
  constructor(
    readonly value: Json,
    readonly created: number,
    readonly updated: number,
    readonly version: number,
    /**
     * `created` as decimal text, kept once a write has encoded it and handed on to the record's
     * later versions: converting a millisecond timestamp costs more than the rest of the header.
     */
    public createdText: string | undefined = undefined,
  ) {}
}
