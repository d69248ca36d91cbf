import { produce as immerProduce, nothing } from 'immer';
import { ErrorCode, RxkvError } from '../errors.js';
import type { Json, JsonObject } from '../json/types.js';
import { mergePatch } from '../json/merge.js';
import { jsonEqual } from '../json/equal.js';
import { hasOwn, isJsonObject, setMember } from '../json/object.js';
import { assertJson } from '../json/validate.js';
import { Entry } from '../model/record.js';
import { Mutation } from './mutation.js';
import type { TableState } from './table-state.js';
import type { WorkingState } from './working-set.js';

/** An Immer recipe: mutate the draft, or return a replacement value. */
export type Recipe<T = Json> = (draft: T) => T | void | undefined;

/** What one write of one record asks for, validated and copied when it was called. */
export type WriteSpec =
  | { readonly verb: 'merge'; readonly patch: Json; readonly onlyIfExists: boolean }
  | { readonly verb: 'put'; readonly value: Json }
  | { readonly verb: 'delete' }
  | { readonly verb: 'increment'; readonly path: readonly string[]; readonly by: number }
  | { readonly verb: 'produce'; readonly recipe: Recipe };

export const DELETE_SPEC: WriteSpec = Object.freeze({ verb: 'delete' });

/**
 * Where a batch is being applied: its working state, and the seq and time of the commit. One
 * object serves a whole batch; the pipeline sets `seq` before each intent.
 */
export interface ApplyContext {
  readonly working: WorkingState;
  seq: number;
  ts: number;
  /** Encodes a record of a table for storage; throws `VALUE_TOO_LARGE`. */
  readonly encode: (entry: Entry, state: TableState) => string;
}

const UNCHANGED = Symbol('unchanged');

/**
 * Applies one write of one record to the working state. Returns the mutation, or null when the
 * write changes nothing (the record as it stands is then the result); throws an `RxkvError`
 * (conflict, not a number, too large) without touching the working state.
 */
export function applyWrite(
  context: ApplyContext,
  state: TableState,
  key: string,
  spec: WriteSpec,
  ifVersion: number | undefined,
): Mutation | null {
  const before = context.working.read(state, key);
  if (ifVersion !== undefined && (before?.version ?? 0) !== ifVersion) {
    throw new RxkvError(
      ErrorCode.CONFLICT,
      `${state.name}/${key} is at version ${before?.version ?? 0}, not ${ifVersion}: read it again and retry.`,
    );
  }
  const next = nextValue(spec, before?.value);
  if (next === UNCHANGED || (next === undefined && before === undefined)) return null;
  const after =
    next === undefined
      ? undefined
      : before === undefined
        ? new Entry(next, context.ts, context.ts, context.seq)
        : new Entry(next, before.created, context.ts, context.seq, before.createdText);
  const encoded = after === undefined ? undefined : context.encode(after, state);
  context.working.write(state, key, after, context.seq);
  return new Mutation(state, key, before, after, encoded);
}

function nextValue(spec: WriteSpec, current: Json | undefined): Json | undefined | typeof UNCHANGED {
  switch (spec.verb) {
    case 'merge': {
      if (spec.onlyIfExists && current === undefined) return UNCHANGED;
      const next = mergePatch(current, spec.patch);
      return next === current ? UNCHANGED : next;
    }
    case 'put':
      return current !== undefined && jsonEqual(current, spec.value) ? UNCHANGED : spec.value;
    case 'delete':
      return current === undefined ? UNCHANGED : undefined;
    case 'increment': {
      const next = mergePatch(current, incrementPatch(current, spec.path, spec.by));
      return next === current ? UNCHANGED : next;
    }
    case 'produce': {
      const base = current ?? {};
      const next = immerProduce(base, spec.recipe as (draft: Json) => Json) as Json | typeof nothing | undefined;
      if (next === nothing || next === undefined) return undefined;
      if (next === base) return UNCHANGED;
      assertJson(next, base, 'value the recipe produced');
      return current !== undefined && jsonEqual(current, next) ? UNCHANGED : next;
    }
  }
}

/** The merge patch that sets the number at `path` to its value plus `by` (absent counts as 0). */
function incrementPatch(current: Json | undefined, path: readonly string[], by: number): JsonObject {
  let node: Json | undefined = current;
  for (let i = 0; i < path.length; i++) {
    if (node === undefined) break;
    if (!isJsonObject(node)) {
      throw new RxkvError(ErrorCode.NOT_A_NUMBER, `increment: /${path.slice(0, i).join('/')} is not an object.`);
    }
    node = hasOwn(node, path[i]!) ? (node as JsonObject)[path[i]!] : undefined;
  }
  const old = node === undefined ? 0 : node; // absent counts as 0; null is not a number
  if (typeof old !== 'number') {
    throw new RxkvError(ErrorCode.NOT_A_NUMBER, `increment: /${path.join('/')} holds a ${old === null ? 'null' : typeof old}, not a number.`);
  }
  const sum = old + by;
  if (!Number.isFinite(sum)) throw new RxkvError(ErrorCode.NOT_A_NUMBER, `increment: /${path.join('/')} would overflow to ${sum}.`);
  let patch: Json = sum;
  for (let i = path.length - 1; i >= 0; i--) {
    const level: JsonObject = {};
    setMember(level, path[i]!, patch);
    patch = Object.freeze(level);
  }
  return patch as JsonObject;
}
