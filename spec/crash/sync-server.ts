// A sync server for the kill -9 spec: opens the database at argv[2], serves it on port argv[3]
// (0: any), and reports { port } over IPC. Asked { state: true }, it answers with the database's
// seq and every record of table 't'. The spec kills it with SIGKILL and starts it again.
import { open } from 'rxkv';
import { serve } from 'rxkv/server';

const db = await open(process.argv[2]!);
const server = await serve(db, { port: Number(process.argv[3]) });
process.send!({ port: server.port });
process.on('disconnect', () => process.exit(0));
process.on('message', (message: { state?: boolean }) => {
  if (message.state === true) process.send!({ seq: db.seq, entries: [...db.table('t').entries()] });
});
