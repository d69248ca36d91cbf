import type { PatchChange } from 'rxkv/client';
import { ChangeFeed, HELD, KEPT, PAGE } from '../../../src/inspector/change-feed.js';

const change = (seq: number): PatchChange => ({ table: 't', key: `k${seq}`, op: 'merge', seq, ts: 0, patch: [] });

describe('The inspector\'s change feed (what the change stream view shows)', () => {
  it('should keep the newest KEPT changes, shown newest first a PAGE at a time', () => {
    const feed = new ChangeFeed();
    const last = KEPT * 3 + 7;
    for (let seq = 1; seq <= last; seq++) feed.push(change(seq));
    expect(feed.size).toBe(KEPT);
    const first = feed.shown().map((one) => one.seq);
    expect(first.length).toBe(PAGE);
    expect(first[0]).toBe(last);
    expect(first[PAGE - 1]).toBe(last - PAGE + 1);
    expect(feed.shown(1)[0]!.seq).toBe(last - PAGE);
    const oldest = feed.shown(KEPT / PAGE - 1);
    expect(oldest[oldest.length - 1]!.seq).toBe(last - KEPT + 1);
    expect(feed.shown(KEPT / PAGE)).toEqual([]);
  });

  it('should hold changes while paused, in order, and count those past HELD as dropped', () => {
    const feed = new ChangeFeed();
    feed.push(change(1));
    feed.pause();
    for (let seq = 2; seq <= HELD + 11; seq++) feed.push(change(seq));
    expect(feed.shown().map((one) => one.seq)).toEqual([1]);
    expect(feed.heldCount).toBe(HELD);
    expect(feed.dropped).toBe(10);
    feed.resume();
    expect(feed.heldCount).toBe(0);
    expect(feed.shown()[0]!.seq).toBe(HELD + 1); // the held ones, the first HELD after the pause
    expect(feed.size).toBe(Math.min(KEPT, HELD + 1));
    expect(feed.dropped).toBe(10);
    feed.clear();
    expect(feed.dropped).toBe(0);
    expect(feed.shown()).toEqual([]);
  });

  it('should count the changes of the last whole second, and 0 once they stopped', () => {
    const feed = new ChangeFeed();
    for (let i = 0; i < 42; i++) feed.push(change(i), 10_000 + i);
    expect(feed.perSecond(10_500)).toBe(0); // the second is not over
    expect(feed.perSecond(11_000)).toBe(42);
    expect(feed.perSecond(12_100)).toBe(0);
  });
});
