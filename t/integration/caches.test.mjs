// caches.test.mjs: what the relay caches and how it learns of changes
// (docs/internal.md): /internal/candidates lists a model's candidates (health
// and ramp are in internal.test.mjs), with the change feed's seq as version;
// /internal/changes answers what triggers recorded after a seq, or a reset.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { assertApiError } from '../lib/front-cases.mjs';

const PW = 'correct horse battery';
const CRYPTO = `[crypto]\nkeys = 1:${'0f'.repeat(32)}\n`;
let s, supplier;

before(async () => {
	s = await startStack({ conf: `[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\n${CRYPTO}` });
	supplier = await user('supplier');
});
after(async () => { if (s) await s.stop(); });

let seq = 0;
const modelId = (tag) => `org/${tag}-${process.pid}-${++seq}`;

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

// Register a node of u serving models ([model, price_in, price_out]).
async function addNode(u, { connection = 'endpoint', concurrency = 4, token = 'sk-node-token', models }) {
	const body = {
		name: 'n', supply_type: connection === 'endpoint' ? 'cloud' : 'self_hosted', connection,
		max_concurrency: concurrency, context_length: 8192,
		models: models.map(([model, price_in, price_out]) => ({ model, upstream_model: `up-${model}`, price_in, price_out })),
	};
	if (connection === 'endpoint') Object.assign(body, { base_url: 'http://127.0.0.1:9/v1', api_token: token });
	const res = await u.c.post('/v1/supplier/nodes', { json: body, headers: { 'x-csrf-token': u.csrf } });
	assert.equal(res.status, 201, res.text_);
	return JSON.parse(res.text_);
}

// POST to the internal API; resolves to { status, body, text }.
async function internal(path, body) {
	const res = await fetch(`${s.internalUrl}/internal/${path}`, {
		method: 'POST', headers: { 'X-Infrpool-Secret': s.env.INFRPOOL_INTERNAL_SECRET, 'content-type': 'application/json' },
		body: JSON.stringify(body),
	});
	const text = await res.text();
	let json = null;
	try { json = JSON.parse(text); } catch { /* not JSON */ }
	return { status: res.status, body: json, text };
}

const head = async () => Number(await s.sql('SELECT coalesce(max(seq), 0) FROM changes'));

test('candidates: every active node with prices, capacity and health, tokens decrypted, versioned by the change feed; nothing held; 404 model_not_found', async () => {
	const m = modelId('cands');
	const ep = await addNode(supplier, { models: [[m, 100000, 300000]], token: 'sk-cands-secret' });
	const wk = await addNode(supplier, { connection: 'worker', concurrency: 8, models: [[m, 200000, 100000]] });
	const holds0 = await s.sql('SELECT count(*) FROM holds'), reqs0 = await s.sql('SELECT count(*) FROM requests');
	const r = await internal('candidates', { model: m });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.body.model, m);
	assert.deepEqual([r.body.default_max_tokens, r.body.max_tokens_cap], [1024, 32768], 'for the relay\'s worst case and its cap');
	assert.equal(r.body.version, await head());
	assert.ok(r.body.version > 0);
	const byId = Object.fromEntries(r.body.candidates.map((c) => [c.node_id, c]));
	assert.deepEqual(byId[ep.id], {
		node_id: ep.id, connection: 'endpoint', supply_type: 'cloud', upstream_model: `up-${m}`,
		price_in: 100000, price_out: 300000, capacity: 1, health: 1000,
		base_url: 'http://127.0.0.1:9/v1', api_token: 'sk-cands-secret',
	});
	assert.deepEqual(byId[wk.id], {
		node_id: wk.id, connection: 'worker', supply_type: 'self_hosted', upstream_model: `up-${m}`,
		price_in: 200000, price_out: 100000, capacity: 2, health: 1000,
	});
	assert.equal(r.body.candidates.length, 2);
	assert.equal(await s.sql('SELECT count(*) FROM holds'), holds0, 'candidates hold nothing');
	assert.equal(await s.sql('SELECT count(*) FROM requests'), reqs0, 'nor record a request');
	// A suspended node drops out; the version moves past the change.
	await s.sql(`UPDATE nodes SET status = 'suspended' WHERE id = ${ep.id}`);
	const r2 = await internal('candidates', { model: m });
	assert.deepEqual(r2.body.candidates.map((c) => c.node_id), [wk.id]);
	assert.ok(r2.body.version > r.body.version);
	await s.sql(`UPDATE nodes SET status = 'suspended' WHERE id = ${wk.id}`);
	for (const model of [m, 'org/no-such-model']) {
		const r3 = await internal('candidates', { model });
		assert.equal(r3.status, 404);
		assertApiError(r3.body, 'model_not_found');
		assert.equal(r3.body.error.param, 'model');
	}
	for (const body of [{}, { model: 5 }]) {
		const r4 = await internal('candidates', body);
		assert.equal(r4.status, 400);
		assert.equal(r4.body.error.param, 'model');
	}
});

test('changes: triggers record keys, users, nodes and models; since answers what came after; a relay report records nothing', async () => {
	const m = modelId('feed'), m2 = modelId('feed2');
	const u = await user('feed');
	let since = await head();
	const node = await addNode(supplier, { models: [[m, 1, 1], [m2, 1, 1]] });
	const next = async (want) => {
		const r = await internal('changes', { since });
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(r.body.changes, want);
		assert.equal(r.body.seq, want.length ? Number(await head()) : since);
		since = r.body.seq;
	};
	// Registering an endpoint node seals its token once it has an id: a node change.
	await next([{ kind: 'node', node_id: node.id }, { kind: 'model', model: m }, { kind: 'model', model: m2 }]);
	await next([]);
	// A key revoked through the API.
	const res = await u.c.request('DELETE', `/v1/keys/${u.keyId}`, { headers: { 'x-csrf-token': u.csrf } });
	assert.ok(res.status < 300);
	await next([{ kind: 'key', key_id: u.keyId }]);
	// The relay's reports and the supplier's name touch nothing the relay caches.
	await s.sql(`UPDATE nodes SET inflight = 3, last_rtt_ms = 5, parked = false, state_at = now(), last_seen_at = now(), name = 'x' WHERE id = ${node.id}`);
	await s.sql(`UPDATE users SET password_changed_at = now() WHERE id = ${u.id}`);
	await next([]);
	// A node suspended: the node and its models.
	await s.sql(`UPDATE nodes SET status = 'suspended' WHERE id = ${node.id}`);
	await next([{ kind: 'node', node_id: node.id }, { kind: 'model', model: m }, { kind: 'model', model: m2 }]);
	for (const set of [`max_concurrency = 9`, `api_token_sealed = NULL`, `base_url = 'http://127.0.0.1:10/v1'`]) {
		await s.sql(`UPDATE nodes SET ${set} WHERE id = ${node.id}`);
		await next([{ kind: 'node', node_id: node.id }, { kind: 'model', model: m }, { kind: 'model', model: m2 }]);
	}
	// A price change, a model dropped, an account's role.
	await s.sql(`UPDATE node_models SET price_out = 2 WHERE node_id = ${node.id} AND model = '${m}'`);
	await s.sql(`UPDATE node_models SET price_out = 2 WHERE node_id = ${node.id} AND model = '${m}'`);
	await next([{ kind: 'model', model: m }]);
	await s.sql(`DELETE FROM node_models WHERE node_id = ${node.id} AND model = '${m2}'`);
	await next([{ kind: 'model', model: m2 }]);
	await s.sql(`UPDATE users SET role = 'admin' WHERE id = ${u.id}`);
	await next([{ kind: 'user', user_id: u.id }]);
	// A node deleted through the API.
	const del = await supplier.c.request('DELETE', `/v1/supplier/nodes/${node.id}`, { headers: { 'x-csrf-token': supplier.csrf } });
	assert.ok(del.status < 300, del.text_);
	const r = await internal('changes', { since });
	assert.ok(r.body.changes.some((c) => c.kind === 'node' && c.node_id === node.id), r.text);
	since = r.body.seq;
	for (const body of [{}, { since: -1 }, { since: 'x' }]) {
		const bad = await internal('changes', body);
		assert.equal(bad.status, 400);
		assert.equal(bad.body.error.param, 'since');
	}
});

test('changes: rows older than an hour are pruned on read; a reader behind them, or ahead of the feed, is reset', async () => {
	const m = modelId('prune');
	const before = await head();
	await addNode(supplier, { models: [[m, 1, 1]] });
	const h = await head();
	await s.sql(`UPDATE changes SET at = now() - interval '61 minutes' WHERE seq < ${h}`);
	let r = await internal('changes', { since: before });
	assert.deepEqual(r.body, { seq: h, reset: true });
	assert.equal(await s.sql(`SELECT count(*) FROM changes WHERE seq < ${h}`), '0', 'pruned');
	r = await internal('changes', { since: h - 1 });
	assert.deepEqual(r.body, { seq: h, changes: [{ kind: 'model', model: m }] });
	r = await internal('changes', { since: h });
	assert.deepEqual(r.body, { seq: h, changes: [] });
	r = await internal('changes', { since: h + 1000 });
	assert.deepEqual(r.body, { seq: h, reset: true });
});
