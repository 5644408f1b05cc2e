// internal.test.mjs: the relay's internal API in the app (docs/internal.md):
// admission (key, model, candidates, max_price, the hold) and settlement
// (billing exact to the micro-USD, caps, idempotency, voids), node health
// and ramp, and the usage views built from the request rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { assertApiError } from '../lib/front-cases.mjs';

const PW = 'correct horse battery';
const CRYPTO = `[crypto]\nkeys = 1:${'0f'.repeat(32)}\n`;
let s, supplier, consumer;

before(async () => {
	s = await startStack({ conf: `[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\n${CRYPTO}` });
	supplier = await user('supplier');
	consumer = await user('consumer');
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
	return { c, csrf, key: JSON.parse(res.text_).key, id: me.id };
}

// Register a node of u serving models ([model, price_in, price_out] or objects).
async function addNode(u, { connection = 'endpoint', concurrency = 4, token = 'sk-node-token', models, base_url = 'http://127.0.0.1:9/v1' }) {
	const body = {
		name: 'n', supply_type: connection === 'endpoint' ? 'cloud' : 'self_hosted', connection,
		max_concurrency: concurrency, context_length: 8192,
		models: models.map(([model, price_in, price_out]) => ({ model, upstream_model: `up-${model}`, price_in, price_out })),
	};
	if (connection === 'endpoint') Object.assign(body, { base_url, api_token: token });
	const res = await u.c.post('/v1/supplier/nodes', { json: body, headers: { 'x-csrf-token': u.csrf } });
	assert.equal(res.status, 201, res.text_);
	return JSON.parse(res.text_);
}

// POST to the internal API; resolves to { status, body, headers }.
async function internal(path, body, { raw, secret = s.env.INFRPOOL_INTERNAL_SECRET } = {}) {
	const res = await fetch(`${s.internalUrl}/internal/${path}`, {
		method: 'POST', headers: { 'X-Infrpool-Secret': secret, 'content-type': 'application/json' },
		body: raw ?? JSON.stringify(body),
	});
	const text = await res.text();
	let json = null;
	try { json = JSON.parse(text); } catch { /* not JSON */ }
	return { status: res.status, body: json, headers: res.headers, text };
}

const admit = (over = {}) => internal('admit', {
	key: consumer.key, model: 'none', endpoint: 'chat', stream: false, max_tokens: 100,
	prompt_tokens: 1000, client_ip: '203.0.113.9', max_price: null, ...over,
});

const settle = (over) => internal('settle', {
	node_id: null, status: 'ok', tokens_in: null, tokens_out: null, counted_in: 0, counted_out: 0,
	ttft_ms: 84, duration_ms: 1520, outcome: 'success', ...over,
});

async function balances(u) {
	return JSON.parse((await u.c.get('/v1/me')).text_).balances;
}

const revenue = async () => Number(await s.sql("SELECT balance FROM ledger_accounts WHERE kind = 'revenue'"));

test('admit: candidates complete, the token decrypted, the hold exact, a request row', async () => {
	const m = modelId('admit');
	const ep = await addNode(supplier, { models: [[m, 100000, 300000]], token: 'sk-admit-secret' });
	const wk = await addNode(supplier, { connection: 'worker', concurrency: 8, models: [[m, 200000, 100000]] });
	const r = await admit({ model: m, prompt_tokens: 1234, max_tokens: 567, stream: true });
	assert.equal(r.status, 200, r.text);
	assert.match(r.body.task_id, /^t_[0-9A-Za-z]{24}$/);
	assert.equal(r.body.max_tokens, 567);
	const byId = Object.fromEntries(r.body.candidates.map((c) => [c.node_id, c]));
	assert.equal(r.body.candidates.length, 2);
	assert.deepEqual(byId[ep.id], {
		node_id: ep.id, connection: 'endpoint', supply_type: 'cloud', upstream_model: `up-${m}`,
		price_in: 100000, price_out: 300000, capacity: 1, health: 1000,
		base_url: 'http://127.0.0.1:9/v1', api_token: 'sk-admit-secret',
	});
	assert.deepEqual(byId[wk.id], {
		node_id: wk.id, connection: 'worker', supply_type: 'self_hosted', upstream_model: `up-${m}`,
		price_in: 200000, price_out: 100000, capacity: 2, health: 1000,
	});
	// Worst case over the candidates: 1234 × 200,000 + 567 × 300,000 = 416,900,000 → 417.
	const hold = await s.sql(`SELECT amount || ' ' || status || ' ' || user_id || ' ' ||
		(expires_at - created_at BETWEEN interval '9 minutes' AND interval '11 minutes') FROM holds WHERE id = ${r.body.hold_id}`);
	assert.equal(hold, `417 held ${consumer.id} true`);
	assert.equal((await balances(consumer)).held.micro_usd, 417);
	const row = JSON.parse(await s.sql(`SELECT row_to_json(r)::text FROM requests r WHERE hold_id = ${r.body.hold_id}`));
	assert.equal(row.task_id, r.body.task_id);
	assert.equal(row.status, 'admitted');
	assert.equal(row.user_id, consumer.id);
	assert.equal(row.model, m);
	assert.equal(row.endpoint, 'chat');
	assert.equal(row.stream, true);
	assert.equal(row.prompt_tokens, 1234);
	assert.equal(row.max_tokens, 567);
	assert.match(row.client_ip_hash, /^k\d+:[0-9a-f]{64}$/);
	assert.ok(!JSON.stringify(row).includes('203.0.113.9'), 'never the raw address');
	assert.ok(!JSON.stringify(row).includes('sk-admit'), 'never the token');
	assert.equal(row.api_key_id, Number(await s.sql(`SELECT id FROM api_keys WHERE user_id = ${consumer.id}`)));
	assert.equal((await settle({ hold_id: r.body.hold_id, status: 'unserved', outcome: null })).status, 200);
	assert.equal((await balances(consumer)).held.micro_usd, 0);
});

test('admit: defaults, embeddings without an output term, rounding up, the max_tokens cap', async () => {
	const m = modelId('defaults');
	await addNode(supplier, { models: [[m, 3, 7]] });
	// max_tokens null → [gateway] default_max_tokens (1024): 10 × 3 + 1024 × 7 = 7198 → 1.
	let r = await admit({ model: m, max_tokens: null, prompt_tokens: 10 });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.body.max_tokens, 1024);
	assert.equal(await s.sql(`SELECT amount FROM holds WHERE id = ${r.body.hold_id}`), '1');
	await settle({ hold_id: r.body.hold_id, status: 'unserved' });
	// Embeddings: prompt only, no output cap. 333,333 × 3 = 999,999 → 1.
	r = await admit({ model: m, endpoint: 'embeddings', max_tokens: undefined, prompt_tokens: 333333 });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.body.max_tokens, 0);
	assert.equal(await s.sql(`SELECT amount || ' ' || (SELECT max_tokens FROM requests WHERE hold_id = holds.id) FROM holds WHERE id = ${r.body.hold_id}`), '1 0');
	// Output tokens of an embedding are never billed: 999,999 → 1 charged, floor(0.95) = 0 earned.
	const st = await settle({ hold_id: r.body.hold_id, node_id: r.body.candidates[0].node_id, tokens_in: 333333, tokens_out: 50 });
	assert.deepEqual(st.body, { hold_id: r.body.hold_id, charged: 1, earning: 0, replayed: false });
	assert.equal(await s.sql(`SELECT tokens_out FROM requests WHERE hold_id = ${r.body.hold_id}`), '0');
	// 333,334 × 3 = 1,000,002 → 2 (always rounded up).
	r = await admit({ model: m, endpoint: 'embeddings', prompt_tokens: 333334 });
	assert.equal(await s.sql(`SELECT amount FROM holds WHERE id = ${r.body.hold_id}`), '2');
	await settle({ hold_id: r.body.hold_id, status: 'unserved' });
	r = await admit({ model: m, max_tokens: 32769 });
	assert.equal(r.status, 400);
	assertApiError(r.body, 'invalid_request');
	assert.equal(r.body.error.param, 'max_tokens');
	assert.match(r.body.error.message, /between 1 and 32768/);
	r = await admit({ model: m, max_tokens: 32768 });
	assert.equal(r.status, 200);
	await settle({ hold_id: r.body.hold_id, status: 'unserved' });
});

test('admit: max_price keeps only nodes within both prices; none left is 503 with Retry-After', async () => {
	const m = modelId('maxprice');
	const cheap = await addNode(supplier, { models: [[m, 100, 100]] });
	const dearIn = await addNode(supplier, { models: [[m, 1000, 100]] });
	const dearOut = await addNode(supplier, { models: [[m, 100, 1000]] });
	let r = await admit({ model: m, max_price: { prompt: 500, completion: 500 } });
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.body.candidates.map((c) => c.node_id), [cheap.id]);
	// The hold covers only the candidates left: 1000 × 100 + 100 × 100 = 110,000 → 1.
	assert.equal(await s.sql(`SELECT amount FROM holds WHERE id = ${r.body.hold_id}`), '1');
	await settle({ hold_id: r.body.hold_id, status: 'unserved' });
	r = await admit({ model: m, max_price: { completion: 500 } });
	assert.deepEqual(r.body.candidates.map((c) => c.node_id).sort((a, b) => a - b), [cheap.id, dearIn.id], 'one side only');
	await settle({ hold_id: r.body.hold_id, status: 'unserved' });
	r = await admit({ model: m, max_price: { prompt: 100, completion: 100 } });
	assert.equal(r.body.candidates.length, 1, 'the limits are inclusive');
	await settle({ hold_id: r.body.hold_id, status: 'unserved' });
	r = await admit({ model: m });
	assert.equal(r.body.candidates.length, 3);
	assert.ok(r.body.candidates.some((c) => c.node_id === dearOut.id));
	await settle({ hold_id: r.body.hold_id, status: 'unserved' });
	const holds0 = await s.sql('SELECT count(*) FROM holds');
	r = await admit({ model: m, max_price: { prompt: 99, completion: 10000 } });
	assert.equal(r.status, 503);
	assertApiError(r.body, 'no_capacity');
	assert.equal(r.body.error.type, 'server_error');
	assert.equal(r.headers.get('retry-after'), '5');
	assert.equal(await s.sql('SELECT count(*) FROM holds'), holds0, 'no hold');
});

test('admit: 401, 404, 402 and 400 in the OpenAI shape; a refusal leaves no hold', async () => {
	const m = modelId('errors');
	await addNode(supplier, { models: [[m, 1000000000000, 1]] });
	const holds0 = await s.sql('SELECT count(*) FROM holds');
	const reqs0 = await s.sql('SELECT count(*) FROM requests');
	for (const key of ['', 'nope', `ip_${'a'.repeat(43)}`, undefined, null]) {
		const r = await admit({ model: m, key });
		assert.equal(r.status, 401, String(key));
		assertApiError(r.body, 'invalid_api_key');
		assert.equal(r.body.error.type, 'invalid_request_error');
	}
	assert.equal((await admit({ model: m, key: 'nope' })).body.error.message, 'Incorrect API key provided.');
	let r = await admit({ model: 'org/no-such-model' });
	assert.equal(r.status, 404);
	assertApiError(r.body, 'model_not_found');
	assert.match(r.body.error.message, /org\/no-such-model/);
	// 10 × 10^12 + 1024 × 1 per 1M → 10,000,000.001024 → $10.000001 > the $1 signup credit.
	r = await admit({ model: m, prompt_tokens: 10, max_tokens: null });
	assert.equal(r.status, 402);
	assertApiError(r.body, 'insufficient_quota');
	assert.equal(r.body.error.message, 'Your credit balance is too low for this request: it needs up to $10.000001.');
	// Too large to hold at all.
	r = await admit({ model: m, prompt_tokens: 1000000000 });
	assert.equal(r.status, 400);
	assertApiError(r.body, 'invalid_request');
	assert.equal(await s.sql('SELECT count(*) FROM holds'), holds0, 'no hold was made');
	assert.equal(await s.sql('SELECT count(*) FROM requests'), reqs0, 'no request row');
	assert.equal((await balances(consumer)).held.micro_usd, 0);
	for (const [over, param] of [[{ model: undefined }, 'model'], [{ model: 5 }, 'model'], [{ endpoint: 'images' }, 'endpoint'],
		[{ endpoint: undefined }, 'endpoint'], [{ stream: 'yes' }, 'stream'], [{ max_tokens: 0 }, 'max_tokens'],
		[{ max_tokens: 1.5 }, 'max_tokens'], [{ prompt_tokens: undefined }, 'prompt_tokens'], [{ prompt_tokens: -1 }, 'prompt_tokens'],
		[{ client_ip: 7 }, 'client_ip'], [{ max_price: 5 }, 'max_price'], [{ max_price: { prompt: 'x' } }, 'max_price.prompt'],
		[{ max_price: { completion: -1 } }, 'max_price.completion'], [{ key: 12 }, 'key']]) {
		r = await admit({ model: m, ...over });
		assert.equal(r.status, 400, JSON.stringify(over));
		assertApiError(r.body, 'invalid_request');
		assert.equal(r.body.error.param, param, JSON.stringify(over));
	}
	r = await internal('admit', null, { raw: '{"model":' });
	assert.equal(r.status, 400);
	assertApiError(r.body, 'invalid_json');
	r = await internal('admit', {}, { secret: 'wrong' });
	assert.equal(r.status, 403);
	assert.equal(await s.sql('SELECT count(*) FROM holds'), holds0);
});

test('settle bills exactly: 1,234 in and 567 out at 100,000/300,000 → 294 charged, 278 earned, 16 fee', async () => {
	const m = modelId('exact');
	const node = await addNode(supplier, { models: [[m, 100000, 300000]] });
	const c0 = await balances(consumer), s0 = await balances(supplier), rev0 = await revenue();
	const a = await admit({ model: m, prompt_tokens: 5000, max_tokens: 1000 });
	// Hold: 5000 × 100,000 + 1000 × 300,000 = 800,000,000 → 800.
	assert.equal(await s.sql(`SELECT amount FROM holds WHERE id = ${a.body.hold_id}`), '800');
	const r = await settle({ hold_id: a.body.hold_id, node_id: node.id, tokens_in: 1234, tokens_out: 567,
		counted_in: 5000, counted_out: 560, ttft_ms: 84, duration_ms: 1520 });
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.body, { hold_id: a.body.hold_id, charged: 294, earning: 278, replayed: false });
	const c1 = await balances(consumer), s1 = await balances(supplier);
	assert.equal(c0.credit.micro_usd - c1.credit.micro_usd, 294);
	assert.equal(c1.held.micro_usd, 0);
	assert.equal(s1.earnings.micro_usd - s0.earnings.micro_usd, 278);
	assert.equal(await revenue() - rev0, 16);
	const transfers = await s.sql(`SELECT string_agg(t.kind || ':' || t.amount || ':' || d.kind || '>' || c.kind, ',' ORDER BY t.amount)
		FROM transfers t JOIN ledger_accounts d ON d.id = t.debit_account JOIN ledger_accounts c ON c.id = t.credit_account
		WHERE t.hold_id = ${a.body.hold_id}`);
	assert.equal(transfers, 'fee:16:credit>revenue,usage:278:credit>earnings');
	assert.equal(await s.sql(`SELECT status || ' ' || charge || ' ' || earning || ' ' || supplier_user_id FROM holds WHERE id = ${a.body.hold_id}`),
		`posted 294 278 ${supplier.id}`);
	const row = JSON.parse(await s.sql(`SELECT row_to_json(r)::text FROM requests r WHERE hold_id = ${a.body.hold_id}`));
	assert.equal(row.status, 'ok');
	assert.equal(row.outcome, 'success');
	assert.equal(row.node_id, node.id);
	assert.equal(row.supply_type, 'cloud');
	assert.equal(row.tokens_in, 1234);
	assert.equal(row.tokens_out, 567);
	assert.equal(row.reported_in, 1234);
	assert.equal(row.reported_out, 567);
	assert.equal(row.counted_in, 5000);
	assert.equal(row.counted_out, 560);
	assert.equal(row.ttft_ms, 84);
	assert.equal(row.duration_ms, 1520);
	assert.equal(row.cost, 294);
	assert.equal(row.earning, 278);
	assert.ok(row.finished_at);
	// Again: the first result, replayed, and no money moves.
	const n0 = await s.sql('SELECT count(*) FROM transfers');
	const again = await settle({ hold_id: a.body.hold_id, node_id: node.id, tokens_in: 9, tokens_out: 9, status: 'failed' });
	assert.deepEqual(again.body, { hold_id: a.body.hold_id, charged: 294, earning: 278, replayed: true });
	assert.equal(await s.sql('SELECT count(*) FROM transfers'), n0);
	assert.deepEqual(await balances(consumer), c1);
	assert.equal(await s.sql(`SELECT status FROM requests WHERE hold_id = ${a.body.hold_id}`), 'ok', 'unchanged');
});

test('settle caps input at the prompt estimate and output at max_tokens; counts stand in for usage', async () => {
	const m = modelId('caps');
	const node = await addNode(supplier, { models: [[m, 100000, 300000]] });
	// Reported 9,999 in and 9,999 out are billed as 1,000 and 100 (the caps): 1000 × 100,000 + 100 × 300,000 = 130,000,000 → 130.
	let a = await admit({ model: m, prompt_tokens: 1000, max_tokens: 100 });
	assert.equal(await s.sql(`SELECT amount FROM holds WHERE id = ${a.body.hold_id}`), '130');
	let r = await settle({ hold_id: a.body.hold_id, node_id: node.id, tokens_in: 9999, tokens_out: 9999 });
	assert.deepEqual(r.body, { hold_id: a.body.hold_id, charged: 130, earning: 123, replayed: false });
	assert.equal(await s.sql(`SELECT tokens_in || ' ' || tokens_out || ' ' || reported_in FROM requests WHERE hold_id = ${a.body.hold_id}`), '1000 100 9999');
	// No reported usage: the relay's counts are billed: 300 × 100,000 + 20 × 300,000 = 36,000,000 → 36; 34.2 → 34.
	a = await admit({ model: m, prompt_tokens: 1000, max_tokens: 100 });
	r = await settle({ hold_id: a.body.hold_id, node_id: node.id, status: 'cancelled', outcome: 'neutral', counted_in: 300, counted_out: 20 });
	assert.deepEqual(r.body, { hold_id: a.body.hold_id, charged: 36, earning: 34, replayed: false });
	assert.equal(await s.sql(`SELECT tokens_in || ' ' || tokens_out || ' ' || coalesce(reported_in::text, 'null') || ' ' || status FROM requests WHERE hold_id = ${a.body.hold_id}`), '300 20 null cancelled');
	// A failure after the first byte still bills what was served.
	a = await admit({ model: m, prompt_tokens: 1000, max_tokens: 100 });
	r = await settle({ hold_id: a.body.hold_id, node_id: node.id, status: 'failed', outcome: 'failure', tokens_in: 5, tokens_out: 1 });
	// 5 × 100,000 + 1 × 300,000 = 800,000 → 0.8 → 1 charged, floor(0.76) = 0 earned.
	assert.deepEqual(r.body, { hold_id: a.body.hold_id, charged: 1, earning: 0, replayed: false });
});

test('settle: rejected and unserved void the hold; no money moves', async () => {
	const m = modelId('void');
	const node = await addNode(supplier, { models: [[m, 100000, 300000]] });
	const c0 = await balances(consumer);
	for (const [status, node_id] of [['rejected', node.id], ['unserved', null]]) {
		const a = await admit({ model: m });
		assert.ok((await balances(consumer)).held.micro_usd > 0);
		const r = await settle({ hold_id: a.body.hold_id, node_id, status, tokens_in: 10, tokens_out: 10, outcome: 'neutral' });
		assert.deepEqual(r.body, { hold_id: a.body.hold_id, charged: 0, earning: 0, replayed: false });
		assert.equal(await s.sql(`SELECT status FROM holds WHERE id = ${a.body.hold_id}`), 'voided');
		assert.equal(await s.sql(`SELECT count(*) FROM transfers WHERE hold_id = ${a.body.hold_id}`), '0');
		assert.equal(await s.sql(`SELECT status || ' ' || cost || ' ' || tokens_in FROM requests WHERE hold_id = ${a.body.hold_id}`), `${status} 0 0`);
		const again = await settle({ hold_id: a.body.hold_id, status: 'ok', node_id: node.id, tokens_in: 1, tokens_out: 1 });
		assert.equal(again.body.replayed, true);
		assert.equal(again.body.charged, 0);
	}
	assert.deepEqual(await balances(consumer), c0);
	// A hold the reaper voided first bills nothing, and the row still completes.
	const a = await admit({ model: m });
	await s.sql(`UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = ${a.body.hold_id}`);
	await s.ctl('holds', 'reap');
	assert.equal(await s.sql(`SELECT status FROM holds WHERE id = ${a.body.hold_id}`), 'voided');
	const r = await settle({ hold_id: a.body.hold_id, node_id: node.id, tokens_in: 1, tokens_out: 1 });
	assert.deepEqual(r.body, { hold_id: a.body.hold_id, charged: 0, earning: 0, replayed: false });
	assert.equal(await s.sql(`SELECT status || ' ' || cost FROM requests WHERE hold_id = ${a.body.hold_id}`), 'ok 0');
	assert.deepEqual(await balances(consumer), c0);
});

test('settle: 404 for an unknown hold; 400 naming the field', async () => {
	const m = modelId('settle-bad');
	const node = await addNode(supplier, { models: [[m, 1, 1]] });
	const other = await addNode(supplier, { models: [[modelId('elsewhere'), 1, 1]] });
	let r = await settle({ hold_id: 999999999 });
	assert.equal(r.status, 404);
	assertApiError(r.body, 'not_found');
	const a = await admit({ model: m });
	for (const [over, param] of [[{ hold_id: undefined }, 'hold_id'], [{ hold_id: 0 }, 'hold_id'], [{ hold_id: 'x' }, 'hold_id'],
		[{ status: 'done' }, 'status'], [{ status: undefined }, 'status'], [{ outcome: 'great' }, 'outcome'],
		[{ tokens_in: -1 }, 'tokens_in'], [{ tokens_out: 'x' }, 'tokens_out'], [{ counted_in: 1.5 }, 'counted_in'],
		[{ counted_out: -2 }, 'counted_out'], [{ ttft_ms: -1 }, 'ttft_ms'], [{ duration_ms: 'long' }, 'duration_ms'],
		[{ node_id: 'x' }, 'node_id'], [{ node_id: other.id }, 'node_id'], [{ node_id: null, status: 'ok' }, 'node_id']]) {
		r = await settle({ hold_id: a.body.hold_id, node_id: node.id, ...over });
		assert.equal(r.status, 400, JSON.stringify(over));
		assertApiError(r.body, 'invalid_request');
		assert.equal(r.body.error.param, param, JSON.stringify(over));
	}
	r = await internal('settle', null, { raw: 'nope' });
	assert.equal(r.status, 400);
	assertApiError(r.body, 'invalid_json');
	assert.equal(await s.sql(`SELECT status FROM requests WHERE hold_id = ${a.body.hold_id}`), 'admitted', 'nothing settled');
	r = await settle({ hold_id: a.body.hold_id, node_id: node.id, tokens_in: 1, tokens_out: 1 });
	assert.equal(r.status, 200);
});

test('health is the success share over 14 days; neutral outcomes do not count', async () => {
	const m = modelId('health');
	const node = await addNode(supplier, { models: [[m, 1, 1]] });
	for (const outcome of ['success', 'failure', 'failure', 'failure', 'neutral']) {
		const a = await admit({ model: m, prompt_tokens: 1, max_tokens: 1 });
		await settle({ hold_id: a.body.hold_id, node_id: node.id, status: outcome === 'success' ? 'ok' : 'failed', outcome, tokens_in: 1, tokens_out: 1 });
	}
	let a = await admit({ model: m });
	assert.equal(a.body.candidates[0].health, 250);
	await settle({ hold_id: a.body.hold_id, status: 'unserved' });
	// Settlement counted them in the node's row for today (UTC).
	assert.equal(await s.sql(`SELECT day = (now() AT TIME ZONE 'UTC')::date, ok, bad FROM node_outcomes WHERE node_id = ${node.id}`), 't|1|3');
	// Outcomes of 13 days ago still count; older ones are forgotten.
	await s.sql(`UPDATE node_outcomes SET day = day - 13 WHERE node_id = ${node.id}`);
	a = await admit({ model: m });
	assert.equal(a.body.candidates[0].health, 250);
	await settle({ hold_id: a.body.hold_id, status: 'unserved' });
	await s.sql(`UPDATE node_outcomes SET day = day - 1 WHERE node_id = ${node.id}`);
	a = await admit({ model: m });
	assert.equal(a.body.candidates[0].health, 1000);
	await settle({ hold_id: a.body.hold_id, status: 'unserved' });
});

test('health comes from one row a node a day, not from counting every request again at each admit', async () => {
	const m = modelId('history');
	const node = await addNode(supplier, { models: [[m, 1, 1]] });
	// 400 days of traffic, 1 in 4 a failure, as settlement leaves it.
	await s.sql(`INSERT INTO node_outcomes (node_id, day, ok, bad) SELECT ${node.id},
		(now() AT TIME ZONE 'UTC')::date - d, 75, 25 FROM generate_series(0, 399) d`);
	const a = await admit({ model: m });
	assert.equal(a.body.candidates[0].health, 750, 'only the last 14 days count');
	await settle({ hold_id: a.body.hold_id, status: 'unserved' });
});

test('capacity ramps from 25% of declared concurrency to 100% over 7 days, at least 1', async () => {
	const m = modelId('ramp');
	const eight = await addNode(supplier, { concurrency: 8, models: [[m, 1, 1]] });
	const one = await addNode(supplier, { concurrency: 1, models: [[m, 1, 1]] });
	const cap = async () => {
		const a = await admit({ model: m });
		await settle({ hold_id: a.body.hold_id, status: 'unserved' });
		return Object.fromEntries(a.body.candidates.map((c) => [c.node_id, c.capacity]));
	};
	assert.deepEqual(await cap(), { [eight.id]: 2, [one.id]: 1 });
	// Half way: 25% + 75% / 2 = 62.5% of 8 = 5.
	await s.sql(`UPDATE nodes SET created_at = now() - interval '84 hours' WHERE id = ${eight.id}`);
	assert.equal((await cap())[eight.id], 5);
	await s.sql(`UPDATE nodes SET created_at = now() - interval '8 days' WHERE id = ${eight.id}`);
	assert.equal((await cap())[eight.id], 8);
});

test('a sealed token moved to another node does not open: that candidate is skipped', async () => {
	const m = modelId('moved');
	const a = await addNode(supplier, { models: [[m, 1, 1]], token: 'sk-token-a' });
	const b = await addNode(supplier, { models: [[m, 1, 1]], token: 'sk-token-b' });
	let r = await admit({ model: m });
	assert.deepEqual(r.body.candidates.map((c) => c.api_token).sort(), ['sk-token-a', 'sk-token-b']);
	await settle({ hold_id: r.body.hold_id, status: 'unserved' });
	await s.sql(`UPDATE nodes SET api_token_sealed = (SELECT api_token_sealed FROM nodes WHERE id = ${a.id}) WHERE id = ${b.id}`);
	r = await admit({ model: m });
	assert.equal(r.status, 200);
	assert.deepEqual(r.body.candidates.map((c) => [c.node_id, c.api_token]), [[a.id, 'sk-token-a']]);
	await settle({ hold_id: r.body.hold_id, status: 'unserved' });
	await s.sql(`UPDATE nodes SET status = 'suspended' WHERE id = ${a.id}`);
	r = await admit({ model: m });
	assert.equal(r.status, 503, 'no usable candidate is left');
	assertApiError(r.body, 'no_capacity');
});

test('usage: consumer and supplier views, paged newest first, filtered; the export has the requests', async () => {
	const cons = await user('usage-consumer'), sup = await user('usage-supplier');
	const m1 = modelId('use1'), m2 = modelId('use2');
	const n1 = await addNode(sup, { models: [[m1, 100000, 300000], [m2, 100000, 300000]] });
	const made = [];
	for (const m of [m1, m2, m1]) {
		const a = await admit({ key: cons.key, model: m, prompt_tokens: 100, max_tokens: 10 });
		await settle({ hold_id: a.body.hold_id, node_id: n1.id, tokens_in: 100, tokens_out: 10, ttft_ms: 5, duration_ms: 50 });
		made.push(a.body.task_id);
	}
	const ids = (await s.sql(`SELECT string_agg(id::text, ',' ORDER BY id) FROM requests WHERE user_id = ${cons.id}`)).split(',').map(Number);
	await s.sql(`UPDATE requests SET created_at = '2026-01-01T00:00:00Z' WHERE id = ${ids[0]}`);
	await s.sql(`UPDATE requests SET created_at = '2026-01-02T00:00:00Z' WHERE id = ${ids[1]}`);
	await s.sql(`UPDATE requests SET created_at = '2026-01-03T00:00:00Z' WHERE id = ${ids[2]}`);
	const get = async (c, path, auth) => {
		const res = auth ? await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${auth}` } }) : await c.get(path);
		return { status: res.status, body: JSON.parse(auth ? await res.text() : res.text_) };
	};
	let r = await get(cons.c, '/v1/me/usage');
	assert.equal(r.status, 200);
	assert.equal(r.body.object, 'list');
	assert.deepEqual(r.body.data.map((x) => x.task_id), [...made].reverse());
	assert.equal(r.body.has_more, false);
	assert.equal(r.body.next_before, null);
	const row = r.body.data[0];
	assert.deepEqual(Object.keys(row).sort(), ['cost', 'created_at', 'duration_ms', 'endpoint', 'finished_at', 'id', 'model', 'node_id',
		'status', 'stream', 'supply_type', 'task_id', 'tokens_in', 'tokens_out', 'ttft_ms'].sort());
	// 100 × 100,000 + 10 × 300,000 = 13,000,000 → 13.
	assert.deepEqual(row.cost, { micro_usd: 13, usd: '0.000013' });
	assert.equal(row.created_at, '2026-01-03T00:00:00Z');
	assert.equal(row.node_id, n1.id);
	assert.equal(row.supply_type, 'cloud');
	assert.equal(row.endpoint, 'chat');
	assert.equal(row.tokens_in, 100);
	assert.equal(row.tokens_out, 10);
	assert.equal(row.ttft_ms, 5);
	assert.equal(row.duration_ms, 50);
	assert.equal(row.status, 'ok');
	// With the key too; paging by id.
	r = await get(null, '/v1/me/usage?limit=2', cons.key);
	assert.equal(r.body.data.length, 2);
	assert.equal(r.body.has_more, true);
	assert.equal(r.body.next_before, ids[1]);
	r = await get(null, `/v1/me/usage?limit=2&before=${r.body.next_before}`, cons.key);
	assert.deepEqual(r.body.data.map((x) => x.id), [ids[0]]);
	assert.equal(r.body.has_more, false);
	r = await get(cons.c, `/v1/me/usage?model=${encodeURIComponent(m1)}`);
	assert.deepEqual(r.body.data.map((x) => x.id), [ids[2], ids[0]]);
	r = await get(cons.c, '/v1/me/usage?since=2026-01-02T00:00:00Z');
	assert.deepEqual(r.body.data.map((x) => x.id), [ids[2], ids[1]], 'since is inclusive');
	r = await get(cons.c, '/v1/me/usage?until=2026-01-02T00:00:00Z');
	assert.deepEqual(r.body.data.map((x) => x.id), [ids[0]], 'until is exclusive');
	r = await get(cons.c, `/v1/me/usage?since=${encodeURIComponent('2026-01-02T08:00:00+09:00')}&until=2026-01-02t00:00:01.5z`);
	assert.deepEqual(r.body.data.map((x) => x.id), [ids[1]], 'offsets, fractions and lower case');
	for (const q of ['since=yesterday', 'since=2026-02-30T00:00:00Z', 'until=2026-01-01', 'until=2026-01-01T25:00:00Z',
		'since=2026-01-01T00:00:00', 'limit=0', 'limit=201', 'before=x', 'model=a%20b']) {
		r = await get(cons.c, `/v1/me/usage?${q}`);
		assert.equal(r.status, 400, q);
		assertApiError(r.body, 'invalid_request');
		assert.equal(r.body.error.param, q.split('=')[0], q);
	}
	// The supplier sees what its nodes served: earnings, never the consumer.
	r = await get(sup.c, '/v1/supplier/usage');
	assert.equal(r.status, 200);
	assert.deepEqual(r.body.data.map((x) => x.id), [...ids].reverse());
	assert.deepEqual(r.body.data[0].earning, { micro_usd: 12, usd: '0.000012' });
	assert.equal(r.body.data[0].cost, undefined);
	assert.doesNotMatch(JSON.stringify(r.body), /user_id|api_key|email|client_ip|hold/, 'no consumer identity');
	r = await get(null, `/v1/supplier/usage?limit=1&model=${encodeURIComponent(m2)}`, sup.key);
	assert.deepEqual(r.body.data.map((x) => x.id), [ids[1]]);
	assert.deepEqual((await get(cons.c, '/v1/supplier/usage')).body.data, [], 'the consumer served nothing');
	assert.deepEqual((await get(sup.c, '/v1/me/usage')).body.data, [], 'the supplier requested nothing');
	assert.equal((await fetch(`${s.url}/v1/me/usage`)).status, 401);
	// The export carries the consumer's requests.
	const res = await cons.c.get('/v1/me/export');
	const doc = JSON.parse(res.text_);
	assert.deepEqual(doc.requests.map((x) => x.task_id), [...made].reverse());
	assert.equal(doc.requests[0].cost.micro_usd, 13);
	assert.doesNotMatch(res.text_, /203\.0\.113\.9|sk-node-token/);
});
