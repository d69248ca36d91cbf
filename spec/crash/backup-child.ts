// A child for the backup spec: fills the database at argv[2] with argv[4] records, then backs it
// up into argv[3], printing "progress <records>" as the copy goes; the spec kills it with SIGKILL
// in the middle of the copy.
import { open } from 'rxkv';

const [dir, dest, count] = process.argv.slice(2) as [string, string, string];
const db = await open(dir);
for (let from = 0; from < Number(count); from += 5000) {
  await db.transaction((tx) => {
    for (let i = from; i < Math.min(Number(count), from + 5000); i++) tx.table('t').put(`k${String(i).padStart(7, '0')}`, { i, text: 'x'.repeat(100) });
  });
}
process.stdout.write(`filled ${db.seq}\n`);
await db.backup(dest, { progress: ({ records }) => process.stdout.write(`progress ${records}\n`) });
process.stdout.write('done\n');
