import { uuid } from 'rxkv';

describe('uuid', () => {
  it('should make 26-character lowercase base32hex ids', () => {
    expect(uuid()).toMatch(/^[0-9a-v]{26}$/);
  });

  it('should be strictly increasing within one process, even within one millisecond', () => {
    const ids = Array.from({ length: 20000 }, () => uuid());
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).withContext(`index ${i}`).toBeTrue();
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('should sort by creation time across milliseconds', async () => {
    const first = uuid();
    await new Promise((resolve) => setTimeout(resolve, 3));
    const second = uuid();
    expect(second.slice(0, 10) > first.slice(0, 10)).toBeTrue();
  });

  it('should stay increasing when the clock steps back', () => {
    const now = Date.now();
    const before = uuid();
    spyOn(Date, 'now').and.returnValue(now - 60_000);
    const after = uuid();
    expect(after > before).toBeTrue();
  });

  it('should encode the time in its first 10 characters', () => {
    const now = Date.now();
    const id = uuid();
    const time = parseInt(id.slice(0, 10), 32);
    expect(Math.abs(time - now)).toBeLessThan(1000);
  });
});
