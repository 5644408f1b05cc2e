// smtp.mjs: the demo's mail server (./dev up): a real SMTP server (the
// smtp-server package) on loopback that keeps every message it accepts as
// DIR/NNNN.eml, so a newcomer can read what infrpool sent.
//
//   node t/mock/smtp.mjs --listen 127.0.0.1:2525 --dir run/mail [--pidfile F]
import { mkdirSync, readdirSync, writeFileSync, unlinkSync } from 'node:fs';
import { writeAtomic } from './atomic.mjs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requirePeer } from '../lib/peers.mjs';

const { SMTPServer } = requirePeer('smtp-server');
const { values: o } = parseArgs({ options: { listen: { type: 'string' }, dir: { type: 'string' },
	pidfile: { type: 'string' } } });
const m = /^([\d.]+):(\d+)$/.exec(o.listen ?? '');
if (!m || !o.dir) {
	console.error('usage: node t/mock/smtp.mjs --listen HOST:PORT --dir DIR [--pidfile FILE]');
	process.exit(2);
}
mkdirSync(o.dir, { recursive: true });
let n = readdirSync(o.dir).filter((f) => f.endsWith('.eml')).length;
const server = new SMTPServer({
	authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
	onData(stream, session, done) {
		const chunks = [];
		stream.on('data', (c) => chunks.push(c));
		stream.on('end', () => {
			const name = join(o.dir, `${String(++n).padStart(4, '0')}.eml`);
			writeFileSync(name, Buffer.concat(chunks), { mode: 0o600 });
			console.log(`${new Date().toISOString()} ${name} for ${session.envelope.rcptTo.map((r) => r.address).join(', ')}`);
			done();
		});
	},
});
server.listen(Number(m[2]), m[1], () => {
	if (o.pidfile) writeAtomic(o.pidfile, `${process.pid}\n`);
	console.log(`listening on ${o.listen}, messages in ${o.dir}`);
});
const stop = () => server.close(() => {
	if (o.pidfile) try { unlinkSync(o.pidfile); } catch { /* gone */ }
	process.exit(0);
});
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
