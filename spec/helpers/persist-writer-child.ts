// A process with a persisted replica (fileStore) that makes one write while its server is out of
// reach, says "stored" once the write is in its store's file, and waits to be killed.
import { readFileSync } from 'node:fs';
import { connect, fileStore } from 'rxkv/client';

const [url, path] = process.argv.slice(2) as [string, string];
const remote = connect(url, { persist: fileStore(path), optimistic: true, reconnect: { minDelay: 5, maxDelay: 50 } });
void remote.table('t').merge('k', { from: 'child' }).catch(() => undefined);
const poll = setInterval(() => {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  if (!text.includes('"from":"child"')) return;
  clearInterval(poll);
  process.stdout.write('stored\n');
}, 5);
