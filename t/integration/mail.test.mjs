// mail.test.mjs: the outbox and the mail-send job against a real SMTP server
// (the smtp-server package; mailparser reads what arrived): a notice of
// changed terms reaches every user once, as its template says; a server that
// is down, then up, gets every message exactly once; bad settings and bad
// input are refused before anything is queued or sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, bin, runProgram } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { requirePeer } from '../lib/peers.mjs';

const { SMTPServer } = requirePeer('smtp-server');
const { simpleParser } = requirePeer('mailparser');
const PW = 'correct horse battery';
const FROM = 'noreply@infrpool.test';
let s, smtp, port;
const got = [];	// { raw, mail } of every message the server accepted

// Start the SMTP server on port (0: any); resolves once it listens.
function listen(p) {
	smtp = new SMTPServer({
		authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
		onData(stream, session, done) {
			const chunks = [];
			stream.on('data', (c) => chunks.push(c));
			stream.on('end', async () => {
				const raw = Buffer.concat(chunks).toString();
				got.push({ raw, mail: await simpleParser(raw), rcpt: session.envelope.rcptTo.map((r) => r.address) });
				done();
			});
		},
	});
	return new Promise((res) => smtp.listen(p, '127.0.0.1', () => res(smtp.server.address().port)));
}
const stopSmtp = () => new Promise((res) => smtp.close(res));

before(async () => {
	port = await listen(0);
	s = await startStack({ conf: `[mail]\nsmtp_url = smtp://127.0.0.1:${port}\nfrom = ${FROM}\ntimeout = 5s\n` });
});
after(async () => {
	await stopSmtp();
	if (s) await s.stop();
});

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const day = (ms) => new Date(ms).toISOString().slice(0, 10);
const ctl = (args, env = {}) => runProgram(bin('infrpoolctl'), ['-c', s.env.INFRPOOL_CONFIG, ...args],
	{ env: { ...process.env, ...env } });
const users = async () => (await s.sql('SELECT string_agg(email, \' \' ORDER BY id) FROM users')).split(' ');
const lastRun = async (job) => JSON.parse(await s.sql(`SELECT row_to_json(r) FROM (SELECT outcome, counts, message
	FROM job_runs WHERE job = '${job}' ORDER BY id DESC LIMIT 1) r`));

async function signup(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
}

test('a notice of changed terms reaches every user once, as its template says', async () => {
	await signup('mail-a');
	await signup('mail-b');
	const emails = await users();
	const now = Date.now(), effective = day(now + 40 * 86400e3);
	let r = await ctl(['notify', 'terms', '--effective', effective, '--url', 'https://infrpool.test/terms',
		'--now', iso(now)]);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, `queued ${emails.length} notice${emails.length === 1 ? '' : 's'} of the terms effective ${effective}\n`);
	r = await ctl(['tick', '--now', iso(now + 60e3), 'mail-send']);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, 'mail-send: ok\n');
	assert.deepEqual(await lastRun('mail-send'), { outcome: 'ok', counts: { sent: emails.length, failed: 0, waiting: 0 },
		message: null });
	assert.deepEqual(got.flatMap((g) => g.rcpt).sort(), [...emails].sort());
	for (const { raw, mail } of got) {
		assert.equal(mail.from.value[0].address, FROM);
		assert.equal(mail.from.value[0].name, 'infrpool');
		assert.equal(mail.subject, `infrpool: our terms change on ${effective}`);
		assert.match(mail.text, new RegExp(`take effect on\\s+${effective}, 39 days after this notice`));
		assert.match(mail.text, /Read them here:\s+https:\/\/infrpool\.test\/terms\n/);
		assert.match(mail.messageId, /^<outbox\.\d+\.\d+@infrpool\.test>$/);
		assert.match(raw, /^Content-Type: text\/plain; charset=utf-8\r$/m);
		assert.ok(!raw.includes(s.env.INFRPOOL_INTERNAL_SECRET), 'no secret in a message');
	}
	// Nothing is sent twice: the next minutes find the outbox empty.
	r = await ctl(['tick', '--now', iso(now + 120e3), 'mail-send']);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(got.length, emails.length);
	assert.equal(await s.sql('SELECT count(*) FROM outbox WHERE sent_at IS NULL'), '0');
	// Sent messages are deleted 30 days after they went.
	r = await ctl(['tick', '--now', iso(now + 31 * 86400e3), 'outbox-prune']);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(await s.sql('SELECT count(*) FROM outbox'), '0');
});

test('an SMTP server that is down, then up: every message is delivered once', async () => {
	got.length = 0;
	await stopSmtp();
	const emails = await users();
	const t0 = Date.UTC(2030, 5, 1, 12, 0);
	let r = await ctl(['notify', 'terms', '--effective', '2030-08-01', '--now', iso(t0)]);
	assert.equal(r.code, 0, r.stderr);
	// Down: the job fails (tick exits 1), the first message is put off a minute, none is lost.
	r = await ctl(['tick', '--now', iso(t0 + 1e3), 'mail-send']);
	assert.equal(r.code, 1);
	assert.equal(r.stdout, 'mail-send: failed\n');
	const run = await lastRun('mail-send');
	assert.equal(run.outcome, 'failed');
	assert.match(run.message, /connect/i);
	assert.equal(run.counts.failed, 1);
	assert.equal(await s.sql(`SELECT string_agg(attempts || ' ' || (next_attempt_at - '${iso(t0 + 1e3)}'::timestamptz),
		', ' ORDER BY id) FROM outbox WHERE attempts > 0`), '1 00:01:00');
	// Another minute, still down: the next message fails, the first is not due yet.
	r = await ctl(['tick', '--now', iso(t0 + 30e3), 'mail-send']);
	assert.equal(r.code, 1);
	assert.equal(await s.sql('SELECT count(*) FROM outbox WHERE attempts > 0 AND sent_at IS NULL'), '2');
	// Up again: the next tick sends every one of them, once.
	await listen(port);
	r = await ctl(['tick', '--now', iso(t0 + 5 * 60e3), 'mail-send']);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(got.length, emails.length);
	assert.deepEqual(got.flatMap((g) => g.rcpt).sort(), [...emails].sort());
	assert.equal(await s.sql('SELECT count(*) FROM outbox WHERE sent_at IS NULL'), '0');
	r = await ctl(['tick', '--now', iso(t0 + 10 * 60e3), 'mail-send']);
	assert.equal(got.length, emails.length, 'nothing delivered twice');
});

test('bad input: a notice too soon or malformed, a bad smtp_url: refused, nothing queued or sent', async () => {
	const queued = await s.sql('SELECT count(*) FROM outbox');
	const now = Date.now();
	for (const [args, code, msg] of [
		[['notify', 'terms', '--effective', day(now + 10 * 86400e3)], 1, /30 days after the notice at the earliest/],
		[['notify', 'terms', '--effective', '2031-02-30'], 2, /--effective takes a date/],
		[['notify', 'terms'], 2, /--effective takes a date/],
		[['notify', 'terms', '--effective', day(now + 40 * 86400e3), '--url', 'javascript:alert(1)'], 2, /--url must be/],
		[['notify', 'rules'], 2, /usage: infrpoolctl notify/],
	]) {
		const r = await ctl(args);
		assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
		assert.match(r.stderr, msg);
	}
	assert.equal(await s.sql('SELECT count(*) FROM outbox'), queued);
	// A slot no other test ran (the real minute may be one test 1 ran under --now).
	const r = await ctl(['tick', '--now', '2032-01-01T00:00:00Z', 'mail-send'],
		{ INFRPOOL_MAIL_SMTP_URL: 'http://127.0.0.1:1' });
	assert.equal(r.code, 1);
	assert.match(r.stderr, /\[mail\] smtp_url: expected smtp:\/\/host\[:port\] or smtps:\/\/host\[:port\]/);
	assert.deepEqual(await lastRun('mail-send'), { outcome: 'failed', counts: {},
		message: 'the [mail] settings are not valid (see stderr)' });
});
