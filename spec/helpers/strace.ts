// Reads the logs of `strace -f -ttt -T -y -xx` (any -s), for the specs that watch a child's
// system calls: spec/fsync-order-spec.ts and spec/power-loss-spec.ts.

/** One system call of a log; times in microseconds since the epoch. */
export interface Call {
  pid: number;
  name: string;
  /** The first argument when it is a file descriptor, -1 otherwise. */
  fd: number;
  /** That descriptor's path (strace -y), '' when strace gave none. */
  path: string;
  /** The bytes written by write(2) as far as strace showed them (-s), null for other calls. */
  data: Buffer | null;
  /** Whether strace cut `data` short (-s too small). */
  cut: boolean;
  /** The return value; NaN when unknown (the process died in the call). */
  result: number;
  start: number;
  end: number;
}

const HEX = /\\x([0-9a-f]{2})/g;
const unhex = (text: string): Buffer => Buffer.from(text.replace(HEX, '$1'), 'hex');

function micros(seconds: string): number {
  const [whole, fraction = ''] = seconds.split('.');
  return Number(whole) * 1_000_000 + Number(fraction.padEnd(6, '0').slice(0, 6));
}

/**
 * Parses a log of `strace -f -ttt -T -y -xx`. Under -f a call that another thread's event
 * interrupts is logged in two lines, "name(args <unfinished ...>" and "<... name resumed>rest":
 * they are joined by pid, the call starting at the first line's time. A call's end is its start
 * plus its -T duration (without -T: the resumed line's time, or its start). Signal and exit lines
 * are left out; a call the process died in has result NaN ("= ?").
 */
export function parseStrace(text: string): Call[] {
  const calls: Call[] = [];
  const pending = new Map<number, { start: number; head: string }>();
  for (const line of text.split('\n')) {
    const match = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(line);
    if (match === null) continue;
    const pid = Number(match[1]);
    const time = micros(match[2]!);
    let body = match[3]!;
    let start = time;
    if (body.endsWith('<unfinished ...>')) {
      pending.set(pid, { start: time, head: body.slice(0, -'<unfinished ...>'.length).trimEnd() });
      continue;
    }
    const resumed = /^<\.\.\. (\w+) resumed>\s?(.*)$/.exec(body);
    if (resumed !== null) {
      const head = pending.get(pid);
      pending.delete(pid);
      if (head === undefined) continue;
      start = head.start;
      body = head.head + resumed[2]!;
    }
    const call = /^(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(.*?)(?:\s<(\d+\.\d+)>)?$/.exec(body);
    if (call === null) continue;
    const [, name, args, result, , duration] = call as unknown as [string, string, string, string, string, string | undefined];
    const descriptor = /^(\d+)(?:<((?:\\x[0-9a-f]{2})*)>)?/.exec(args);
    const data = name.startsWith('write') || name.startsWith('pwrite') ? /^[^,]*, "((?:\\x[0-9a-f]{2})*)"(\.\.\.)?/.exec(args) : null;
    calls.push({
      pid,
      name,
      fd: descriptor === null ? -1 : Number(descriptor[1]),
      path: descriptor?.[2] === undefined ? '' : unhex(descriptor[2]).toString('utf8'),
      data: data === null ? null : unhex(data[1]!),
      cut: data?.[2] !== undefined,
      result: result === '?' ? NaN : Number(result),
      start,
      end: duration !== undefined ? start + micros(duration) : resumed !== null ? time : start,
    });
  }
  return calls;
}
