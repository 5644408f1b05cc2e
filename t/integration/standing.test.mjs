// standing.test.mjs: an account's standing (docs/operations.md, "Account
// standing") through the real stack, a mock model server and a real SMTP
// server: a suspended account is read-only (no inference, no key, its nodes
// out of the pool, its pages still there with a banner) until it is
// unsuspended; a banned one cannot sign in, its sessions, keys and node
// tokens are refused, and --forfeit moves its wallet with the ledger clean;
// each change is recorded and mailed with its reason; bad infrpoolctl input
// changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, bin, runProgram, waitFor } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { requirePeer } from '../lib/peers.mjs';
import { assertValidHtml } from '../lib/html.mjs';

const { SMTPServer } = requirePeer('smtp-server');
const { simpleParser } = requirePeer('mailparser');
const PW = 'correct horse battery';
const MODEL = 'standing/model';
let s, m, smtp, sup, node, admin;
const got = [];	// { mail, rcpt } of every message the SMTP server accepted
let clock = Date.now() + 60e3;	// the tick's clock, a minute further each time

function listen() {
	smtp = new SMTPServer({
		authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
		onData(stream, session, done) {
			const chunks = [];
			stream.on('data', (c) => chunks.push(c));
			stream.on('end', async () => {
				got.push({ mail: await simpleParser(Buffer.concat(chunks).toString()),
					rcpt: session.envelope.rcptTo.map((r) => r.address) });
				done();
			});
		},
	});
	return new Promise((res) => smtp.listen(0, '127.0.0.1', () => res(smtp.server.address().port)));
}

before(async () => {
	const port = await listen();
	s = await startStack({ conf: '[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\nlogin_per_account = 1000\n' +
		`[gateway]\nramp_start_pct = 100\n[mail]\nsmtp_url = smtp://127.0.0.1:${port}\nfrom = ops@infrpool.test\n` +
		`[crypto]\nkeys = 1:${'0f'.repeat(32)}\n` });
	m = await startMock();
	sup = await user('ssup');
	const res = await sup.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sup.csrf }, json: {
		name: 'standing node', supply_type: 'cloud', connection: 'endpoint', max_concurrency: 8,
		context_length: 8192, base_url: m.base, api_token: '',
		models: [{ model: MODEL, upstream_model: 'mock', price_in: 1, price_out: 1000 }] } });
	assert.equal(res.status, 201, res.text_);
	node = JSON.parse(res.text_);
	admin = await user('sadmin');
	await s.sql(`UPDATE users SET role = 'admin' WHERE id = ${admin.id}`);
});

after(async () => {
	await new Promise((res) => smtp.close(res));
	await m?.stop();
	if (s) await s.stop();
});

// A user with a session, its CSRF token, an API key, its email and id.
async function user(tag) {
	const c = new Client(s.url), email = uniqueEmail(tag);
	await c.signup(email, PW);
	const csrf = await c.csrf();
	const res = await c.post('/v1/keys', { json: { name: tag }, headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 201, res.text_);
	const me = JSON.parse((await c.get('/v1/me')).text_);
	return { c, csrf, email, id: me.id, key: JSON.parse(res.text_).key };
}

const ctl = (args) => runProgram(bin('infrpoolctl'), ['-c', s.env.INFRPOOL_CONFIG, ...args]);
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function chat(key, model = MODEL) {
	return fetch(`${s.url}/v1/chat/completions`, { method: 'POST',
		headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
		body: JSON.stringify({ model, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }) });
}

// Wait until a chat with key answers want (the relay learns of a change
// through the change feed within a second); resolves to the last body.
async function chatUntil(key, want, ms = 3000) {
	let last;
	await waitFor(async () => {
		const res = await chat(key);
		last = { status: res.status, body: await res.text() };
		return res.status === want;
	}, ms, `a chat answering ${want}`).catch((e) => {
		throw new Error(`${e.message}; last ${last?.status} ${last?.body}`);
	});
	return JSON.parse(last.body);
}

// Deliver the outbox, then the messages to email with the subject.
async function mailTo(email, subject) {
	clock += 60e3;
	const r = await ctl(['tick', '--now', iso(clock), 'mail-send']);
	assert.equal(r.code, 0, r.stderr);
	return got.filter((g) => g.rcpt.includes(email) && g.mail.subject === subject).map((g) => g.mail);
}

const status = (id) => s.sql(`SELECT status || ':' || coalesce(status_reason, '-') FROM users WHERE id = ${id}`);
const actions = (id) => s.sql(`SELECT coalesce(string_agg(action || ':' || coalesce(admin_id::text, 'ctl') || ':' ||
	reason, ' | ' ORDER BY id), '') FROM admin_actions WHERE user_id = ${id}`);

test('suspend: read-only (no inference, no key) with pages, export and a banner; the email says why; unsuspend restores', async () => {
	const u = await user('ssusp');
	let res = await chat(u.key);
	assert.equal(res.status, 200, await res.text());

	let r = await ctl(['user', 'suspend', u.email.toUpperCase(), '--reason', 'chargebacks <pending> review']);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, `user ${u.id}: suspended\n`);
	assert.equal(await status(u.id), 'suspended:chargebacks <pending> review');
	assert.equal(await actions(u.id), 'user_suspend:ctl:chargebacks <pending> review');

	// Inference: refused once the relay hears of it, even with a lease open.
	const err = await chatUntil(u.key, 403);
	assert.equal(err.error.code, 'account_suspended');
	assert.match(err.error.message, /suspended/);
	// No key, neither by the API nor by the page.
	res = await u.c.post('/v1/keys', { json: { name: 'more' }, headers: { 'x-csrf-token': u.csrf } });
	assert.equal(res.status, 403);
	assert.equal(JSON.parse(res.text_).error.code, 'account_suspended');
	res = await u.c.submit('/keys', '/keys', { name: 'more' });
	assert.equal(res.status, 403);
	await assertValidHtml(res.text_, 'key page refused');
	assert.equal(await s.sql(`SELECT count(*) FROM api_keys WHERE user_id = ${u.id}`), '1');
	// Still signed in: the pages, with the banner, and the export.
	for (const path of ['/account', '/keys', '/usage', '/nodes', '/settings']) {
		res = await u.c.get(path);
		assert.equal(res.status, 200, path);
		assert.match(res.text_, /id="standing"[^>]*><strong>Your account is suspended and read-only/, path);
		assert.match(res.text_, /chargebacks &lt;pending&gt; review/, path);
		await assertValidHtml(res.text_, path);
	}
	res = await u.c.get('/v1/me/export');
	assert.equal(res.status, 200, res.text_);
	res = await fetch(`${s.url}/v1/me`, { headers: { authorization: `Bearer ${u.key}` } });
	assert.equal(res.status, 200, 'the key still reads');
	// Deleting the account stays possible (and cancelling it).
	res = await u.c.post('/v1/me/deletion', { json: { password: PW }, headers: { 'x-csrf-token': u.csrf } });
	assert.equal(res.status, 202, res.text_);
	res = await u.c.request('DELETE', '/v1/me/deletion', { headers: { 'x-csrf-token': u.csrf } });
	assert.equal(res.status, 200, res.text_);
	// The owner is told, with the reason.
	const mails = await mailTo(u.email, 'infrpool: your account is suspended');
	assert.equal(mails.length, 1);
	assert.match(mails[0].text, /chargebacks <pending> review/);
	assert.match(mails[0].text, /read-only/);

	r = await ctl(['user', 'unsuspend', String(u.id), '--reason', 'review done']);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, `user ${u.id}: unsuspended\n`);
	assert.equal(await status(u.id), 'active:-');
	await chatUntil(u.key, 200);
	res = await u.c.post('/v1/keys', { json: { name: 'more' }, headers: { 'x-csrf-token': u.csrf } });
	assert.equal(res.status, 201, res.text_);
	assert.doesNotMatch((await u.c.get('/account')).text_, /id="standing"/);
	const back = await mailTo(u.email, 'infrpool: your account is active again');
	assert.equal(back.length, 1);
	assert.match(back[0].text, /review done/);
});

test('operator pages: a suspended supplier\'s node leaves the pool and its prices freeze; unsuspend brings it back; the history shows both', async () => {
	const con = await user('scon');
	let res = await chat(con.key);
	assert.equal(res.status, 200, await res.text());
	const list = await admin.c.get('/admin/users');
	assert.match(list.text_, new RegExp(`<a href="/admin/users/${sup.id}">[^<]+</a></td><td>user</td><td><span class="badge active">active</span>`));
	let html = (await admin.c.get(`/admin/users/${sup.id}`)).text_;
	await assertValidHtml(html, 'user page');
	assert.match(html, new RegExp(`action="/admin/users/${sup.id}/suspend"`));
	assert.match(html, /No operator action on this account yet/);

	// No reason: 400 beside the form, nothing changed.
	res = await admin.c.submit(`/admin/users/${sup.id}`, `/admin/users/${sup.id}/suspend`, { reason: '  ' });
	assert.equal(res.status, 400);
	assert.match(res.text_, /id="suspend-reason"[^>]*aria-invalid="true"/);
	await assertValidHtml(res.text_, 'suspend without reason');
	assert.equal(await status(sup.id), 'active:-');
	// Without the CSRF token: refused.
	res = await admin.c.post(`/admin/users/${sup.id}/suspend`, { form: { reason: 'x' } });
	assert.equal(res.status, 403);
	// Not an operator: refused.
	res = await con.c.post(`/admin/users/${sup.id}/suspend`, { form: { csrf: con.csrf, reason: 'x' } });
	assert.equal(res.status, 403);
	assert.equal(await status(sup.id), 'active:-');

	res = await admin.c.submit(`/admin/users/${sup.id}`, `/admin/users/${sup.id}/suspend`, { reason: 'latency fraud' });
	assert.equal(res.status, 303);
	assert.equal(res.headers.get('location'), `/admin/users/${sup.id}`);
	html = (await admin.c.get(`/admin/users/${sup.id}`)).text_;
	assert.match(html, /The account is suspended/, 'the flash');
	assert.match(html, /<span class="badge suspended" id="standing-badge">suspended<\/span>/);
	assert.match(html, new RegExp(`action="/admin/users/${sup.id}/unsuspend"`));
	assert.equal(await actions(sup.id), `user_suspend:${admin.id}:latency fraud`);
	// The node stays active but is not routed, nor listed.
	assert.equal(await s.sql(`SELECT status FROM nodes WHERE id = ${node.id}`), 'active');
	const gone = await chatUntil(con.key, 404);
	assert.equal(gone.error.code, 'model_not_found');
	const models = JSON.parse((await new Client(s.url).get('/v1/models')).text_).data.map((x) => x.id);
	assert.ok(!models.includes(MODEL));
	// The supplier cannot change prices or add nodes, but sees its node.
	res = await sup.c.request('PATCH', `/v1/supplier/nodes/${node.id}`, { headers: { 'x-csrf-token': sup.csrf },
		json: { models: [{ model: MODEL, upstream_model: 'mock', price_in: 1, price_out: 1 }] } });
	assert.equal(res.status, 403);
	assert.equal(JSON.parse(res.text_).error.code, 'account_suspended');
	res = await sup.c.submit('/nodes', `/nodes/${node.id}/prices`, { price_in: '1', price_out: '1' });
	assert.equal(res.status, 403);
	assert.equal(await s.sql(`SELECT price_out FROM node_models WHERE node_id = ${node.id}`), '1000');
	res = await sup.c.get(`/v1/supplier/nodes/${node.id}`);
	assert.equal(res.status, 200);
	// Suspending twice: 409 with the reason, no second record.
	res = await admin.c.post(`/admin/users/${sup.id}/suspend`, { form: { csrf: admin.csrf, reason: 'again' } });
	assert.equal(res.status, 409);
	assert.match(res.text_, /suspended already/);
	assert.equal((await actions(sup.id)).split(' | ').length, 1);

	res = await admin.c.submit(`/admin/users/${sup.id}`, `/admin/users/${sup.id}/unsuspend`, { reason: 'cleared' });
	assert.equal(res.status, 303);
	assert.equal(await status(sup.id), 'active:-');
	await chatUntil(con.key, 200);
	html = (await admin.c.get(`/admin/users/${sup.id}`)).text_;
	await assertValidHtml(html, 'user page with history');
	const rows = [...html.matchAll(/<tr><td>[^<]+<\/td><td>(user_\w+)<\/td><td>([^<]+)<\/td><td>([^<]+)<\/td><\/tr>/g)]
		.map((x) => x.slice(1).join(':'));
	assert.deepEqual(rows, [`user_unsuspend:${admin.email}:cleared`, `user_suspend:${admin.email}:latency fraud`]);
	assert.equal((await mailTo(sup.email, 'infrpool: your account is suspended')).length, 1);
	// An operator cannot act on their own account.
	res = await admin.c.post(`/admin/users/${admin.id}/ban`, { form: { csrf: admin.csrf, reason: 'oops' } });
	assert.equal(res.status, 409);
	assert.equal(await status(admin.id), 'active:-');
	res = await admin.c.get('/admin/users/999999999');
	assert.equal(res.status, 404);
});

test('ban --forfeit: no sign-in, sessions and keys refused, nodes suspended, the wallet forfeited with the ledger clean', async () => {
	const u = await user('sban');
	const res0 = await chat(u.key);
	assert.equal(res0.status, 200, await res0.text());
	// A worker node too, whose token must stop opening.
	let res = await u.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': u.csrf }, json: {
		name: 'w', supply_type: 'self_hosted', connection: 'worker', max_concurrency: 2, context_length: 8192,
		models: [{ model: 'standing/w', upstream_model: 'w', price_in: 1, price_out: 1 }] } });
	assert.equal(res.status, 201, res.text_);
	const worker = JSON.parse(res.text_);
	const wauth = () => fetch(`${s.internalUrl}/internal/worker/auth`, { method: 'POST',
		headers: { 'X-Infrpool-Secret': s.env.INFRPOOL_INTERNAL_SECRET, 'content-type': 'application/json' },
		body: JSON.stringify({ token: worker.node_token }) });
	assert.equal((await wauth()).status, 200);
	const wallet = Number(await s.sql(`SELECT sum(balance) FROM ledger_accounts WHERE user_id = ${u.id}`));
	assert.ok(wallet > 0);
	const expired0 = Number(await s.sql("SELECT balance FROM ledger_accounts WHERE kind = 'expired'"));

	const r = await ctl(['user', 'ban', '--forfeit', u.email, '--reason', 'confirmed fraud']);
	assert.equal(r.code, 0, r.stderr);
	const usd = (wallet / 1e6).toFixed(6);
	assert.equal(r.stdout, `user ${u.id}: banned; forfeited $${usd}\n`);
	assert.equal(await status(u.id), 'banned:confirmed fraud');
	assert.equal(await s.sql(`SELECT count(*) FROM sessions WHERE user_id = ${u.id}`), '0');
	assert.equal(await s.sql(`SELECT count(*) FROM api_keys WHERE user_id = ${u.id} AND revoked_at IS NULL`), '0');
	assert.equal(await s.sql(`SELECT status FROM nodes WHERE id = ${worker.id}`), 'suspended');
	assert.equal(await s.sql(`SELECT sum(balance) || ':' || sum(held) FROM ledger_accounts WHERE user_id = ${u.id}`), '0:0');
	assert.equal(Number(await s.sql("SELECT balance FROM ledger_accounts WHERE kind = 'expired'")), expired0 + wallet);
	assert.equal(await s.sql(`SELECT -sum(amount) FROM wallet_events WHERE user_id = ${u.id} AND kind = 'forfeit'`),
		String(wallet));
	const check = await ctl(['ledger', 'check']);
	assert.equal(check.code, 0, check.stdout + check.stderr);
	assert.match(check.stdout, /^clean: /);

	// Everything refused: the key, the old session, the node token, sign-in.
	const err = await chatUntil(u.key, 401);
	assert.equal(err.error.code, 'invalid_api_key');
	res = await u.c.get('/v1/me');
	assert.equal(res.status, 401);
	res = await u.c.get('/account');
	assert.equal(res.status, 303);
	res = await wauth();
	assert.equal(res.status, 403);
	assert.equal((await res.json()).error.code, 'account_banned');
	const c = new Client(s.url);
	res = await c.login(u.email, PW);
	assert.equal(res.status, 403);
	assert.match(res.text_, /This account is banned/);
	assert.ok(![...c.cookies.keys()].some((k) => /sid$/.test(k)), 'no session cookie');
	await assertValidHtml(res.text_, 'banned login');
	res = await c.login(u.email, 'wrong password!');
	assert.equal(res.status, 401, 'the wrong password says nothing of the ban');
	assert.doesNotMatch(res.text_, /banned/);

	const mails = await mailTo(u.email, 'infrpool: your account is banned');
	assert.equal(mails.length, 1);
	assert.match(mails[0].text, /confirmed fraud/);
	assert.match(mails[0].text, new RegExp(`\\$${usd.replace('.', '\\.')}, is forfeited`));

	// Nothing undoes a ban; a second one is refused; nothing recorded.
	for (const verb of ['ban', 'suspend', 'unsuspend']) {
		const again = await ctl(['user', verb, String(u.id), '--reason', 'again']);
		assert.equal(again.code, 1, verb);
		assert.match(again.stderr, /banned: nothing undoes a ban/);
	}
	assert.equal(await actions(u.id), 'user_ban:ctl:confirmed fraud');
});

test('a banned or deleted standing is enforced where credentials are read, whatever set it', async () => {
	const u = await user('sdeep');
	await s.sql(`UPDATE users SET status = 'banned', status_reason = 'set elsewhere', status_at = now() WHERE id = ${u.id}`);
	let res = await fetch(`${s.url}/v1/me`, { headers: { authorization: `Bearer ${u.key}` } });
	assert.equal(res.status, 403);
	assert.equal((await res.json()).error.code, 'account_banned');
	res = await u.c.get('/v1/me');
	assert.equal(res.status, 403);
	assert.equal(JSON.parse(res.text_).error.code, 'account_banned');
	const err = await chatUntil(u.key, 403);
	assert.equal(err.error.code, 'account_banned');
	// A public page sees no one; the dead cookie is cleared.
	const c = new Client(s.url);
	c.cookies = new Map(u.c.cookies);
	res = await c.get('/models');
	assert.equal(res.status, 200);
	assert.doesNotMatch(res.text_, /Log out/);
	assert.ok(![...c.cookies.keys()].some((k) => /sid$/.test(k)), 'the session cookie is cleared');
});

test('infrpoolctl user: bad input exits non-zero with a clear message and changes nothing', async () => {
	const u = await user('sbad');
	const before = await s.sql('SELECT (SELECT count(*) FROM admin_actions) || \':\' || (SELECT count(*) FROM outbox)');
	const cases = [
		[['user', 'suspend', u.email], 2, /usage:[^]*suspend\|unsuspend\|ban \[--forfeit\] \(ID\|EMAIL\) --reason TEXT/],
		[['user', 'suspend', '--reason', 'x'], 2, /usage:/],
		[['user', 'suspend', u.email, '--reason', 'x', 'extra'], 2, /usage:/],
		[['user', 'suspend', '--forfeit', u.email, '--reason', 'x'], 2, /usage:/],
		[['user', 'frobnicate', u.email, '--reason', 'x'], 2, /usage:/],
		[['user', 'suspend', u.email, '--reason', 'x'.repeat(501)], 2, /reason of 1 to 500 characters/],
		[['user', 'suspend', u.email, '--reason', '   '], 2, /reason of 1 to 500 characters/],
		[['user', 'suspend', u.email, '--reason', 'two\nlines'], 2, /reason of 1 to 500 characters/],
		[['user', 'suspend', 'nobody@example.test', '--reason', 'x'], 1, /no account 'nobody@example.test'/],
		[['user', 'ban', '999999999', '--reason', 'x'], 1, /no account '999999999'/],
		[['user', 'unsuspend', u.email, '--reason', 'x'], 1, /not suspended/],
	];
	for (const [args, code, msg] of cases) {
		const r = await ctl(args);
		assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
		assert.match(r.stderr, msg, args.join(' '));
		assert.equal(r.stdout, '', args.join(' '));
	}
	assert.equal(await s.sql('SELECT (SELECT count(*) FROM admin_actions) || \':\' || (SELECT count(*) FROM outbox)'),
		before);
	assert.equal(await status(u.id), 'active:-');
	// 500 characters is the limit, not past it.
	const r = await ctl(['user', 'suspend', u.email, '--reason', 'y'.repeat(500)]);
	assert.equal(r.code, 0, r.stderr);
	const again = await ctl(['user', 'suspend', u.email, '--reason', 'z']);
	assert.equal(again.code, 1);
	assert.match(again.stderr, /suspended already/);
});
