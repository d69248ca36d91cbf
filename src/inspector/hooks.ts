import { useEffect, useRef, useState } from 'preact/hooks';
import type { Observable } from 'rxjs';

/** The latest value of an observable (`initial` until it emits); resubscribed when `source` changes. */
export function useObservable<T>(source: Observable<T>, initial: T): T {
  const [value, setValue] = useState(initial);
  useEffect(() => {
    const subscription = source.subscribe({ next: setValue, error: () => undefined });
    return () => subscription.unsubscribe();
  }, [source]);
  return value;
}

export interface Polled<T> {
  readonly value: T | undefined;
  readonly error: unknown;
}

/**
 * Asks `ask` now, then `ms` after each answer, while mounted: the last answer, or the last error.
 * Asked again from the start when `deps` change.
 */
export function usePoll<T>(ask: () => Promise<T>, ms: number, deps: readonly unknown[]): Polled<T> {
  const [state, setState] = useState<Polled<T>>({ value: undefined, error: undefined });
  const latest = useRef(ask);
  latest.current = ask;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const round = (): void => {
      latest.current().then(
        (value) => !stopped && setState({ value, error: undefined }),
        (error: unknown) => !stopped && setState((previous) => ({ value: previous.value, error })),
      ).finally(() => {
        if (!stopped) timer = setTimeout(round, ms);
      });
    };
    setState({ value: undefined, error: undefined });
    round();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);
  return state;
}

/** `value`, once it has stayed the same for `ms`: what a filter typed key by key asks the server for. */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** A render `ms` after the last one was asked for, at most: for views fed faster than a screen refreshes. */
export function useThrottledRender(ms: number): () => void {
  const [, setTick] = useState(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return () => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      setTick((tick) => tick + 1);
    }, ms);
  };
}
