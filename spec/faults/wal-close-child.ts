// A child for the 'wal' close spec: writes with durability 'wal', marks on stdout the moment it
// closes (or, with argv[3] = 'exit', exits without closing), then does so.
import { open } from 'rxkv';

const [dir, ending] = process.argv.slice(2) as [string, string];
const db = await open(dir, { durability: 'wal' });
for (let i = 0; i < 20; i++) await db.table('t').put(`k${i}`, { i });
process.stdout.write('ending\n');
if (ending === 'exit') process.exit(0);
await db.close();
