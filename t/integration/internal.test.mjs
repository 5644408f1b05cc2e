// internal.test.mjs: the relay's internal API in the app (docs/internal.md),
// one request at a time: settlement on a lease billed exact to the micro-USD
// (caps, counts standing in for usage, replays, requests that move no money),
// the candidates' health and ramp and a token that does not open, and the
// usage views built from the request rows. lease.test.mjs has leases and
// whole batches; caches.test.mjs the candidates' shape and the change feed.
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
let tseq = 0;
const taskId = () => `t_${String(process.pid).padStart(8, '0')}${String(++tseq).padStart(8, '0')}InTeRnAl`;

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

// POST to the internal API; resolves to { status, body, headers, text }.
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

// A lease on u's key of want micro-USD, as the relay asks for one.
async function lease(u, want) {
	const r = await internal('lease', { key: u.key, client_ip: '203.0.113.9', want });
	assert.equal(r.status, 200, r.text);
	return r.body;
}

// One finished request on lease l served by node (null: none), as the relay reports it.
const req = (l, node, m, over = {}) => ({
	request_id: taskId(), lease_id: l.lease_id, model: m, endpoint: 'chat', stream: false,
	prompt_tokens: 1000, max_tokens: 100, reserved: 1000000, node_id: node?.id ?? null,
	price_in: node ? 100000 : undefined, price_out: node ? 300000 : undefined, status: 'ok',
	tokens_in: null, tokens_out: null, counted_in: 0, counted_out: 0, ttft_ms: 84, duration_ms: 1520,
	outcome: 'success', client_ip: '203.0.113.9', ...over,
});

// Settle a batch (and close leases); resolves to the answer, checked to be a 200.
async function settle(requests, close = []) {
	const r = await internal('settle', { requests, close });
	assert.equal(r.status, 200, r.text);
	return r.body;
}

// Settle one request; resolves to its result.
const settleOne = async (q) => (await settle([q])).settled[0];

// The request row of q, as JSON.
const row = async (q) => JSON.parse(await s.sql(`SELECT row_to_json(r)::text FROM requests r WHERE task_id = '${q.request_id}'`));

// The model's candidates, by node id.
async function candidates(m) {
	const r = await internal('candidates', { model: m });
	assert.equal(r.status, 200, r.text);
	return Object.fromEntries(r.body.candidates.map((c) => [c.node_id, c]));
}

async function balances(u) {
	return JSON.parse((await u.c.get('/v1/me')).text_).balances;
}

const revenue = async () => Number(await s.sql("SELECT balance FROM ledger_accounts WHERE kind = 'revenue'"));

test('settle bills exactly: 1,234 in and 567 out at 100,000/300,000 → 294 charged, 278 earned, 16 fee', async () => {
	const m = modelId('exact');
	const node = await addNode(supplier, { models: [[m, 100000, 300000]] });
	// The relay's worst case: 5000 × 100,000 + 1000 × 300,000 = 800,000,000 → 800.
	const l = await lease(consumer, 800);
	const c0 = await balances(consumer), s0 = await balances(supplier), rev0 = await revenue();
	const q = req(l, node, m, { prompt_tokens: 5000, max_tokens: 1000, reserved: 800, tokens_in: 1234, tokens_out: 567,
		counted_in: 5000, counted_out: 560, ttft_ms: 84, duration_ms: 1520 });
	assert.deepEqual(await settle([q]), { settled: [{ request_id: q.request_id, charged: 294, earning: 278, replayed: false }], closed: [] });
	const c1 = await balances(consumer), s1 = await balances(supplier);
	assert.equal(c0.credit.micro_usd - c1.credit.micro_usd, 294);
	assert.equal(c0.held.micro_usd - c1.held.micro_usd, 294, 'drawn from the lease\'s hold');
	assert.equal(s1.earnings.micro_usd - s0.earnings.micro_usd, 278);
	assert.equal(await revenue() - rev0, 16);
	const transfers = await s.sql(`SELECT string_agg(t.kind || ':' || t.amount || ':' || d.kind || '>' || c.kind, ',' ORDER BY t.amount)
		FROM transfers t JOIN ledger_accounts d ON d.id = t.debit_account JOIN ledger_accounts c ON c.id = t.credit_account
		WHERE t.hold_id = ${l.hold_id}`);
	assert.equal(transfers, 'fee:16:credit>revenue,usage:278:credit>earnings');
	assert.equal(await s.sql(`SELECT status || ' ' || amount || ' ' || drawn FROM holds WHERE id = ${l.hold_id}`), 'held 800 294');
	const r = await row(q);
	assert.equal(r.lease_id, l.lease_id);
	assert.equal(r.hold_id, null);
	assert.equal(r.user_id, consumer.id);
	assert.equal(r.api_key_id, consumer.keyId);
	assert.equal(r.status, 'ok');
	assert.equal(r.outcome, 'success');
	assert.equal(r.node_id, node.id);
	assert.equal(r.supply_type, 'cloud');
	assert.equal(r.endpoint, 'chat');
	assert.equal(r.stream, false);
	assert.equal(r.prompt_tokens, 5000);
	assert.equal(r.max_tokens, 1000);
	assert.equal(r.tokens_in, 1234);
	assert.equal(r.tokens_out, 567);
	assert.equal(r.reported_in, 1234);
	assert.equal(r.reported_out, 567);
	assert.equal(r.counted_in, 5000);
	assert.equal(r.counted_out, 560);
	assert.equal(r.ttft_ms, 84);
	assert.equal(r.duration_ms, 1520);
	assert.equal(r.cost, 294);
	assert.equal(r.earning, 278);
	assert.ok(r.finished_at);
	// Again, saying something else: the first result, replayed, and no money moves.
	const n0 = await s.sql('SELECT count(*) FROM transfers');
	const again = await settleOne({ ...q, tokens_in: 9, tokens_out: 9, status: 'failed', outcome: 'failure' });
	assert.deepEqual(again, { request_id: q.request_id, charged: 294, earning: 278, replayed: true });
	assert.equal(await s.sql('SELECT count(*) FROM transfers'), n0);
	assert.deepEqual(await balances(consumer), c1);
	assert.equal((await row(q)).status, 'ok', 'unchanged');
	assert.equal(await s.sql(`SELECT ok || ' ' || bad FROM node_outcomes WHERE node_id = ${node.id}`), '1 0', 'counted once');
	// Closing the lease releases the rest.
	await settle([], [l.lease_id]);
	assert.equal((await balances(consumer)).held.micro_usd, c0.held.micro_usd - 800);
});

test('settle bills a report above the caps or the bytes forwarded at the relay\'s counts; counts stand in for usage, capped', async () => {
	const m = modelId('caps');
	const node = await addNode(supplier, { models: [[m, 100000, 300000]] });
	const l = await lease(consumer, 1000);
	// Reported 9,999 in and 9,999 out are above the caps (1,000 and 100): no count that could be true, so the
	// relay's are billed: 300 × 100,000 + 20 × 300,000 = 36,000,000 → 36; 34.2 → 34. The reports stay on the row.
	let q = req(l, node, m, { prompt_tokens: 1000, max_tokens: 100, reserved: 130, tokens_in: 9999, tokens_out: 9999,
		counted_in: 300, counted_out: 20 });
	assert.deepEqual(await settleOne(q), { request_id: q.request_id, charged: 36, earning: 34, replayed: false });
	assert.equal(await s.sql(`SELECT tokens_in || ' ' || tokens_out || ' ' || reported_in || ' ' || reported_out FROM requests
		WHERE task_id = '${q.request_id}'`), '300 20 9999 9999');
	// 50 out reported for 10 bytes forwarded (at most 10 + 16 tokens): 5 × 100,000 + 20 × 300,000 = 6,500,000 → 6.5 → 7;
	// 26 reported is billed as reported: 0.5 + 7.8 = 8.3 → 8.
	q = req(l, node, m, { tokens_in: 5, tokens_out: 50, counted_out: 20, bytes_out: 10 });
	assert.equal((await settleOne(q)).charged, 7);
	q = req(l, node, m, { tokens_in: 5, tokens_out: 26, counted_out: 20, bytes_out: 10 });
	assert.equal((await settleOne(q)).charged, 8);
	// No reported usage: the relay's counts are billed: 300 × 100,000 + 20 × 300,000 = 36,000,000 → 36; 34.2 → 34.
	q = req(l, node, m, { status: 'cancelled', outcome: 'neutral', counted_in: 300, counted_out: 20 });
	assert.deepEqual(await settleOne(q), { request_id: q.request_id, charged: 36, earning: 34, replayed: false });
	assert.equal(await s.sql(`SELECT tokens_in || ' ' || tokens_out || ' ' || coalesce(reported_in::text, 'null') || ' ' || status
		FROM requests WHERE task_id = '${q.request_id}'`), '300 20 null cancelled');
	// Counts are capped too: 5,000 counted in, 500 out → 1,000 and 100 → 130.
	q = req(l, node, m, { counted_in: 5000, counted_out: 500 });
	assert.equal((await settleOne(q)).charged, 130);
	// A failure after the first byte still bills what was served:
	// 5 × 100,000 + 1 × 300,000 = 800,000 → 0.8 → 1 charged, floor(0.76) = 0 earned.
	q = req(l, node, m, { status: 'failed', outcome: 'failure', tokens_in: 5, tokens_out: 1 });
	assert.deepEqual(await settleOne(q), { request_id: q.request_id, charged: 1, earning: 0, replayed: false });
	assert.equal(await s.sql(`SELECT drawn FROM holds WHERE id = ${l.hold_id}`), String(36 + 7 + 8 + 36 + 130 + 1));
	await settle([], [l.lease_id]);
});

test('settle: rejected and unserved move no money; a replay of them still moves none', async () => {
	const m = modelId('void');
	const node = await addNode(supplier, { models: [[m, 100000, 300000]] });
	const c0 = await balances(consumer), rev0 = await revenue();
	const l = await lease(consumer, 1000);
	for (const [status, served] of [['rejected', node], ['unserved', null]]) {
		const q = req(l, served, m, { status, tokens_in: 10, tokens_out: 10, counted_in: 10, counted_out: 10, outcome: 'neutral' });
		assert.deepEqual(await settleOne(q), { request_id: q.request_id, charged: 0, earning: 0, replayed: false });
		assert.equal(await s.sql(`SELECT status || ' ' || cost || ' ' || earning || ' ' || tokens_in || ' ' || tokens_out
			FROM requests WHERE task_id = '${q.request_id}'`), `${status} 0 0 0 0`);
		const again = await settleOne({ ...q, status: 'ok', node_id: node.id, price_in: 100000, price_out: 300000, tokens_in: 1, tokens_out: 1 });
		assert.deepEqual(again, { request_id: q.request_id, charged: 0, earning: 0, replayed: true });
	}
	assert.equal(await s.sql(`SELECT count(*) FROM transfers WHERE hold_id = ${l.hold_id}`), '0');
	assert.equal(await s.sql(`SELECT status || ' ' || drawn FROM holds WHERE id = ${l.hold_id}`), 'held 0');
	assert.equal(await s.sql(`SELECT count(*) FROM node_outcomes WHERE node_id = ${node.id}`), '0', 'neutral counts nothing');
	await settle([], [l.lease_id]);
	assert.deepEqual(await balances(consumer), c0);
	assert.equal(await revenue(), rev0);
});

test('health is the success share over 14 days; neutral outcomes do not count', async () => {
	const m = modelId('health');
	const node = await addNode(supplier, { models: [[m, 1, 1]] });
	const l = await lease(consumer, 100);
	await settle(['success', 'failure', 'failure', 'failure', 'neutral'].map((outcome) => req(l, node, m, {
		status: outcome === 'success' ? 'ok' : 'failed', outcome, tokens_in: 1, tokens_out: 1, price_in: 1, price_out: 1 })), [l.lease_id]);
	assert.equal((await candidates(m))[node.id].health, 250);
	// Settlement counted them in the node's row for today (UTC).
	assert.equal(await s.sql(`SELECT day = (now() AT TIME ZONE 'UTC')::date, ok, bad FROM node_outcomes WHERE node_id = ${node.id}`), 't|1|3');
	// Outcomes of 13 days ago still count; older ones are forgotten.
	await s.sql(`UPDATE node_outcomes SET day = day - 13 WHERE node_id = ${node.id}`);
	assert.equal((await candidates(m))[node.id].health, 250);
	await s.sql(`UPDATE node_outcomes SET day = day - 1 WHERE node_id = ${node.id}`);
	assert.equal((await candidates(m))[node.id].health, 1000);
});

test('health comes from one row a node a day, not from counting every request again for each candidates list', async () => {
	const m = modelId('history');
	const node = await addNode(supplier, { models: [[m, 1, 1]] });
	// 400 days of traffic, 1 in 4 a failure, as settlement leaves it.
	await s.sql(`INSERT INTO node_outcomes (node_id, day, ok, bad) SELECT ${node.id},
		(now() AT TIME ZONE 'UTC')::date - d, 75, 25 FROM generate_series(0, 399) d`);
	assert.equal((await candidates(m))[node.id].health, 750, 'only the last 14 days count');
});

test('capacity ramps from 25% of declared concurrency to 100% over 7 days, at least 1', async () => {
	const m = modelId('ramp');
	const eight = await addNode(supplier, { concurrency: 8, models: [[m, 1, 1]] });
	const one = await addNode(supplier, { concurrency: 1, models: [[m, 1, 1]] });
	const cap = async () => Object.fromEntries(Object.values(await candidates(m)).map((c) => [c.node_id, c.capacity]));
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
	let r = await internal('candidates', { model: m });
	assert.deepEqual(r.body.candidates.map((c) => c.api_token).sort(), ['sk-token-a', 'sk-token-b']);
	await s.sql(`UPDATE nodes SET api_token_sealed = (SELECT api_token_sealed FROM nodes WHERE id = ${a.id}) WHERE id = ${b.id}`);
	r = await internal('candidates', { model: m });
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.body.candidates.map((c) => [c.node_id, c.api_token]), [[a.id, 'sk-token-a']]);
	// Only b is left, and its token does not open: an empty list, which the relay answers 503 no_capacity.
	await s.sql(`UPDATE nodes SET status = 'suspended' WHERE id = ${a.id}`);
	r = await internal('candidates', { model: m });
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.body.candidates, []);
	const u = await user('moved');
	const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST',
		headers: { authorization: `Bearer ${u.key}`, 'content-type': 'application/json' },
		body: JSON.stringify({ model: m, max_tokens: 1, messages: [{ role: 'user', content: 'x' }] }) });
	assert.equal(res.status, 503, 'no usable candidate is left');
	assertApiError(await res.json(), 'no_capacity');
});

test('usage: consumer and supplier views, paged newest first, filtered; the export has the requests', async () => {
	const cons = await user('usage-consumer'), sup = await user('usage-supplier');
	const m1 = modelId('use1'), m2 = modelId('use2');
	const n1 = await addNode(sup, { models: [[m1, 100000, 300000], [m2, 100000, 300000]] });
	const l = await lease(cons, 1000);
	const batch = [m1, m2, m1].map((m) => req(l, n1, m, { prompt_tokens: 100, max_tokens: 10, tokens_in: 100, tokens_out: 10,
		ttft_ms: 5, duration_ms: 50 }));
	await settle(batch, [l.lease_id]);
	const made = batch.map((q) => q.request_id);
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
	const res = await cons.c.get(JSON.parse((await cons.c.get('/v1/me/export')).text_).url);
	const doc = JSON.parse(res.text_);
	assert.deepEqual(doc.requests.map((x) => x.task_id), [...made].reverse());
	assert.equal(doc.requests[0].cost.micro_usd, 13);
	assert.doesNotMatch(res.text_, /203\.0\.113\.9|sk-node-token/);
});
