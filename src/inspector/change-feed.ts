import type { PatchChange } from '../client/browser.js';

/** The most changes kept to be shown (the newest), a page at a time. */
export const KEPT = 10_000;
/** Changes per page of the view: what is rendered, whatever the rate. */
export const PAGE = 100;
/** The most changes kept while paused; past it they are counted as dropped. */
export const HELD = 10_000;

/**
 * The change stream view's state: the changes shown, those held while paused (a bounded buffer,
 * shown on resume in order; beyond `HELD`, later ones are dropped and counted), and the rate.
 */
export class ChangeFeed {
  /** Oldest first; trimmed to the newest `KEPT` now and then, not on every change. */
  private list: PatchChange[] = [];
  private held: PatchChange[] = [];
  dropped = 0;
  paused = false;
  /** Changes counted in the current second and the whole second before it. */
  private second = 0;
  private counted = 0;
  private lastSecond = 0;

  /** How many changes can be shown (the newest `KEPT`). */
  get size(): number {
    return Math.min(this.list.length, KEPT);
  }

  /** Page `page` of the changes kept (0: the newest), newest first. */
  shown(page = 0): PatchChange[] {
    if (this.list.length > KEPT) this.list = this.list.slice(-KEPT);
    const end = this.list.length - page * PAGE;
    return this.list.slice(Math.max(0, end - PAGE), Math.max(0, end)).reverse();
  }

  get heldCount(): number {
    return this.held.length;
  }

  push(change: PatchChange, now = Date.now()): void {
    this.count(now);
    if (!this.paused) this.show(change);
    else if (this.held.length < HELD) this.held.push(change);
    else this.dropped++;
  }

  pause(): void {
    this.paused = true;
  }

  /** Shows what was held, in order; the count of what was dropped stays until `clear`. */
  resume(): void {
    this.paused = false;
    for (const change of this.held) this.show(change);
    this.held = [];
  }

  clear(): void {
    this.list = [];
    this.held = [];
    this.dropped = 0;
  }

  /** Changes in the last whole second. */
  perSecond(now = Date.now()): number {
    this.count(now, 0);
    return this.lastSecond;
  }

  private show(change: PatchChange): void {
    this.list.push(change);
    if (this.list.length > 2 * KEPT) this.list = this.list.slice(-KEPT);
  }

  private count(now: number, changes = 1): void {
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.lastSecond = second === this.second + 1 ? this.counted : 0;
      this.counted = 0;
      this.second = second;
    }
    this.counted += changes;
  }
}
