import type { Change } from '../engine/change.js';
import { covers, type SubscriptionSpec } from '../sync/protocol.js';

/** What a subscription delivers to: its connection. */
export interface Receiver {
  deliver(change: Change, json: string): void;
}

/** One live subscription of one connection. */
export class Subscription {
  private readonly keySet: ReadonlySet<string> | undefined;

  constructor(
    readonly receiver: Receiver,
    readonly spec: SubscriptionSpec,
  ) {
    this.keySet = spec.keys === undefined ? undefined : new Set(spec.keys);
  }

  covers(table: string, key: string): boolean {
    return table === this.spec.table && covers(this.spec, this.keySet, key);
  }
}

class TableRoutes {
  readonly byKey = new Map<string, Set<Subscription>>();
  readonly prefixed = new Set<Subscription>();
  readonly whole = new Set<Subscription>();

  get empty(): boolean {
    return this.byKey.size === 0 && this.prefixed.size === 0 && this.whole.size === 0;
  }
}

/**
 * Which subscriptions each change goes to, indexed by table and key so that a change costs in
 * proportion to the subscriptions that want it, not to all of them.
 */
export class Routes {
  private readonly tables = new Map<string, TableRoutes>();

  add(subscription: Subscription): void {
    const { table, key, keys, prefix } = subscription.spec;
    let routes = this.tables.get(table);
    if (routes === undefined) this.tables.set(table, (routes = new TableRoutes()));
    if (key !== undefined || keys !== undefined) {
      for (const one of key !== undefined ? [key] : keys!) {
        let set = routes.byKey.get(one);
        if (set === undefined) routes.byKey.set(one, (set = new Set()));
        set.add(subscription);
      }
    } else if (prefix !== undefined && prefix !== '') {
      routes.prefixed.add(subscription);
    } else {
      routes.whole.add(subscription);
    }
  }

  remove(subscription: Subscription): void {
    const { table, key, keys } = subscription.spec;
    const routes = this.tables.get(table);
    if (routes === undefined) return;
    if (key !== undefined || keys !== undefined) {
      for (const one of key !== undefined ? [key] : keys!) {
        const set = routes.byKey.get(one);
        set?.delete(subscription);
        if (set?.size === 0) routes.byKey.delete(one);
      }
    }
    routes.prefixed.delete(subscription);
    routes.whole.delete(subscription);
    if (routes.empty) this.tables.delete(table);
  }

  /** Hands a change (and its wire form) to every subscription that covers it. */
  route(change: Change, json: string): void {
    const routes = this.tables.get(change.table);
    if (routes === undefined) return;
    const byKey = routes.byKey.get(change.key);
    if (byKey !== undefined) for (const subscription of byKey) subscription.receiver.deliver(change, json);
    for (const subscription of routes.prefixed) {
      if (change.key.startsWith(subscription.spec.prefix!)) subscription.receiver.deliver(change, json);
    }
    for (const subscription of routes.whole) subscription.receiver.deliver(change, json);
  }
}
