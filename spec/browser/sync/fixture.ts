/**
 * The server the Karma run started (scripts/sync-fixture.js), and its control API. These specs
 * run only in the browser: spec/support/jasmine.json leaves spec/browser/sync and spec/browser/inspector out of the Node run.
 */
interface FixtureArgs {
  syncUrl: string;
  /** The same database behind tokens: "reader" may read and inspect, "admin" may also write. */
  secureSyncUrl: string;
  /** The same database, served with `perMessageDeflate: true`. */
  compressedSyncUrl: string;
  controlUrl: string;
  exampleSyncUrl: string;
  /** A server that is down: it cuts every connection at once (a client of it stays offline). */
  offlineSyncUrl: string;
}

export const fixture: FixtureArgs = JSON.parse((globalThis as unknown as { __karma__: { config: { args: string[] } } }).__karma__.config.args[0]!);

/** Acts on the server's database (or its connections) directly, as "elsewhere" would. */
export async function serverSide(action: 'merge' | 'put' | 'delete' | 'fill' | 'get' | 'drop', body: object = {}): Promise<any> {
  const response = await fetch(`${fixture.controlUrl}/${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`control ${action} failed: ${await response.text()}`);
  return response.json();
}

export async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let tables = 0;
/** A table name no other spec of this run uses. */
export function freshTable(): string {
  return `browser_${Date.now().toString(36)}_${tables++}`;
}
