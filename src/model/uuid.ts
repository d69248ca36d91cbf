const ALPHABET = '0123456789abcdefghijklmnopqrstuv'; // base32hex: string order is numeric order
const TIME_DIGITS = 10; // 50 bits of milliseconds: good until the year 37648
const RANDOM_DIGITS = 16; // 80 bits of randomness

let lastTime = -1;
const random = new Uint8Array(RANDOM_DIGITS); // one base-32 digit per byte

/**
 * A time-sortable unique id: 26 characters, 10 of milliseconds since the epoch then 16 random,
 * in lowercase base32hex, so that comparing two ids as strings compares their creation times.
 * Within one process ids are strictly increasing, even within one millisecond or when the clock
 * steps back: the random part is then incremented instead of drawn anew.
 *
 * @example
 * const id = uuid(); // '01jb3k7q2m5v0c9d8e7f6g5h4j'
 */
export function uuid(): string {
  const now = Date.now();
  if (now > lastTime) {
    lastTime = now;
    crypto.getRandomValues(random);
    for (let i = 0; i < RANDOM_DIGITS; i++) random[i]! &= 31;
  } else if (!increment(random)) {
    lastTime += 1; // 2^80 ids in one millisecond: borrow the next one
  }
  let id = '';
  for (let i = TIME_DIGITS - 1, time = lastTime; i >= 0; i--, time = Math.floor(time / 32)) {
    id = ALPHABET[time % 32]! + id;
  }
  for (let i = 0; i < RANDOM_DIGITS; i++) id += ALPHABET[random[i]!]!;
  return id;
}

/** Adds one to a big-endian base-32 number; false when it wrapped around to zero. */
function increment(digits: Uint8Array): boolean {
  for (let i = digits.length - 1; i >= 0; i--) {
    if (digits[i]! < 31) {
      digits[i]! += 1;
      return true;
    }
    digits[i] = 0;
  }
  return false;
}
