// lease.test.mjs: leases and batched settlement in the app (docs/internal.md):
// a lease is one hold on the consumer sized min(want, lease_budget,
// spendable) that the reaper voids past lease_ttl + hold_ttl; a batch of
// requests draws on leases in one transaction, each request its own row and
// exact split, idempotent per request_id, all or nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { assertApiError } from '../lib/front-cases.mjs';

const PW = 'correct horse battery';
const CRYPTO = `[crypto]\nkeys = 1:${'0f'.repeat(32)}\n`;
const GATEWAY = '[gateway]\nlease_budget = 200000\nlease_ttl = 20s\n';
let s, supplier;

before(async () => {
	s = await startStack({ conf: `[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\n${CRYPTO}${GATEWAY}` });
	supplier = await user('supplier');
});
after(async () => { if (s) await s.stop(); });

let seq = 0;
const modelId = (tag) => `org/${tag}-${process.pid}-${++seq}`;
let tseq = 0;
const taskId = () => `t_${String(process.pid).padStart(8, '0')}${String(++tseq).padStart(8, '0')}AbCdEfGh`;

// A user with a session, its CSRF token, an API key and its ids.
async function user(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
	const csrf = await c.csrf();
	const res = await c.post('/v1/keys', { json: { name: tag }, headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 201, res.text_);
	const me = JSON.parse((await c.get('/v1/me')).text_);
	const k = JSON.parse(res.text_);
	return { c, csrf, key: k.key, keyId: k.id, id: me.id };
}

// Register an endpoint node of u serving models [[model, price_in, price_out], …].
async function addNode(u, models) {
	const res = await u.c.post('/v1/supplier/nodes', { json: {
		name: 'n', supply_type: 'cloud', connection: 'endpoint', max_concurrency: 4, context_length: 8192,
		base_url: 'http://127.0.0.1:9/v1', api_token: 'sk-node-token',
		models: models.map(([model, price_in, price_out]) => ({ model, upstream_model: `up-${model}`, price_in, price_out })),
	}, headers: { 'x-csrf-token': u.csrf } });
	assert.equal(res.status, 201, res.text_);
	return JSON.parse(res.text_);
}

// POST to the internal API; resolves to { status, body, headers, text }.
async function internal(path, body, { raw } = {}) {
	const res = await fetch(`${s.internalUrl}/internal/${path}`, {
		method: 'POST', headers: { 'X-Infrpool-Secret': s.env.INFRPOOL_INTERNAL_SECRET, 'content-type': 'application/json' },
		body: raw ?? JSON.stringify(body),
	});
	const text = await res.text();
	let json = null;
	try { json = JSON.parse(text); } catch { /* not JSON */ }
	return { status: res.status, body: json, headers: res.headers, text };
}

const balances = async (u) => JSON.parse((await u.c.get('/v1/me')).text_).balances;
const revenue = async () => Number(await s.sql("SELECT balance FROM ledger_accounts WHERE kind = 'revenue'"));
const count = async (table) => Number(await s.sql(`SELECT count(*) FROM ${table}`));

test('lease: budget is min(want, lease_budget, spendable); the hold lives lease_ttl + hold_ttl', async () => {
	const u = await user('lease');
	let r = await internal('lease', { key: u.key, client_ip: '203.0.113.9', want: 2000 });
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(Object.keys(r.body).sort(), ['budget', 'default_max_tokens', 'hold_id', 'key_id', 'lease_id',
		'max_tokens_cap', 'per_minute', 'ttl_ms', 'user_id']);
	assert.equal(r.body.budget, 2000);
	assert.equal(r.body.ttl_ms, 20000);
	assert.equal(r.body.key_id, u.keyId);
	assert.equal(r.body.user_id, u.id);
	assert.equal(r.body.per_minute, 600);
	assert.equal(r.body.default_max_tokens, 1024);
	assert.equal(r.body.max_tokens_cap, 32768);
	assert.equal(await s.sql(`SELECT h.amount || ' ' || h.status || ' ' || h.user_id || ' ' ||
		extract(epoch FROM h.expires_at - h.created_at)::int || ' ' || l.hold_id || ' ' || l.api_key_id || ' ' ||
		extract(epoch FROM l.admit_until - l.created_at)::int || ' ' || (l.closed_at IS NULL)
		FROM leases l JOIN holds h ON h.id = l.hold_id WHERE l.id = ${r.body.lease_id}`),
	`2000 held ${u.id} 620 ${r.body.hold_id} ${u.keyId} 20 true`);
	// No want, or one below 1: the config's budget; more than it: capped.
	for (const want of [undefined, 0, -5, 1e12]) {
		r = await internal('lease', { key: u.key, want });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.body.budget, 200000, String(want));
	}
	// 1,000,000 of signup credit less 802,000 held: 198,000 is what is left.
	r = await internal('lease', { key: u.key, want: null });
	assert.equal(r.body.budget, 198000);
	assert.equal((await balances(u)).held.micro_usd, 1000000);
	const holds0 = await count('holds'), leases0 = await count('leases');
	r = await internal('lease', { key: u.key, want: 1 });
	assert.equal(r.status, 402);
	assertApiError(r.body, 'insufficient_quota');
	assert.equal(r.body.error.type, 'insufficient_quota');
	assert.equal(await count('holds'), holds0, 'no hold');
	assert.equal(await count('leases'), leases0, 'no lease');
	// The leases are holds: the reaper voids them once expired, and the money is free again.
	await s.sql(`UPDATE holds SET expires_at = now() - interval '1 second' WHERE user_id = ${u.id}`);
	await s.ctl('holds', 'reap');
	assert.equal(await s.sql(`SELECT string_agg(DISTINCT status, ',') FROM holds WHERE user_id = ${u.id}`), 'voided');
	assert.equal((await balances(u)).held.micro_usd, 0);
	r = await internal('lease', { key: u.key, want: 5 });
	assert.equal(r.status, 200);
	assert.equal(r.body.budget, 5);
});

test('lease: 401 for a missing, unknown or revoked key, 400 for a bad field; nothing held', async () => {
	const u = await user('revoked');
	const holds0 = await count('holds');
	for (const key of ['', 'nope', `ip_${'a'.repeat(43)}`, undefined, null]) {
		const r = await internal('lease', { key, want: 10 });
		assert.equal(r.status, 401, String(key));
		assertApiError(r.body, 'invalid_api_key');
		assert.equal(r.body.error.type, 'invalid_request_error');
	}
	assert.equal((await internal('lease', { key: 'nope' })).body.error.message, 'Incorrect API key provided.');
	const res = await u.c.request('DELETE', `/v1/keys/${u.keyId}`, { headers: { 'x-csrf-token': u.csrf } });
	assert.ok(res.status < 300, String(res.status));
	let r = await internal('lease', { key: u.key });
	assert.equal(r.status, 401);
	assertApiError(r.body, 'invalid_api_key');
	for (const [body, param] of [[{ key: 5 }, 'key'], [{ key: u.key, want: 'lots' }, 'want'], [{ key: u.key, want: 1.5 }, 'want']]) {
		r = await internal('lease', body);
		assert.equal(r.status, 400, JSON.stringify(body));
		assertApiError(r.body, 'invalid_request');
		assert.equal(r.body.error.param, param);
	}
	r = await internal('lease', null, { raw: '{' });
	assert.equal(r.status, 400);
	assertApiError(r.body, 'invalid_json');
	assert.equal(await count('holds'), holds0);
});
