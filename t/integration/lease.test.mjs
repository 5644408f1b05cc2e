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

test('lease: retiring the key\'s last lease in the same call gives the new one what it held beyond keep', async () => {
	const u = await user('retire');
	const first = (await internal('lease', { key: u.key, want: 1000000 })).body;
	assert.equal(first.budget, 200000, 'the config caps it');
	// All 1,000,000 held by five leases; the last is asked for with the first retired.
	for (let i = 0; i < 4; i++) assert.equal((await internal('lease', { key: u.key })).status, 200);
	assert.equal((await internal('lease', { key: u.key, want: 1 })).status, 402);
	let r = await internal('lease', { key: u.key, want: 150000, retire: { lease_id: first.lease_id, keep: 30000 } });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.body.budget, 150000, '170,000 of the first came back in the same transaction');
	assert.equal(await s.sql(`SELECT amount FROM holds WHERE id = ${first.hold_id}`), '30000');
	// Another key's lease is not this key's to retire; bad fields are 400s.
	const other = await user('retire-other');
	const theirs = (await internal('lease', { key: other.key, want: 100 })).body;
	r = await internal('lease', { key: u.key, want: 1, retire: { lease_id: theirs.lease_id, keep: 0 } });
	assert.equal(r.status, 200, r.text);
	assert.equal(await s.sql(`SELECT amount || ' ' || status FROM holds WHERE id = ${theirs.hold_id}`), '100 held');
	for (const [retire, param] of [[{ keep: 0 }, 'retire.lease_id'], [{ lease_id: 1, keep: -1 }, 'retire.keep']]) {
		r = await internal('lease', { key: u.key, retire });
		assert.equal(r.status, 400);
		assert.equal(r.body.error.param, param);
	}
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

// A batch element on lease l for node n (serving m at its prices), with overrides.
const req = (l, node, m, over = {}) => ({
	request_id: taskId(), lease_id: l, model: m, endpoint: 'chat', stream: true,
	prompt_tokens: 5000, max_tokens: 1000, reserved: 1000000, node_id: node.id,
	price_in: 100000, price_out: 300000, status: 'ok', tokens_in: null, tokens_out: null,
	counted_in: 0, counted_out: 0, ttft_ms: 84, duration_ms: 1520, outcome: 'success',
	client_ip: '203.0.113.9', ...over,
});
const settle = (requests, close) => internal('settle', close === undefined ? { requests } : { requests, close });
const holdTransfers = (hold) => s.sql(`SELECT coalesce(sum(amount), 0) FROM transfers WHERE hold_id = ${hold}`);

test('batch settle: each request its own row and exact split, drawn on its lease; a replay moves nothing', async () => {
	const u = await user('batch');
	const m = modelId('batch');
	const node = await addNode(supplier, [[m, 100000, 300000]]);
	const l = (await internal('lease', { key: u.key, want: 100000 })).body;
	const s0 = await balances(supplier), rev0 = await revenue();
	const batch = [
		// 1,234 × 100,000 + 567 × 300,000 = 293,500,000 → 294 (half up); floor(278.825) = 278.
		req(l.lease_id, node, m, { tokens_in: 1234, tokens_out: 567, counted_in: 5000, counted_out: 560 }),
		// No usage reported: the counts, capped: 300 × 100,000 + 20 × 300,000 → 36; 34.2 → 34.
		req(l.lease_id, node, m, { status: 'cancelled', outcome: 'neutral', counted_in: 300, counted_out: 20, max_tokens: 100 }),
		req(l.lease_id, { id: null }, m, { status: 'unserved', outcome: null, ttft_ms: null, price_in: undefined, price_out: undefined }),
		req(l.lease_id, node, m, { status: 'rejected', outcome: 'neutral', tokens_in: 10, tokens_out: 10 }),
		// A report above the prompt and max_tokens is no count: the relay's (1,000 and 100 → 130) are billed,
		// capped at reserved: 100, split at the fee: 95.
		req(l.lease_id, node, m, { tokens_in: 9999, tokens_out: 9999, counted_in: 1000, counted_out: 100, prompt_tokens: 1000,
			max_tokens: 100, reserved: 100, outcome: 'failure', status: 'failed' }),
		// The relay's prices of admission are billed: embeddings at 3 per 1M in: 999,999 → 1, and no output.
		req(l.lease_id, node, m, { endpoint: 'embeddings', max_tokens: 0, prompt_tokens: 333333, tokens_in: 333333, tokens_out: 50, price_in: 3, price_out: 7 }),
	];
	let r = await settle(batch);
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.body, { closed: [], settled: batch.map((b, i) => ({ request_id: b.request_id,
		charged: [294, 36, 0, 0, 100, 1][i], earning: [278, 34, 0, 0, 95, 0][i], replayed: false })) });
	assert.equal((await balances(u)).credit.micro_usd, 1000000 - 431);
	assert.equal((await balances(u)).held.micro_usd, 100000 - 431);
	assert.equal((await balances(supplier)).earnings.micro_usd - s0.earnings.micro_usd, 407);
	assert.equal(await revenue() - rev0, 24);
	assert.equal(await holdTransfers(l.hold_id), '431');
	assert.equal(await s.sql(`SELECT drawn || ' ' || status FROM holds WHERE id = ${l.hold_id}`), '431 held');
	const rows = JSON.parse(await s.sql(`SELECT json_agg(r ORDER BY id)::text FROM requests r WHERE lease_id = ${l.lease_id}`));
	assert.deepEqual(rows.map((x) => x.task_id), batch.map((b) => b.request_id));
	assert.deepEqual(rows.map((x) => [x.status, x.cost, x.earning, x.tokens_in, x.tokens_out]), [
		['ok', 294, 278, 1234, 567], ['cancelled', 36, 34, 300, 20], ['unserved', 0, 0, 0, 0],
		['rejected', 0, 0, 0, 0], ['failed', 100, 95, 1000, 100], ['ok', 1, 0, 333333, 0]]);
	const first = rows[0];
	assert.equal(first.hold_id, null);
	assert.equal(first.user_id, u.id);
	assert.equal(first.api_key_id, u.keyId);
	assert.equal(first.node_id, node.id);
	assert.equal(first.supply_type, 'cloud');
	assert.deepEqual([first.cand_nodes, first.cand_price_in, first.cand_price_out], [[node.id], [100000], [300000]]);
	assert.deepEqual([first.reported_in, first.reported_out, first.counted_in, first.counted_out, first.ttft_ms, first.duration_ms],
		[1234, 567, 5000, 560, 84, 1520]);
	assert.equal(first.model, m);
	assert.equal(first.stream, true);
	assert.match(first.client_ip_hash, /^k\d+:[0-9a-f]{64}$/);
	assert.ok(first.finished_at);
	assert.equal(rows[2].node_id, null);
	assert.deepEqual(rows[2].cand_nodes, []);
	assert.equal(rows[5].max_tokens, 0);
	assert.ok(!JSON.stringify(rows).includes('203.0.113.9'), 'never the raw address');
	// One success and one failure counted; neutral outcomes are not.
	assert.equal(await s.sql(`SELECT ok || ' ' || bad FROM node_outcomes WHERE node_id = ${node.id}`), '2 1');
	// The same batch again: the first answers, replayed, and nothing moves.
	const n0 = await count('transfers'), c1 = await balances(u);
	r = await settle(batch.map((b) => ({ ...b, tokens_in: 1, outcome: 'failure' })));
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.body.settled.map((x) => [x.charged, x.earning, x.replayed]),
		[[294, 278, true], [36, 34, true], [0, 0, true], [0, 0, true], [100, 95, true], [1, 0, true]]);
	assert.equal(await count('transfers'), n0);
	assert.deepEqual(await balances(u), c1);
	assert.equal(await s.sql(`SELECT ok || ' ' || bad FROM node_outcomes WHERE node_id = ${node.id}`), '2 1', 'counted once');
	// A replay beside a new request: only the new one moves money. Then close the lease: the rest is released.
	const fresh = req(l.lease_id, node, m, { tokens_in: 100, tokens_out: 10 });
	r = await settle([batch[0], fresh], [l.lease_id]);
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.body, { closed: [l.lease_id], settled: [
		{ request_id: batch[0].request_id, charged: 294, earning: 278, replayed: true },
		{ request_id: fresh.request_id, charged: 13, earning: 12, replayed: false }] });
	assert.equal(await s.sql(`SELECT status || ' ' || drawn FROM holds WHERE id = ${l.hold_id}`), 'voided 444');
	assert.equal(await s.sql(`SELECT closed_at IS NOT NULL FROM leases WHERE id = ${l.lease_id}`), 't');
	const c2 = await balances(u);
	assert.deepEqual([c2.credit.micro_usd, c2.held.micro_usd, c2.spendable.micro_usd], [1000000 - 444, 0, 1000000 - 444]);
	// A closed lease draws nothing; the request row is still written, charged 0.
	const late = req(l.lease_id, node, m, { tokens_in: 100, tokens_out: 10 });
	r = await settle([late], [l.lease_id]);
	assert.deepEqual(r.body, { closed: [l.lease_id], settled: [{ request_id: late.request_id, charged: 0, earning: 0, replayed: false }] });
	assert.equal(await s.sql(`SELECT status || ' ' || cost || ' ' || tokens_in FROM requests WHERE task_id = '${late.request_id}'`), 'ok 0 100');
	assert.equal(await holdTransfers(l.hold_id), '444');
});

test('batch settle: never past the lease hold; a reaped lease draws nothing; concurrent replays bill once', async () => {
	const u = await user('cap');
	const m = modelId('cap');
	const node = await addNode(supplier, [[m, 100000, 300000]]);
	const s0 = await balances(supplier), rev0 = await revenue();
	let l = (await internal('lease', { key: u.key, want: 50 })).body;
	assert.equal(l.budget, 50);
	// Each wants 300 × 100,000 = 30 (28 earned): the second gets the last 20 (28 × 20/30 → 18 earned), the third nothing.
	const three = [1, 2, 3].map(() => req(l.lease_id, node, m, { tokens_in: 300, tokens_out: 0 }));
	let r = await settle(three);
	assert.deepEqual(r.body.settled.map((x) => [x.charged, x.earning]), [[30, 28], [20, 18], [0, 0]]);
	// Each row says what was drawn, not what was priced.
	assert.equal(await s.sql(`SELECT string_agg(cost || '/' || earning, ' ' ORDER BY id) FROM requests
		WHERE task_id IN (${three.map((x) => `'${x.request_id}'`).join(', ')})`), '30/28 20/18 0/0');
	assert.equal(await s.sql(`SELECT drawn || ' ' || status FROM holds WHERE id = ${l.hold_id}`), '50 held');
	assert.equal((await balances(u)).credit.micro_usd, 1000000 - 50);
	assert.equal((await balances(supplier)).earnings.micro_usd - s0.earnings.micro_usd, 46);
	assert.equal(await revenue() - rev0, 4);
	r = await settle([], [l.lease_id]);
	assert.deepEqual(r.body, { settled: [], closed: [l.lease_id] });
	assert.equal((await balances(u)).held.micro_usd, 0);
	// A lease the reaper voided (past lease_ttl + hold_ttl) bills nothing; the row is written.
	l = (await internal('lease', { key: u.key, want: 1000 })).body;
	const early = req(l.lease_id, node, m, { tokens_in: 100, tokens_out: 0 });
	assert.equal((await settle([early])).body.settled[0].charged, 10);
	await s.sql(`UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = ${l.hold_id}`);
	await s.ctl('holds', 'reap');
	assert.equal(await s.sql(`SELECT status || ' ' || drawn FROM holds WHERE id = ${l.hold_id}`), 'voided 10');
	const late = req(l.lease_id, node, m, { tokens_in: 100, tokens_out: 0 });
	r = await settle([late]);
	assert.deepEqual(r.body.settled, [{ request_id: late.request_id, charged: 0, earning: 0, replayed: false }]);
	assert.equal(await s.sql(`SELECT status || ' ' || cost FROM requests WHERE task_id = '${late.request_id}'`), 'ok 0');
	assert.equal((await balances(u)).held.micro_usd, 0);
	assert.equal((await balances(u)).credit.micro_usd, 1000000 - 60);
	// Five copies of one batch at once: one bills, the others answer the same, replayed.
	l = (await internal('lease', { key: u.key, want: 1000 })).body;
	const batch = [1, 2, 3, 4].map(() => req(l.lease_id, node, m, { tokens_in: 1000, tokens_out: 10 }));
	const answers = await Promise.all([1, 2, 3, 4, 5].map(() => settle(batch, [l.lease_id])));
	assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200]);
	assert.equal(answers.filter((a) => a.body.settled.every((x) => !x.replayed)).length, 1);
	assert.equal(answers.filter((a) => a.body.settled.every((x) => x.replayed)).length, 4);
	for (const a of answers)
		assert.deepEqual(a.body.settled.map((x) => [x.charged, x.earning]), [[103, 97], [103, 97], [103, 97], [103, 97]]);
	assert.equal(await holdTransfers(l.hold_id), '412');
	assert.equal(await s.sql(`SELECT count(*) FROM requests WHERE lease_id = ${l.lease_id}`), '4');
	assert.equal((await balances(u)).credit.micro_usd, 1000000 - 60 - 412);
	assert.equal((await balances(u)).held.micro_usd, 0);
});

test('batch settle: a bad element is a 400 naming it, and nothing of the batch is applied', async () => {
	const u = await user('bad');
	const m = modelId('bad');
	const node = await addNode(supplier, [[m, 100000, 300000]]);
	const l = (await internal('lease', { key: u.key, want: 100000 })).body;
	const c0 = await balances(u), n0 = await count('transfers'), r0 = await count('requests'), o0 = await count('node_outcomes');
	const ok = () => req(l.lease_id, node, m, { tokens_in: 100, tokens_out: 10 });
	const dup = ok();
	for (const [bad, param] of [
		[{ request_id: 'x' }, 'requests[2].request_id'], [{ request_id: undefined }, 'requests[2].request_id'],
		[{ request_id: dup.request_id }, 'requests[2].request_id'],
		[{ lease_id: 999999999 }, 'requests[2].lease_id'], [{ lease_id: 0 }, 'requests[2].lease_id'],
		[{ node_id: 999999999 }, 'requests[2].node_id'],
		[{ node_id: null }, 'requests[2].node_id'], [{ node_id: 'x' }, 'requests[2].node_id'],
		[{ model: 'a b' }, 'requests[2].model'], [{ model: undefined }, 'requests[2].model'],
		[{ endpoint: 'images' }, 'requests[2].endpoint'], [{ stream: 'yes' }, 'requests[2].stream'],
		[{ prompt_tokens: -1 }, 'requests[2].prompt_tokens'], [{ max_tokens: -1 }, 'requests[2].max_tokens'],
		[{ reserved: undefined }, 'requests[2].reserved'], [{ price_in: undefined }, 'requests[2].price_in'],
		[{ price_out: -1 }, 'requests[2].price_out'], [{ status: 'done' }, 'requests[2].status'],
		[{ status: undefined }, 'requests[2].status'], [{ counted_out: -2 }, 'requests[2].counted_out'],
		[{ outcome: 'great' }, 'requests[2].outcome'], [{ tokens_in: -1 }, 'requests[2].tokens_in'],
		[{ tokens_out: 1.5 }, 'requests[2].tokens_out'], [{ counted_in: 'x' }, 'requests[2].counted_in'],
		[{ ttft_ms: -1 }, 'requests[2].ttft_ms'], [{ duration_ms: 'long' }, 'requests[2].duration_ms'],
		[{ client_ip: 7 }, 'requests[2].client_ip']]) {
		const r = await settle([dup, ok(), { ...ok(), ...bad }], [l.lease_id]);
		assert.equal(r.status, 400, JSON.stringify(bad));
		assertApiError(r.body, 'invalid_request');
		assert.equal(r.body.error.param, param, JSON.stringify(bad));
	}
	for (const [body, param] of [[{ requests: [ok()], close: [999999999] }, 'close[0]'], [{ requests: [ok()], close: [l.lease_id, 'x'] }, 'close[1]'],
		[{ requests: [ok()], close: 5 }, 'close'], [{ requests: 'x' }, 'requests'], [{ requests: [ok(), 5] }, 'requests[1]'],
		// The single form (one request by its hold) is gone: a body without requests names them.
		[{ hold_id: l.hold_id, node_id: node.id, status: 'ok', tokens_in: 1, tokens_out: 1 }, 'requests'], [{}, 'requests'],
		[{ requests: null, close: [l.lease_id] }, 'requests']]) {
		const r = await internal('settle', body);
		assert.equal(r.status, 400, JSON.stringify(body));
		assertApiError(r.body, 'invalid_request');
		assert.equal(r.body.error.param, param);
	}
	assert.deepEqual(await balances(u), c0);
	assert.equal(await count('transfers'), n0);
	assert.equal(await count('requests'), r0, 'no request row');
	assert.equal(await count('node_outcomes'), o0);
	assert.equal(await s.sql(`SELECT status || ' ' || drawn || ' ' || (closed_at IS NULL) FROM holds h JOIN leases l ON l.hold_id = h.id WHERE l.id = ${l.lease_id}`), 'held 0 true');
	const r = await internal('settle', null, { raw: 'nope' });
	assert.equal(r.status, 400);
	assertApiError(r.body, 'invalid_json');
});
