// lifecycle.test.mjs: an account's end and its wallet's, with the injected
// clock (infrpoolctl tick --now) and a real SMTP server. Deletion is asked
// for with the password, cancelled, asked again, and carried out at 72
// hours: nothing personal is left in a pg_dump, the requests and transfers
// stay (the ledger still balances), the wallet is forfeited with a transfer
// and the wallet events go 365 days later. A wallet with no activity is
// warned 30 days ahead and expires at a year, once each, even when ticks
// overlap; activity moves the year; an account found past its year unwarned
// is warned first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { startStack, bin, runProgram, waitFor } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { requirePeer, OpenAI } from '../lib/peers.mjs';

const { SMTPServer } = requirePeer('smtp-server');
const { simpleParser } = requirePeer('mailparser');
const run = promisify(execFile);
const PW = 'correct horse battery', DAY = 86400e3;
const got = [];	// parsed messages the SMTP server accepted, with rcpt
let s, smtp, m;

before(async () => {
	smtp = new SMTPServer({
		authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
		onData(stream, session, done) {
			const chunks = [];
			stream.on('data', (c) => chunks.push(c));
			stream.on('end', async () => {
				const mail = await simpleParser(Buffer.concat(chunks).toString());
				got.push({ mail, rcpt: session.envelope.rcptTo[0].address });
				done();
			});
		},
	});
	const port = await new Promise((res) => smtp.listen(0, '127.0.0.1', () => res(smtp.server.address().port)));
	s = await startStack({ conf: `[mail]\nsmtp_url = smtp://127.0.0.1:${port}\nfrom = noreply@infrpool.test\n` });
	m = await startMock();
});
after(async () => {
	await m?.stop();
	await new Promise((res) => smtp.close(res));
	if (s) await s.stop();
});

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const ctl = (args) => runProgram(bin('infrpoolctl'), ['-c', s.env.INFRPOOL_CONFIG, ...args]);
async function tick(at, ...jobs) {
	const r = await ctl(['tick', '--now', iso(at), ...jobs]);
	assert.equal(r.code, 0, r.stdout + r.stderr);
	return r.stdout;
}
const lastCounts = async (job) => JSON.parse(await s.sql(`SELECT counts FROM job_runs WHERE job = '${job}'
	ORDER BY id DESC LIMIT 1`));
// Deliver what is queued (at a clock past every message's time), then the messages to addr.
let mailClock = Date.UTC(2040, 0, 1);
async function mailTo(addr) {
	mailClock += 60e3;
	await tick(mailClock, 'mail-send');
	return got.filter((g) => g.rcpt === addr).map((g) => g.mail);
}
const uid = async (email) => Number(await s.sql(`SELECT id FROM users WHERE email = '${email}'`));
const epoch = async (q) => Number(await s.sql(`SELECT extract(epoch FROM (${q})) * 1000`));

async function account(tag) {
	const c = new Client(s.url), email = uniqueEmail(tag);
	await c.signup(email, PW);
	return { c, email, id: await uid(email), csrf: await c.csrf() };
}

test('deletion: asked with the password, cancelled, asked again, carried out at 72 h with nothing personal left', async () => {
	const a = await account('del'), b = await account('del-con');
	const name = `Ada Lovelace ${Math.random().toString(36).slice(2, 8)}`;
	const nodeName = `ada-node-${Math.random().toString(36).slice(2, 8)}`, model = `del/model-${a.id}`;
	await s.sql(`UPDATE users SET display_name = '${name}' WHERE id = ${a.id}`);
	// A's node serves B; A makes a request with a key of its own.
	let res = await a.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': a.csrf }, json: {
		name: nodeName, supply_type: 'cloud', connection: 'endpoint', max_concurrency: 4, context_length: 4096,
		base_url: m.base, api_token: 'sk-node-token',
		models: [{ model, upstream_model: 'mock', price_in: 100000000, price_out: 100000000 }] } });
	assert.equal(res.status, 201, res.text_);
	const key = async (c, csrf) => JSON.parse((await c.post('/v1/keys', { json: { name: 'k' },
		headers: { 'x-csrf-token': csrf } })).text_).key;
	const aKey = await key(a.c, a.csrf), bKey = await key(b.c, b.csrf);
	const Cls = await OpenAI();
	const ask = (k) => new Cls({ apiKey: k, baseURL: `${s.url}/v1`, maxRetries: 0 }).chat.completions
		.create({ model, messages: [{ role: 'user', content: 'hello there' }], max_tokens: 4 });
	await ask(bKey);
	await ask(aKey);
	await waitFor(async () => await s.sql(`SELECT count(*) FROM requests WHERE node_id IS NOT NULL AND
		status = 'ok' AND model = '${model}'`) === '2', 10000, 'both requests settled');
	await waitFor(async () => await s.sql(`SELECT count(*) FROM holds WHERE status = 'held'
		AND user_id IN (${a.id}, ${b.id})`) === '0', 10000, 'the leases closed');
	const before = await s.sql(`SELECT count(*) || ' ' || sum(amount) FROM transfers`);
	const aTransfers = async () => Number(await s.sql(`SELECT count(DISTINCT t.id) FROM transfers t
		JOIN ledger_accounts l ON l.id IN (t.debit_account, t.credit_account) WHERE l.user_id = ${a.id}`));
	const aBefore = await aTransfers();

	// Refused: a key is not a session; a session without the CSRF token; a wrong password.
	res = await fetch(`${s.url}/v1/me/deletion`, { method: 'POST', headers: { authorization: `Bearer ${aKey}`,
		'content-type': 'application/json' }, body: JSON.stringify({ password: PW }) });
	assert.equal(res.status, 401);
	res = await a.c.post('/v1/me/deletion', { json: { password: PW } });
	assert.equal(res.status, 403);
	res = await a.c.post('/v1/me/deletion', { headers: { 'x-csrf-token': a.csrf }, json: { password: 'wrong one!' } });
	assert.equal(res.status, 403);
	assert.equal(JSON.parse(res.text_).error.code, 'wrong_password');
	res = await a.c.post('/v1/me/deletion', { headers: { 'x-csrf-token': a.csrf }, json: {} });
	assert.equal(res.status, 400);
	assert.equal(JSON.parse(res.text_).error.param, 'password');
	assert.equal(await s.sql(`SELECT deletion_due_at IS NULL FROM users WHERE id = ${a.id}`), 't');

	// Asked: 72 hours ahead, with an email; asking again changes nothing.
	res = await a.c.post('/v1/me/deletion', { headers: { 'x-csrf-token': a.csrf }, json: { password: PW } });
	assert.equal(res.status, 202, res.text_);
	const asked = JSON.parse(res.text_);
	assert.equal(asked.scheduled, true);
	assert.equal(await s.sql(`SELECT extract(epoch FROM deletion_due_at - deletion_asked_at) || ' ' || ${"to_char(deletion_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"}
		FROM users WHERE id = ${a.id}`), `259200.000000 ${asked.due_at}`);
	res = await a.c.post('/v1/me/deletion', { headers: { 'x-csrf-token': a.csrf }, json: { password: PW } });
	assert.equal(res.status, 200);
	assert.equal(JSON.parse(res.text_).due_at, asked.due_at);
	assert.deepEqual(JSON.parse((await a.c.get('/v1/me/deletion')).text_),
		{ object: 'account_deletion', scheduled: true, due_at: asked.due_at });
	assert.match((await a.c.get('/account')).text_, /id="deletion-due"/);
	let mails = await mailTo(a.email);
	assert.equal(mails.length, 1);
	assert.match(mails[0].subject, /your account will be deleted on \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
	assert.match(mails[0].text, /cancel the deletion/);

	// Cancelled, with an email; then asked again through the settings form.
	res = await a.c.request('DELETE', '/v1/me/deletion', { headers: { 'x-csrf-token': a.csrf } });
	assert.equal(res.status, 200);
	assert.equal(JSON.parse(res.text_).scheduled, false);
	mails = await mailTo(a.email);
	assert.equal(mails.length, 2);
	assert.match(mails[1].subject, /will not be deleted/);
	res = await a.c.submit('/settings', '/settings/delete', { password: 'not it at all' });
	assert.equal(res.status, 400);
	assert.match(res.text_, /That is not your password/);
	res = await a.c.submit('/settings', '/settings/delete', { password: PW });
	assert.equal(res.status, 303);
	assert.match((await a.c.get('/settings')).text_, /Cancel the deletion/);
	const due = await epoch(`SELECT deletion_due_at FROM users WHERE id = ${a.id}`);
	assert.equal((await mailTo(a.email)).length, 3);

	// A minute before the deadline nothing happens; a minute after, it is carried out.
	await tick(due - 60e3, 'account-delete');
	assert.deepEqual(await lastCounts('account-delete'), { anonymized: 0, forfeited: 0 });
	assert.equal(await s.sql(`SELECT status FROM users WHERE id = ${a.id}`), 'active');
	const held = Number(await s.sql(`SELECT sum(balance) FROM ledger_accounts WHERE user_id = ${a.id}`));
	assert.ok(held > 0, 'A has money to forfeit');
	const withMoney = Number(await s.sql(`SELECT count(*) FROM ledger_accounts WHERE user_id = ${a.id}
		AND balance > 0`));
	assert.equal(await s.sql(`SELECT balance > 0 FROM ledger_accounts WHERE user_id = ${a.id}
		AND kind = 'earnings'`), 't', 'A earned from B');
	await tick(due + 60e3, 'account-delete');
	assert.deepEqual(await lastCounts('account-delete'), { anonymized: 1, forfeited: held });

	// Nothing personal is left anywhere in the database.
	const { stdout: dump } = await run(join(s.env.INFRPOOL_PGBIN, 'pg_dump'), ['-d', s.env.INFRPOOL_DATABASE_URL],
		{ maxBuffer: 256 * 1024 * 1024 });
	assert.ok(dump.includes(b.email), 'the search finds what is there');
	for (const needle of [a.email, name, nodeName, m.base])
		assert.ok(!dump.includes(needle), `${needle} is gone from the database`);
	assert.equal(await s.sql(`SELECT email || ' ' || status || ' ' || (display_name IS NULL) || ' ' ||
		(signup_ip_hash IS NULL) FROM users WHERE id = ${a.id}`), `deleted-${a.id}@deleted.invalid deleted true true`);
	assert.equal(await s.sql(`SELECT count(*) FROM sessions WHERE user_id = ${a.id}`), '0');
	assert.equal(await s.sql(`SELECT count(*) FROM api_keys WHERE user_id = ${a.id}`), '0');
	assert.equal(await s.sql(`SELECT string_agg(status, ',') FROM nodes WHERE user_id = ${a.id}`), 'deleted');
	// The records stay: its request and the one its node served, every transfer before.
	assert.equal(await s.sql(`SELECT count(*) || ' ' || count(client_ip_hash) FROM requests WHERE user_id = ${a.id}`),
		'1 0');
	assert.equal(await s.sql(`SELECT count(*) FROM requests r JOIN nodes n ON n.id = r.node_id
		WHERE n.user_id = ${a.id}`), '2');
	assert.equal(await s.sql(`SELECT count(*) || ' ' || sum(amount) FROM transfers WHERE kind <> 'forfeit'`), before);
	assert.equal(await s.sql(`SELECT sum(t.amount) FROM transfers t JOIN ledger_accounts e ON e.id = t.credit_account
		WHERE t.kind = 'forfeit' AND e.kind = 'expired'`), String(held));
	assert.equal(await s.sql(`SELECT sum(balance) FROM ledger_accounts WHERE user_id = ${a.id}`), '0');
	// Its session, key and password are dead; the model is gone from the catalog.
	assert.equal((await a.c.get('/v1/me')).status, 401);
	await assert.rejects(ask(aKey), (e) => e.status === 401);
	assert.equal((await new Client(s.url).login(a.email, PW)).status, 401);
	await waitFor(async () => !(await (await fetch(`${s.url}/v1/models`)).text()).includes(model), 5000,
		'the model leaves the catalog');
	// Running the job again does nothing more.
	await tick(due + 120e3, 'account-delete');
	assert.deepEqual(await lastCounts('account-delete'), { anonymized: 0, forfeited: 0 });

	// The wallet events stay 365 days after anonymization, then go; the transfers stay.
	const anon = await epoch(`SELECT anonymized_at FROM users WHERE id = ${a.id}`);
	assert.equal(anon, Math.floor((due + 60e3) / 1000) * 1000, 'anonymized at the tick\'s clock');
	const events = await s.sql(`SELECT string_agg(kind, ',' ORDER BY id) FROM wallet_events WHERE user_id = ${a.id}`);
	assert.equal(events, `signup_grant,deletion_asked,deletion_cancelled,deletion_asked,${'forfeit,'.repeat(withMoney)}account_deleted`);
	await tick(anon + 364 * DAY, 'wallet-events-prune');
	assert.equal(await s.sql(`SELECT count(*) FROM wallet_events WHERE user_id = ${a.id}`), String(5 + withMoney));
	await tick(anon + 366 * DAY, 'wallet-events-prune');
	assert.equal(await s.sql(`SELECT count(*) FROM wallet_events WHERE user_id = ${a.id}`), '0');
	assert.ok(Number(await s.sql(`SELECT count(*) FROM wallet_events WHERE user_id = ${b.id}`)) > 0,
		'only the anonymized account\'s');
	assert.equal(await aTransfers(), aBefore + withMoney, 'every transfer of A stays, and the forfeits');
	const ledger = await s.ctl('ledger', 'check');
	assert.match(ledger.stdout, /^clean/);
});

test('wallet expiry: a warning at 335 days and expiry at 365, once each even with overlapping ticks', async () => {
	const c = await account('exp');
	const created = await epoch(`SELECT user_last_activity(${c.id})`);
	const grant = Number(await s.sql(`SELECT balance FROM ledger_accounts WHERE user_id = ${c.id} AND kind = 'credit'`));
	const expiresOn = new Date(created + 365 * DAY).toISOString().slice(0, 10);
	assert.match((await c.c.get('/account')).text_, new RegExp(`id="expires-on">Your balance expires on ${expiresOn}`));
	const warnings = () => s.sql(`SELECT count(*) FROM wallet_events WHERE user_id = ${c.id} AND kind = 'expiry_warning'`);

	await tick(created + 334 * DAY, 'wallet-expiry');
	assert.equal(await warnings(), '0', 'not before 335 days');
	// Two ticks at once at 335 days: one warning.
	const both = (at) => Promise.all([ctl(['tick', '--now', iso(at), 'wallet-expiry']),
		ctl(['tick', '--now', iso(at), 'wallet-expiry'])]);
	const [w1, w2] = await both(created + 335 * DAY + 60e3);
	assert.equal(w1.code + w2.code, 0, w1.stderr + w2.stderr);
	assert.equal(await warnings(), '1');
	await tick(created + 340 * DAY, 'wallet-expiry');
	assert.equal(await warnings(), '1', 'warned once');
	let mails = await mailTo(c.email);
	assert.equal(mails.length, 1);
	assert.match(mails[0].subject, new RegExp(`your balance of \\$1\\.000000 expires on ${expiresOn} \\d\\d:\\d\\d UTC$`));

	// At 365 days, two ticks at once: one expires it, once.
	const at = created + 365 * DAY + 60e3;
	const [r1, r2] = await both(at);
	assert.equal(r1.code + r2.code, 0, r1.stderr + r2.stderr);
	await tick(at + DAY, 'wallet-expiry');
	assert.equal(await s.sql(`SELECT count(*) || ' ' || sum(t.amount) FROM transfers t JOIN ledger_accounts l
		ON l.id = t.debit_account WHERE t.kind = 'expiry' AND l.user_id = ${c.id}`), `1 ${grant}`);
	assert.equal(await s.sql(`SELECT sum(balance) FROM ledger_accounts WHERE user_id = ${c.id}`), '0');
	mails = await mailTo(c.email);
	assert.equal(mails.length, 2);
	assert.match(mails[1].subject, /your balance of \$1\.000000 has expired$/);
	assert.ok(!/id="expires-on"/.test((await c.c.get('/account')).text_), 'nothing left to expire');
});

test('wallet expiry: a sign-in moves the year; an account found past its year is warned first', async () => {
	// The days here are at least two apart from the last test's, so no tick lands in a slot it ran.
	const d = await account('exp-login'), e = await account('exp-late');
	const created = await epoch(`SELECT user_last_activity(${d.id})`);
	const events = (u) => s.sql(`SELECT coalesce(string_agg(kind, ',' ORDER BY id), '') FROM wallet_events
		WHERE user_id = ${u.id} AND kind IN ('expiry_warning', 'expiry')`);
	// E's account is made 50 days later than it was, so no tick below catches it in its warning month.
	await s.sql(`UPDATE users SET created_at = '${iso(created + 50 * DAY)}' WHERE id = ${e.id}`);
	await tick(created + 337 * DAY, 'wallet-expiry');
	assert.equal(await events(d), 'expiry_warning');
	assert.equal(await events(e), '');
	// D signs in at day 340 (of the clock's future: set as that sign-in would set it).
	await s.sql(`UPDATE users SET last_login_at = '${iso(created + 340 * DAY)}' WHERE id = ${d.id}`);
	await tick(created + 368 * DAY, 'wallet-expiry');
	assert.equal(await events(d), 'expiry_warning', 'the sign-in kept it');
	assert.equal(await s.sql(`SELECT sum(balance) FROM ledger_accounts WHERE user_id = ${d.id}`), '1000000');
	// E is first found at 400 days, past its year: it is warned, and expires 30 days after the warning.
	const late = created + 400 * DAY;
	await tick(late, 'wallet-expiry');
	assert.equal(await events(e), 'expiry_warning');
	assert.equal(await s.sql(`SELECT detail->>'expires_at' FROM wallet_events WHERE user_id = ${e.id}
		AND kind = 'expiry_warning'`), iso(late + 30 * DAY));
	await tick(late + 29 * DAY, 'wallet-expiry');
	assert.equal(await events(e), 'expiry_warning');
	await tick(late + 30 * DAY + 60e3, 'wallet-expiry');
	assert.equal(await events(e), 'expiry_warning,expiry');
	assert.equal(await events(d), 'expiry_warning', 'D is in its new year');
});
