// export.test.mjs: the data export as a link (docs/api.md): GET /v1/me/export
// and the settings page prepare the document and answer with a link that
// works for 24 hours and only for the account that asked; the link is
// gone by time, the exports-prune job deletes the row, and the document
// holds the account's nodes, the requests they served and its wallet
// events without a secret or a consumer's identity.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startStack } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { assertApiError } from '../lib/front-cases.mjs';
import { assertValidHtml } from '../lib/html.mjs';

const PW = 'correct horse battery';
const CRYPTO = `[crypto]\nkeys = 1:${'0f'.repeat(32)}\n`;
const NODE_TOKEN = 'sk-node-secret-of-the-supplier';
const CLIENT_IP = '203.0.113.77';
let s;

before(async () => {
	s = await startStack({ conf: `[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\n${CRYPTO}` });
});
after(async () => { if (s) await s.stop(); });

let seq = 0;
const taskId = () => `t_${String(process.pid).padStart(8, '0')}${String(++seq).padStart(8, '0')}ExPoRtTt`;
// A UTC time as --now takes it, ms after the epoch.
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const sha256 = (t) => createHash('sha256').update(t).digest('hex');

// A user with a session, its CSRF token, an API key and its ids.
async function user(tag) {
	const c = new Client(s.url), email = uniqueEmail(tag);
	await c.signup(email, PW);
	const csrf = await c.csrf();
	const res = await c.post('/v1/keys', { json: { name: tag }, headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 201, res.text_);
	const me = JSON.parse((await c.get('/v1/me')).text_);
	return { c, csrf, email, key: JSON.parse(res.text_).key, id: me.id };
}

// POST to the internal API as the relay does; resolves to the JSON answer.
async function internal(path, body) {
	const res = await fetch(`${s.internalUrl}/internal/${path}`, {
		method: 'POST', headers: { 'X-Infrpool-Secret': s.env.INFRPOOL_INTERNAL_SECRET, 'content-type': 'application/json' },
		body: JSON.stringify(body),
	});
	const text = await res.text();
	assert.equal(res.status, 200, text);
	return JSON.parse(text);
}

// GET path as u: with its session, or with its key (auth: 'key'), or as nobody (u null).
async function get(u, path, auth = 'session') {
	if (u && auth === 'session') {
		const res = await u.c.get(path);
		return { status: res.status, headers: res.headers, text: res.text_ };
	}
	const res = await fetch(`${s.url}${path}`, { headers: u ? { authorization: `Bearer ${u.key}` } : {} });
	return { status: res.status, headers: res.headers, text: await res.text() };
}

// Prepare u's export; resolves to the link object.
async function prepare(u, auth) {
	const r = await get(u, '/v1/me/export', auth);
	assert.equal(r.status, 200, r.text);
	return JSON.parse(r.text);
}

test('the export is a link that works for its account only; the document has nodes, served requests, wallet events, no secrets', async () => {
	const sup = await user('exp-supplier'), cons = await user('exp-consumer');
	const model = `org/export-${process.pid}`;
	let res = await sup.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sup.csrf }, json: {
		name: 'my export node', supply_type: 'cloud', connection: 'endpoint', max_concurrency: 2, context_length: 8192,
		base_url: 'http://127.0.0.1:9/v1', api_token: NODE_TOKEN,
		models: [{ model, upstream_model: 'up-model', price_in: 100000, price_out: 300000 }] } });
	assert.equal(res.status, 201, res.text_);
	const node = JSON.parse(res.text_);
	// The consumer makes two requests that the supplier's node serves.
	const l = await internal('lease', { key: cons.key, client_ip: CLIENT_IP, want: 1000 });
	const made = [taskId(), taskId()];
	await internal('settle', { close: [l.lease_id], requests: made.map((id) => ({
		request_id: id, lease_id: l.lease_id, model, endpoint: 'chat', stream: false, prompt_tokens: 100, max_tokens: 10,
		reserved: 1000000, node_id: node.id, price_in: 100000, price_out: 300000, status: 'ok', tokens_in: 100, tokens_out: 10,
		counted_in: 0, counted_out: 0, ttft_ms: 5, duration_ms: 50, outcome: 'success', client_ip: CLIENT_IP })) });

	const before = Date.now();
	const link = await prepare(sup);
	assert.deepEqual(Object.keys(link).sort(), ['expires_at', 'object', 'url']);
	assert.equal(link.object, 'export');
	assert.match(link.url, /^\/v1\/me\/export\/[0-9A-Za-z]{43}$/);
	const ttl = Date.parse(link.expires_at) - before;
	assert.ok(ttl > 24 * 3600e3 - 120e3 && ttl <= 24 * 3600e3 + 120e3, `expires in 24 h (${ttl} ms)`);
	// Only the token's SHA-256 is stored.
	const token = link.url.split('/').pop();
	assert.equal(await s.sql(`SELECT count(*) FROM exports WHERE user_id = ${sup.id}
		AND token_hash = decode('${sha256(token)}', 'hex')`), '1');
	assert.equal(await s.sql(`SELECT count(*) FROM exports WHERE document LIKE '%${token}%'`), '0');

	// The owner downloads it, with the session or with a key.
	let r = await get(sup, link.url);
	assert.equal(r.status, 200, r.text);
	assert.match(r.headers.get('content-type'), /^application\/json/);
	assert.match(r.headers.get('content-disposition'), /^attachment; filename="infrpool-export\.json"$/);
	assert.equal(r.headers.get('cache-control'), 'no-store');
	assert.equal((await get(sup, link.url, 'key')).text, r.text);
	const doc = JSON.parse(r.text);
	assert.equal(doc.object, 'export');
	assert.equal(doc.account.email, sup.email);
	assert.deepEqual(doc.nodes.map((n) => n.id), [node.id]);
	assert.equal(doc.nodes[0].name, 'my export node');
	assert.equal(doc.nodes[0].has_api_token, true);
	assert.deepEqual(doc.nodes[0].models.map((m) => [m.model, m.price_in, m.price_out]), [[model, 100000, 300000]]);
	assert.deepEqual(doc.served_requests.map((q) => q.task_id), [...made].reverse());
	assert.deepEqual(doc.served_requests[0].earning, { micro_usd: 12, usd: '0.000012' });
	assert.equal(doc.served_requests[0].cost, undefined, 'the supplier view');
	assert.deepEqual(doc.requests, [], 'the supplier made no request');
	assert.deepEqual(doc.wallet_events.map((e) => e.kind), ['signup_grant']);
	assert.deepEqual(doc.wallet_events[0].amount, { micro_usd: 1000000, usd: '1.000000' });
	assert.ok(doc.transfers.some((t) => t.kind === 'signup'));
	assert.ok(doc.transfers.some((t) => t.account === 'earnings'), 'the earnings are there');
	// Nothing secret, nothing about the consumer.
	for (const bad of [NODE_TOKEN, CLIENT_IP, cons.email, sup.key, token, 'argon2', 'key_hash', 'token_hash',
		'id_hash', 'ip_hash', 'client_ip', 'user_id', '"k1:'])
		assert.ok(!r.text.includes(bad), `the export holds no ${bad}`);

	// Another account's credentials: 404, as for a link that never was.
	const none = await get(sup, `/v1/me/export/${'A'.repeat(43)}`);
	assert.equal(none.status, 404);
	assertApiError(JSON.parse(none.text), 'not_found');
	for (const auth of ['session', 'key']) {
		r = await get(cons, link.url, auth);
		assert.equal(r.status, 404, auth);
		assert.equal(r.text, none.text, 'no difference that tells the link exists');
	}
	for (const bad of ['x', 'A'.repeat(42), `${'A'.repeat(42)}-`])
		assert.equal((await get(sup, `/v1/me/export/${bad}`)).status, 404, bad);
	// No credentials: 401 for every link alike.
	r = await get(null, link.url);
	assert.equal(r.status, 401);
	assert.equal((await get(null, '/v1/me/export')).status, 401);
	assert.equal((await get(null, `/v1/me/export/${'A'.repeat(43)}`)).text, r.text);

	// The consumer's own export has its requests and serves nothing.
	const cdoc = JSON.parse((await get(cons, (await prepare(cons, 'key')).url)).text);
	assert.deepEqual(cdoc.requests.map((q) => q.task_id), [...made].reverse());
	assert.deepEqual(cdoc.served_requests, []);
	assert.deepEqual(cdoc.nodes, []);
	assert.ok(!JSON.stringify(cdoc).includes(CLIENT_IP));
});

test('a link is gone after 24 hours by time, and exports-prune deletes the expired rows', async () => {
	const u = await user('exp-expiry');
	const old = await prepare(u), fresh = await prepare(u);
	assert.equal((await get(u, old.url)).status, 200);
	const oldHash = sha256(old.url.split('/').pop());
	// 24 hours later for the old one (as if made a day and a second ago).
	await s.sql(`UPDATE exports SET created_at = created_at - interval '24 hours 1 second',
		expires_at = expires_at - interval '24 hours 1 second' WHERE token_hash = decode('${oldHash}', 'hex')`);
	let r = await get(u, old.url);
	assert.equal(r.status, 404, 'expired: refused before any job ran');
	assertApiError(JSON.parse(r.text), 'not_found');
	assert.equal((await get(u, fresh.url)).status, 200);
	assert.equal(await s.sql(`SELECT count(*) FROM exports WHERE user_id = ${u.id}`), '2', 'the row waits for the job');
	// The job, at the real time: the expired row goes, the live one stays.
	const now = Date.now();
	const t = await s.ctl('tick', '--now', iso(now), 'exports-prune');
	assert.equal(t.stdout, 'exports-prune: ok\n');
	assert.equal(await s.sql(`SELECT count(*) FROM exports WHERE token_hash = decode('${oldHash}', 'hex')`), '0');
	assert.equal(await s.sql(`SELECT count(*) FROM exports WHERE user_id = ${u.id}`), '1');
	assert.ok(Number(await s.sql(`SELECT counts->>'deleted' FROM job_runs WHERE job = 'exports-prune' ORDER BY id DESC LIMIT 1`)) >= 1);
	assert.equal((await get(u, fresh.url)).status, 200);
	// A day later (the next hourly slot of another day): the other one too.
	await s.ctl('tick', '--now', iso(now + 24 * 3600e3 + 3600e3), 'exports-prune');
	assert.equal(await s.sql(`SELECT count(*) FROM exports WHERE user_id = ${u.id}`), '0');
	assert.equal((await get(u, fresh.url)).status, 404);
});

test('at most 5 links work at once per account; the settings page prepares one and shows its link', async () => {
	const u = await user('exp-cap');
	for (let i = 0; i < 5; i++) await prepare(u, i % 2 ? 'key' : 'session');
	let r = await get(u, '/v1/me/export');
	assert.equal(r.status, 429);
	assertApiError(JSON.parse(r.text), 'too_many_exports');
	const after = Number(r.headers.get('retry-after'));
	assert.ok(after > 23 * 3600 && after <= 24 * 3600, `Retry-After ${after}`);
	assert.equal(await s.sql(`SELECT count(*) FROM exports WHERE user_id = ${u.id}`), '5');
	// The settings page says so too.
	let page = await u.c.submit('/settings', '/settings/export', {});
	assert.equal(page.status, 429);
	assert.match(page.text_, /as many export links that still work as you may/);
	await assertValidHtml(page.text_, 'settings, no room for an export');
	// An expired link makes room again.
	await s.sql(`UPDATE exports SET expires_at = now() - interval '1 second'
		WHERE id = (SELECT min(id) FROM exports WHERE user_id = ${u.id})`);
	assert.equal((await get(u, '/v1/me/export')).status, 200);

	// A new account from the settings page: a button, then the link on the page.
	const v = await user('exp-settings');
	page = await v.c.get('/settings');
	assert.match(page.text_, /<form method="post" action="\/settings\/export">/);
	assert.doesNotMatch(page.text_, /\/v1\/me\/export\//);
	await assertValidHtml(page.text_, 'settings');
	// Without the CSRF token: refused, nothing prepared.
	assert.equal((await v.c.post('/settings/export', { form: {} })).status, 403);
	assert.equal(await s.sql(`SELECT count(*) FROM exports WHERE user_id = ${v.id}`), '0');
	page = await v.c.submit('/settings', '/settings/export', {});
	assert.equal(page.status, 200);
	const m = /href="(\/v1\/me\/export\/[0-9A-Za-z]{43})"/.exec(page.text_);
	assert.ok(m, 'the page links the export');
	assert.match(page.text_, /The link works until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(24 hours\)/);
	await assertValidHtml(page.text_, 'settings with the export link');
	r = await get(v, m[1]);
	assert.equal(r.status, 200);
	assert.equal(JSON.parse(r.text).account.email, v.email);
	assert.equal((await get(u, m[1])).status, 404);

	// A suspended account is read-only, but its data stays its own: the export still works.
	await s.ctl('user', 'suspend', String(v.id), '--reason', 'review');
	page = await v.c.submit('/settings', '/settings/export', {});
	assert.equal(page.status, 200, page.text_.slice(0, 300));
	const url = /href="(\/v1\/me\/export\/[0-9A-Za-z]{43})"/.exec(page.text_)[1];
	assert.equal((await get(v, url)).status, 200);
	assert.equal((await get(v, (await prepare(v, 'key')).url, 'key')).status, 200);
});
