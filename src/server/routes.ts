import type { Change } from '../model/change.js';
import { covers } from '../model/filter.js';
import { EVERY_TABLE, type SubscriptionSpec } from '../sync/protocol.js';

/** What a route delivers to: its client's session. */
export interface Receiver {
  deliver(change: Change, json: string): void;
}

/** One live subscription of one client, as the router knows it. */
export class Route {
  private readonly keySet: ReadonlySet<string> | undefined;

  constructor(
    readonly receiver: Receiver,
    readonly spec: SubscriptionSpec,
  ) {
    this.keySet = spec.keys === undefined ? undefined : new Set(spec.keys);
  }

  covers(table: string, key: string): boolean {
    return (table === this.spec.table || this.spec.table === EVERY_TABLE) && covers(this.spec, this.keySet, key);
  }
}

class TableRoutes {
  readonly byKey = new Map<string, Set<Route>>();
  readonly prefixed = new Set<Route>();
  readonly whole = new Set<Route>();

  get empty(): boolean {
    return this.byKey.size === 0 && this.prefixed.size === 0 && this.whole.size === 0;
  }
}

/**
 * Which routes (live subscriptions) each change goes to, indexed by table and key so that a change costs in
 * proportion to the routes that want it, not to all of them.
 */
export class Routes {
  private readonly tables = new Map<string, TableRoutes>();

  add(route: Route): void {
    const { table, key, keys, prefix } = route.spec;
    let routes = this.tables.get(table);
    if (routes === undefined) this.tables.set(table, (routes = new TableRoutes()));
    if (key !== undefined || keys !== undefined) {
      for (const one of key !== undefined ? [key] : keys!) {
        let set = routes.byKey.get(one);
        if (set === undefined) routes.byKey.set(one, (set = new Set()));
        set.add(route);
      }
    } else if (prefix !== undefined && prefix !== '') {
      routes.prefixed.add(route);
    } else {
      routes.whole.add(route);
    }
  }

  remove(route: Route): void {
    const { table, key, keys } = route.spec;
    const routes = this.tables.get(table);
    if (routes === undefined) return;
    if (key !== undefined || keys !== undefined) {
      for (const one of key !== undefined ? [key] : keys!) {
        const set = routes.byKey.get(one);
        set?.delete(route);
        if (set?.size === 0) routes.byKey.delete(one);
      }
    }
    routes.prefixed.delete(route);
    routes.whole.delete(route);
    if (routes.empty) this.tables.delete(table);
  }

  /** The live routes of each table (those of tails of every table under `'*'`). */
  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [table, routes] of this.tables) {
      const distinct = new Set<Route>([...routes.prefixed, ...routes.whole]);
      for (const set of routes.byKey.values()) for (const route of set) distinct.add(route);
      counts[table] = distinct.size;
    }
    return counts;
  }

  /** Hands a change (and its wire form) to every route that covers it (tails of every table last). */
  route(change: Change, json: string): void {
    this.routeTo(this.tables.get(change.table), change, json);
    this.routeTo(this.tables.get(EVERY_TABLE), change, json);
  }

  private routeTo(routes: TableRoutes | undefined, change: Change, json: string): void {
    if (routes === undefined) return;
    const byKey = routes.byKey.get(change.key);
    if (byKey !== undefined) for (const route of byKey) route.receiver.deliver(change, json);
    for (const route of routes.prefixed) {
      if (change.key.startsWith(route.spec.prefix!)) route.receiver.deliver(change, json);
    }
    for (const route of routes.whole) route.receiver.deliver(change, json);
  }
}
