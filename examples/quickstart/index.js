// rxkv quickstart: `npm start` runs this. Run it twice: the visit counter survives restarts.
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { open, uuid } from 'rxkv';

const dir = process.env.RXKV_DIR ?? join(tmpdir(), 'rxkv-quickstart');
const db = await open(dir); // durability 'sync': a write resolves once it is on disk
console.log(`Opened the database in ${dir}\n`);

// Every committed change is an RxJS event carrying an RFC 6902 JSON Patch.
const accounts = db.table('accounts');
accounts.changes().subscribe((change) => {
  console.log(`  change: ${change.op.padEnd(6)} ${change.key.slice(-6)}  patch ${JSON.stringify(change.patch)}`);
});

console.log('1. merge creates a record, then deep-merges into it (RFC 7396):');
const id = uuid(); // time-sortable id
await accounts.merge(id, { username: 'roaringtt', profile: { age: 376 } });
await accounts.merge(id, { profile: { city: 'Oslo' } });
console.log('  get:', JSON.stringify(accounts.get(id)));

console.log('\n2. a snapshot never changes, whatever happens next:');
const before = accounts.snapshot();
await accounts.merge(id, { profile: { age: 377, city: null } }); // null removes a member
console.log('  snapshot:', JSON.stringify(before.get(id)));
console.log('  now:     ', JSON.stringify(accounts.get(id)));

console.log('\n3. a transaction commits over several tables at once, or not at all:');
const invoice = uuid();
await db.transaction((tx) => {
  tx.table('accounts').merge(id, { plan: 'pro' });
  tx.table('invoices').put(invoice, { account: id, total: 10 });
});
console.log('  invoice:', JSON.stringify(db.table('invoices').get(invoice)));

console.log('\n4. records are kept in key order; ranges select by prefix or bounds:');
const cities = db.table('cities');
await Promise.all([cities.put('no/oslo', { pop: 709000 }), cities.put('no/bergen', { pop: 286000 }), cities.put('se/malmo', { pop: 351000 })]);
for (const [key, value] of cities.range({ prefix: 'no/' })) console.log(`  ${key}: ${JSON.stringify(value)}`);

const stats = db.table('stats');
const visits = await stats.increment('quickstart', 'visits');
console.log(`\n5. this demo has run ${visits.visits} time(s) on this machine: the count is durable, run it again.`);

await db.close();
console.log(`\nDone: ${db.seq} commits so far in ${dir}.`);
