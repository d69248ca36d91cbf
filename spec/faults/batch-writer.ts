// A child for the corruption spec: writes argv[3] batches of 5 records (each awaited: every one
// is acknowledged), optionally waits for the watermark to be synced (argv[4] = 'settle'), prints
// the last seq and kills itself with SIGKILL, leaving everything in the WAL.
import { open } from 'rxkv';

const [dir, batches, settle] = process.argv.slice(2) as [string, string, string | undefined];
const db = await open(dir);
const t = db.table('t');
for (let b = 0; b < Number(batches); b++) {
  await Promise.all(Array.from({ length: 5 }, (_, i) => t.put(`b${String(b).padStart(4, '0')}-${i}`, { b, i, pad: 'x'.repeat(40) })));
}
if (settle === 'settle') await new Promise((resolve) => setTimeout(resolve, 1300)); // the watermark is written about once a second
process.stdout.write(`${db.seq}\n`);
process.kill(process.pid, 'SIGKILL');
