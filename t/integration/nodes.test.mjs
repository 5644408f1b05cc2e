// nodes.test.mjs: worker node tokens (shown once, kept as SHA-256, rotated),
// the relay's /internal/worker/auth and /internal/worker/seen, each node's
// state and today's numbers in /v1/supplier/nodes, and the supplier's /nodes
// page (add, reprice, rotate, remove; escaped; another user's node is 404).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startStack } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { assertApiError } from '../lib/front-cases.mjs';

const PW = 'correct horse battery';
const CONF = '[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\n' +
	`[crypto]\nkeys = 1:${'2c'.repeat(32)}\n`;
const TOKEN = /^ipn_[0-9A-Za-z]{43}$/;
let s;

before(async () => { s = await startStack({ conf: CONF }); });
after(async () => { if (s) await s.stop(); });

let seq = 0;
const modelId = (tag) => `org/${tag}-${process.pid}-${++seq}`;
const sha256 = (t) => createHash('sha256').update(t).digest('hex');

// A user with a session, its CSRF token, an API key, and call() for JSON.
async function user(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
	const csrf = await c.csrf();
	const call = async (method, path, json, headers = { 'x-csrf-token': csrf }) => {
		const res = await c.request(method, path, { json, headers });
		let body = null;
		try { body = JSON.parse(res.text_); } catch { /* not JSON */ }
		return { status: res.status, body, res };
	};
	const k = await call('POST', '/v1/keys', { name: tag });
	assert.equal(k.status, 201, k.res.text_);
	return { c, csrf, call, key: k.body.key };
}

function workerNode(model, extra = {}) {
	return {
		name: 'home gpu', supply_type: 'self_hosted', connection: 'worker',
		max_concurrency: 3, context_length: 4096,
		models: [{ model, upstream_model: 'llama3.1:8b', price_in: 100000, price_out: 300000 }],
		...extra,
	};
}

function endpointNode(model, extra = {}) {
	return {
		name: 'cloud', supply_type: 'cloud', connection: 'endpoint',
		max_concurrency: 4, context_length: 8192, base_url: 'http://127.0.0.1:9/v1',
		api_token: 'sk-endpoint-secret',
		models: [{ model, upstream_model: 'up', price_in: 100000, price_out: 300000 }],
		...extra,
	};
}

async function addNode(u, body) {
	const r = await u.call('POST', '/v1/supplier/nodes', body);
	assert.equal(r.status, 201, r.res.text_);
	return r.body;
}

// POST to the internal API; resolves to { status, body }.
async function internal(path, body, { raw, secret = s.env.INFRPOOL_INTERNAL_SECRET } = {}) {
	const res = await fetch(`${s.internalUrl}/internal/${path}`, {
		method: 'POST', headers: { 'X-Infrpool-Secret': secret, 'content-type': 'application/json' },
		body: raw ?? JSON.stringify(body),
	});
	const text = await res.text();
	let json = null;
	try { json = JSON.parse(text); } catch { /* not JSON */ }
	return { status: res.status, body: json, text };
}

const auth = (token) => internal('worker/auth', { token });
const seen = (nodes) => internal('worker/seen', { nodes });
// Micro-USD as the page shows it: "$0.10", "$1.50", "$0.000066".
const dollars = (micro) => `$${Math.floor(micro / 1e6)}.` +
	String(micro % 1e6).padStart(6, '0').replace(/0+$/, '').padEnd(2, '0');
const getNode = async (u, id) => (await u.call('GET', `/v1/supplier/nodes/${id}`)).body;

test('a worker node token is shown once, kept only as SHA-256, and rotation kills the old one', async () => {
	const u = await user('tok');
	const m = modelId('tok');
	const made = await addNode(u, workerNode(m));
	assert.match(made.node_token, TOKEN);
	assert.equal(made.has_node_token, true);
	const tok = made.node_token;
	assert.equal(await s.sql(`SELECT encode(node_token_hash, 'hex') FROM nodes WHERE id = ${made.id}`), sha256(tok));
	const row = await s.sql(`SELECT row_to_json(n)::text FROM nodes n WHERE id = ${made.id}`);
	assert.ok(!row.includes(tok.slice(4, 20)), 'no column holds the token');
	// Never again: not in the list, not in the node.
	const list = await u.call('GET', '/v1/supplier/nodes');
	const one = await u.call('GET', `/v1/supplier/nodes/${made.id}`);
	for (const r of [list, one])
		assert.ok(!r.res.text_.includes(tok) && !r.res.text_.includes('"node_token"'), r.res.text_);
	assert.equal(one.body.has_node_token, true);
	const { node_token: _, ...rest } = made;
	assert.deepEqual(one.body, rest, 'the 201 is the node plus its token');
	// An endpoint node has none, and cannot rotate.
	const ep = await addNode(u, endpointNode(m));
	assert.equal(ep.node_token, undefined);
	assert.equal(ep.has_node_token, false);
	assert.equal(await s.sql(`SELECT node_token_hash IS NULL FROM nodes WHERE id = ${ep.id}`), 't');
	let r = await u.call('POST', `/v1/supplier/nodes/${ep.id}/token`);
	assert.equal(r.status, 400);
	assertApiError(r.body, 'invalid_request');
	// The token opens the node until it is rotated.
	r = await auth(tok);
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.body, { node_id: made.id, max_concurrency: 3, status: 'active' });
	r = await u.call('POST', `/v1/supplier/nodes/${made.id}/token`);
	assert.equal(r.status, 200, r.res.text_);
	assert.match(r.body.node_token, TOKEN);
	assert.notEqual(r.body.node_token, tok);
	assert.equal(r.body.id, made.id);
	assert.equal(await s.sql(`SELECT encode(node_token_hash, 'hex') FROM nodes WHERE id = ${made.id}`),
		sha256(r.body.node_token));
	const old = await auth(tok);
	assert.equal(old.status, 401);
	assertApiError(old.body, 'invalid_node_token');
	assert.equal((await auth(r.body.node_token)).status, 200);
	assert.ok(!(await u.call('GET', '/v1/supplier/nodes')).res.text_.includes(r.body.node_token));
	// Session and CSRF are required; another user's node and a deleted one are 404.
	r = await u.call('POST', `/v1/supplier/nodes/${made.id}/token`, undefined, {});
	assert.equal(r.status, 403);
	const other = await user('tok-other');
	assert.equal((await other.call('POST', `/v1/supplier/nodes/${made.id}/token`)).status, 404);
	assert.equal((await u.call('POST', '/v1/supplier/nodes/0/token')).status, 404);
	assert.equal((await u.call('DELETE', `/v1/supplier/nodes/${made.id}`)).status, 200);
	assert.equal((await u.call('POST', `/v1/supplier/nodes/${made.id}/token`)).status, 404);
	// Token hashes are unique.
	const w2 = await addNode(u, workerNode(m));
	await assert.rejects(s.sql(`UPDATE nodes SET node_token_hash = (SELECT node_token_hash FROM nodes
		WHERE id = ${w2.id}) WHERE id = ${made.id}`), /duplicate key value violates unique constraint "nodes_token"/);
});

test('/internal/worker/auth: 200 active, 401 unknown, 403 suspended or deleted', async () => {
	const u = await user('auth');
	const w = await addNode(u, workerNode(modelId('auth'), { max_concurrency: 7 }));
	let r = await auth(w.node_token);
	assert.deepEqual(r.body, { node_id: w.id, max_concurrency: 7, status: 'active' });
	for (const token of ['ipn_' + '0'.repeat(43), 'ipn_short', 'ip_' + 'a'.repeat(44), '', w.node_token + 'x']) {
		r = await auth(token);
		assert.equal(r.status, 401, token);
		assertApiError(r.body, 'invalid_node_token');
	}
	r = await internal('worker/auth', {});
	assert.equal(r.status, 401, 'an absent token reads as ""');
	r = await internal('worker/auth', { token: 5 });
	assert.equal(r.status, 400);
	assert.equal(r.body.error.param, 'token');
	r = await internal('worker/auth', null, { raw: 'nope' });
	assert.equal(r.status, 400);
	assertApiError(r.body, 'invalid_json');
	r = await internal('worker/auth', { token: w.node_token }, { secret: 'wrong' });
	assert.equal(r.status, 403);
	await s.sql(`UPDATE nodes SET status = 'suspended' WHERE id = ${w.id}`);
	r = await auth(w.node_token);
	assert.equal(r.status, 403);
	assertApiError(r.body, 'node_suspended');
	await s.sql(`UPDATE nodes SET status = 'active' WHERE id = ${w.id}`);
	assert.equal((await auth(w.node_token)).status, 200);
	await u.call('DELETE', `/v1/supplier/nodes/${w.id}`);
	r = await auth(w.node_token);
	assert.equal(r.status, 403);
	assertApiError(r.body, 'node_deleted');
});

test('/internal/worker/seen: online, parked and offline in the supplier view', async () => {
	const u = await user('seen');
	const m = modelId('seen');
	const w = await addNode(u, workerNode(m));
	const e = await addNode(u, endpointNode(m));
	let got = await getNode(u, w.id);
	assert.equal(got.state, 'offline', 'a worker never seen');
	assert.equal(got.last_seen_at, null);
	assert.equal(got.last_rtt_ms, null);
	assert.equal(got.inflight, null);
	assert.equal((await getNode(u, e.id)).state, 'unknown', 'an endpoint never reported on');
	let r = await seen([
		{ node_id: w.id, live: true, rtt_ms: 12, inflight: 2, parked: false },
		{ node_id: e.id, live: true, rtt_ms: null, inflight: 1, parked: false },
		{ node_id: 987654321, live: true, rtt_ms: 5, inflight: 0, parked: false },
	]);
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.body, {});
	got = await getNode(u, w.id);
	assert.equal(got.state, 'online');
	assert.equal(got.last_rtt_ms, 12);
	assert.equal(got.inflight, 2);
	assert.match(got.last_seen_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
	assert.match(got.state_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
	const ge = await getNode(u, e.id);
	assert.equal(ge.state, 'online');
	assert.equal(ge.last_seen_at, null, 'only workers are "seen"');
	assert.equal(ge.last_rtt_ms, null);
	assert.equal(ge.inflight, 1);
	// The list says the same.
	const list = (await u.call('GET', '/v1/supplier/nodes')).body.data;
	assert.deepEqual(list.map((n) => [n.id, n.state]), [[e.id, 'online'], [w.id, 'online']]);
	// Parked; an unmeasured round trip keeps the last one.
	r = await seen([{ node_id: w.id, live: true, rtt_ms: null, inflight: 0, parked: true },
		{ node_id: e.id, live: true, rtt_ms: null, inflight: 0, parked: true }]);
	assert.equal(r.status, 200);
	got = await getNode(u, w.id);
	assert.equal(got.state, 'parked');
	assert.equal(got.last_rtt_ms, 12);
	assert.equal(got.inflight, 0);
	assert.equal((await getNode(u, e.id)).state, 'parked');
	// A stale report is offline, for both kinds.
	await s.sql(`UPDATE nodes SET state_at = now() - interval '31 seconds' WHERE id IN (${w.id}, ${e.id})`);
	assert.equal((await getNode(u, w.id)).state, 'offline');
	assert.equal((await getNode(u, e.id)).state, 'offline');
	// A fresh report, but a worker not seen for 30 s, is offline too.
	await seen([{ node_id: w.id, live: true, rtt_ms: 9, inflight: 0, parked: false }]);
	assert.equal((await getNode(u, w.id)).state, 'online');
	await s.sql(`UPDATE nodes SET last_seen_at = now() - interval '31 seconds' WHERE id = ${w.id}`);
	await seen([{ node_id: w.id, live: false, rtt_ms: 9, inflight: 0, parked: false }]);
	got = await getNode(u, w.id);
	assert.equal(got.state, 'offline');
	assert.ok(Date.parse(got.last_seen_at) < Date.now() - 25000, 'not live: last_seen_at stays');
	// Bad reports are 400 naming the field; an empty one is fine.
	for (const [body, param] of [[{}, 'nodes'], [{ nodes: {} }, 'nodes'], [{ nodes: [5] }, 'nodes[0]'],
		[{ nodes: [{ live: true }] }, 'nodes[0].node_id'],
		[{ nodes: [{ node_id: w.id, live: true, inflight: -1 }] }, 'nodes[0].inflight'],
		[{ nodes: [{ node_id: w.id, live: 'yes' }] }, 'nodes[0].live'],
		[{ nodes: [{ node_id: w.id, live: true, rtt_ms: 1.5 }] }, 'nodes[0].rtt_ms']]) {
		r = await internal('worker/seen', body);
		assert.equal(r.status, 400, JSON.stringify(body));
		assert.equal(r.body.error.param, param);
	}
	assert.equal((await seen([])).status, 200);
	assert.equal((await internal('worker/seen', { nodes: [] }, { secret: 'x' })).status, 403);
});

test("today's numbers and earnings come from the node's settled requests", async () => {
	const sup = await user('today-sup'), con = await user('today-con');
	const m = modelId('today');
	const n = await addNode(sup, endpointNode(m, { models: [{ model: m, upstream_model: 'u', price_in: 100000, price_out: 300000 }] }));
	const other = await addNode(sup, endpointNode(m, { models: [{ model: m, upstream_model: 'u', price_in: 100000, price_out: 300000 }] }));
	let got = await getNode(sup, n.id);
	assert.deepEqual(got.today, { requests: 0, ok: 0, success: 0, failure: 0, tokens_in: 0, tokens_out: 0,
		earnings: { micro_usd: 0, usd: '0.000000' } });
	assert.deepEqual(got.earnings, { micro_usd: 0, usd: '0.000000' });
	// One request on a lease of con's key, settled as the relay does; the lease closed with it.
	let tseq = 0;
	const run = async (node, settle) => {
		const l = await internal('lease', { key: con.key, client_ip: '203.0.113.9', want: 1000 });
		assert.equal(l.status, 200, l.text);
		const id = `t_${String(process.pid).padStart(8, '0')}${String(++tseq).padStart(8, '0')}tOdAyNoW`;
		const st = await internal('settle', { requests: [{ request_id: id, lease_id: l.body.lease_id, model: m,
			endpoint: 'chat', stream: false, prompt_tokens: 1000, max_tokens: 100, reserved: 1000, node_id: node,
			price_in: 100000, price_out: 300000, counted_in: 0, counted_out: 0, ttft_ms: 5, duration_ms: 50,
			client_ip: '203.0.113.9', ...settle }], close: [l.body.lease_id] });
		assert.equal(st.status, 200, st.text);
		return { id, earning: st.body.settled[0].earning };
	};
	const ok1 = await run(n.id, { status: 'ok', tokens_in: 500, tokens_out: 50, outcome: 'success' });
	const ok2 = await run(n.id, { status: 'ok', tokens_in: 900, tokens_out: 100, outcome: 'success' });
	const failed = await run(n.id, { status: 'failed', tokens_in: 100, tokens_out: 10, outcome: 'failure' });
	// A consumer who hangs up is not the node's failure: the rate stays 1 of 2.
	const gone = await run(n.id, { status: 'cancelled', tokens_in: 10, tokens_out: 1, outcome: 'neutral' });
	await run(null, { status: 'unserved', tokens_in: null, tokens_out: null, outcome: null });
	await run(other.id, { status: 'ok', tokens_in: 700, tokens_out: 70, outcome: 'success' });
	assert.ok(ok1.earning > 0 && ok2.earning > 0);
	// One of them was yesterday: overall, not today.
	await s.sql(`UPDATE requests SET created_at = now() - interval '2 days' WHERE task_id = '${ok2.id}'`);
	got = await getNode(sup, n.id);
	const micro = (v) => ({ micro_usd: v, usd: `0.${String(v).padStart(6, '0')}` });
	assert.deepEqual(got.today, { requests: 3, ok: 1, success: 1, failure: 1, tokens_in: 610, tokens_out: 61,
		earnings: micro(ok1.earning + failed.earning + gone.earning) });
	assert.deepEqual(got.earnings, micro(ok1.earning + ok2.earning + failed.earning + gone.earning));
	const sum = await s.sql(`SELECT sum(earning) FROM requests WHERE node_id = ${n.id}`);
	assert.equal(got.earnings.micro_usd, Number(sum));
	assert.equal((await getNode(sup, other.id)).today.requests, 1);
	// Prices stay editable (models replaced) and the numbers stay.
	const r = await sup.call('PATCH', `/v1/supplier/nodes/${n.id}`,
		{ models: [{ model: m, upstream_model: 'u2', price_in: 7, price_out: 9 }] });
	assert.equal(r.status, 200, r.res.text_);
	assert.deepEqual(r.body.models, [{ model: m, upstream_model: 'u2', price_in: 7, price_out: 9 }]);
	assert.deepEqual(r.body.today, got.today);
	// The page shows the same numbers, in dollars.
	const page = (await sup.c.get('/nodes')).text_;
	assert.ok(page.includes(`<dt>Earned today</dt><dd>${dollars(ok1.earning + failed.earning + gone.earning)}</dd>`), page);
	assert.ok(page.includes(`<dt>Earned overall</dt><dd>${dollars(ok1.earning + ok2.earning + failed.earning + gone.earning)}</dd>`));
	assert.match(page, /<dt>Success today<\/dt><dd>50%<\/dd>/);
	assert.match(page, /<dt>Tokens today \(in \/ out\)<\/dt><dd>610 \/ 61<\/dd>/);
});

// The id of the node called name on a /nodes page of u.
async function nodeId(u, name) {
	return Number(await s.sql(`SELECT id FROM nodes WHERE name = '${name.replace(/'/g, "''")}'
		AND user_id = (SELECT user_id FROM api_keys WHERE key_hash = decode('${sha256(u.key)}', 'hex'))
		AND status <> 'deleted' ORDER BY id DESC LIMIT 1`));
}

const flashOf = (html) => (/<p class="flash" role="status">([^<]*)<\/p>/.exec(html) ?? [])[1];

test('the /nodes page: empty state, add, escaped names, errors beside fields', async () => {
	const u = await user('page');
	assert.equal((await new Client(s.url).get('/nodes')).status, 303, 'a session is needed');
	let res = await u.c.get('/nodes');
	assert.equal(res.status, 200);
	assert.match(res.text_, /<a href="\/nodes" aria-current="page">Nodes<\/a>/, 'the header links the page, marked current');
	assert.match(res.text_, /You have no nodes yet\. A <strong>node<\/strong> is/);
	assert.match(res.text_, /<label for="price_in">/);
	const m = modelId('page');
	const form = { name: '<b>x</b>', supply_type: 'self_hosted', connection: 'worker', max_concurrency: '3',
		context_length: '4096', base_url: '', api_token: '', model: m, upstream_model: '', price_in: '0.10',
		price_out: '$0.3' };
	// Without a CSRF token: 403, nothing made.
	res = await u.c.post('/nodes', { form });
	assert.equal(res.status, 403);
	res = await u.c.post('/nodes', { form: { csrf: u.csrf, ...form } });
	assert.equal(res.status, 201, res.text_);
	const tok = /<code class="key" id="node-token"[^>]*>(ipn_[0-9A-Za-z]{43})<\/code>/.exec(res.text_)?.[1];
	assert.ok(tok, 'the token is on the page');
	assert.ok(res.text_.includes(`<code>INFRPOOL_WORKER_TOKEN=${tok} infrpool-worker --platform ${s.url}` +
		' --upstream http://127.0.0.1:8000/v1 --concurrency 3</code>'), res.text_);
	assert.match(flashOf(res.text_), /Your worker node is added/);
	assert.ok(res.text_.includes('&lt;b&gt;x&lt;/b&gt;'), 'the name is escaped');
	assert.ok(!res.text_.includes('<b>x</b>'));
	const id = await nodeId(u, '<b>x</b>');
	assert.equal(await s.sql(`SELECT encode(node_token_hash, 'hex') FROM nodes WHERE id = ${id}`), sha256(tok));
	assert.equal(await s.sql(`SELECT model || ' ' || upstream_model || ' ' || price_in || ' ' || price_out
		FROM node_models WHERE node_id = ${id}`), `${m} ${m} 100000 300000`);
	assert.equal((await auth(tok)).status, 200);
	// Once: the next view has neither the token nor the command.
	res = await u.c.get('/nodes');
	assert.equal(res.status, 200);
	assert.ok(!res.text_.includes(tok) && !res.text_.includes('INFRPOOL_WORKER_TOKEN'));
	assert.ok(res.text_.includes('&lt;b&gt;x&lt;/b&gt;') && !res.text_.includes('<b>x</b>'));
	assert.match(res.text_, /<span class="badge offline">offline<\/span>/);
	assert.match(res.text_, new RegExp(`name="in0" value="0.10"`));
	assert.match(res.text_, new RegExp(`name="out0" value="0.30"`));
	assert.ok(!res.text_.includes('You have no nodes yet'));
	// The relay's report shows on the page.
	await seen([{ node_id: id, live: true, rtt_ms: 42, inflight: 2, parked: false }]);
	res = await u.c.get('/nodes');
	assert.match(res.text_, /<span class="badge online">online<\/span>/);
	assert.match(res.text_, /<dt>Last round trip<\/dt><dd>42 ms<\/dd>/);
	assert.match(res.text_, /<dt>In flight<\/dt><dd>2<\/dd>/);
	// Errors beside their fields; values kept, the API token never echoed.
	res = await u.c.post('/nodes', { form: { csrf: u.csrf, ...form, name: '', price_in: 'abc',
		base_url: 'http://x.test', api_token: 'sk-never-echoed', max_concurrency: '0', model: 'bad id' } });
	assert.equal(res.status, 400);
	for (const f of ['name', 'price_in', 'base_url', 'api_token', 'max_concurrency', 'model']) {
		assert.match(res.text_, new RegExp(`<p class="error" id="${f}-error">[^<]+</p>`), f);
		assert.match(res.text_, new RegExp(`id="${f}"[^>]*aria-invalid="true"`), f);
	}
	assert.match(res.text_, /id="price_out" name="price_out" value="\$0.3"/);
	assert.ok(!res.text_.includes('sk-never-echoed'));
	assert.ok(!res.text_.includes('<p class="error" id="price_out-error">'));
	assert.equal(await s.sql(`SELECT count(*) FROM nodes WHERE id > ${id}`), '0', 'nothing made');
	// An endpoint through the form: a redirect, a flash, no node token.
	res = await u.c.post('/nodes', { form: { csrf: u.csrf, ...form, name: 'my endpoint', supply_type: 'cloud',
		connection: 'endpoint', base_url: 'https://api.example.test/v1', api_token: 'sk-form-secret',
		upstream_model: 'upstream-name', price_in: '1', price_out: '2.5' } });
	assert.equal(res.status, 303, res.text_);
	assert.equal(res.headers.get('location'), '/nodes');
	res = await u.c.get('/nodes');
	assert.match(flashOf(res.text_), /Your node is added/);
	assert.ok(!res.text_.includes('sk-form-secret') && !res.text_.includes('INFRPOOL_WORKER_TOKEN'));
	const eid = await nodeId(u, 'my endpoint');
	assert.equal(await s.sql(`SELECT connection || ' ' || supply_type || ' ' || (node_token_hash IS NULL) || ' ' ||
		(api_token_sealed IS NOT NULL) FROM nodes WHERE id = ${eid}`), 'endpoint cloud true true');
	assert.equal(await s.sql(`SELECT upstream_model || ' ' || price_in || ' ' || price_out FROM node_models
		WHERE node_id = ${eid}`), 'upstream-name 1000000 2500000');
	assert.match(res.text_, /<span class="badge unknown">unknown<\/span>/);
	// The flash is shown once.
	assert.equal(flashOf((await u.c.get('/nodes')).text_), undefined);
});

test('the /nodes page: edit prices, rotate the token once, remove', async () => {
	const u = await user('page2');
	const m1 = modelId('p-a'), m2 = modelId('p-b');
	const w = await addNode(u, workerNode(m1, { name: 'two models', models: [
		{ model: m1, upstream_model: 'a', price_in: 100000, price_out: 200000 },
		{ model: m2, upstream_model: 'b', price_in: 300000, price_out: 400000 }] }));
	const ep = await addNode(u, endpointNode(m1));
	let res = await u.c.get('/nodes');
	assert.ok(res.text_.includes(`action="/nodes/${w.id}/prices"`));
	assert.ok(res.text_.includes(`action="/nodes/${w.id}/token"`));
	assert.ok(!res.text_.includes(`action="/nodes/${ep.id}/token"`), 'endpoints have no token to rotate');
	// Prices, per model, in dollars.
	res = await u.c.post(`/nodes/${w.id}/prices`, { form: { csrf: u.csrf, m0: m2, in0: '0.000001', out0: '12',
		m1: m1, in1: '0.25', out1: '$0.5' } });
	assert.equal(res.status, 303, res.text_);
	assert.deepEqual((await getNode(u, w.id)).models, [
		{ model: m1, upstream_model: 'a', price_in: 250000, price_out: 500000 },
		{ model: m2, upstream_model: 'b', price_in: 1, price_out: 12000000 }]);
	res = await u.c.get('/nodes');
	assert.match(flashOf(res.text_), /prices are saved/);
	assert.match(res.text_, /name="in1" value="0.000001"/);
	// A bad price: 400, the error beside it, nothing changed.
	res = await u.c.post(`/nodes/${w.id}/prices`, { form: { csrf: u.csrf, m0: m1, in0: 'cheap', out0: '0.5' } });
	assert.equal(res.status, 400);
	assert.match(res.text_, new RegExp(`id="in-${w.id}-0" name="in0" value="cheap"[^>]*aria-invalid="true" aria-describedby="in-${w.id}-0-error"`));
	assert.match(res.text_, new RegExp(`<p class="error" id="in-${w.id}-0-error">Enter dollars per 1M tokens`));
	assert.equal((await getNode(u, w.id)).models[0].price_in, 250000);
	for (const bad of ['0', '-1', '1.0000001', '2000000']) {
		res = await u.c.post(`/nodes/${w.id}/prices`, { form: { csrf: u.csrf, m0: m1, in0: bad, out0: '1' } });
		assert.equal(res.status, 400, bad);
	}
	res = await u.c.post(`/nodes/${w.id}/prices`, { form: { csrf: u.csrf, m0: 'org/not-here', in0: '1', out0: '1' } });
	assert.equal(res.status, 409);
	res = await u.c.post(`/nodes/${w.id}/prices`, { form: { m0: m1, in0: '1', out0: '1' } });
	assert.equal(res.status, 403, 'CSRF');
	// Rotate: the new token and its command, once; the old token is dead.
	const old = w.node_token;
	res = await u.c.post(`/nodes/${w.id}/token`, { form: { csrf: u.csrf } });
	assert.equal(res.status, 200, res.text_);
	const tok = /<code class="key" id="node-token"[^>]*>(ipn_[0-9A-Za-z]{43})<\/code>/.exec(res.text_)?.[1];
	assert.ok(tok && tok !== old);
	assert.ok(res.text_.includes(`INFRPOOL_WORKER_TOKEN=${tok} infrpool-worker --platform ${s.url}` +
		' --upstream http://127.0.0.1:8000/v1 --concurrency 3'));
	assert.match(flashOf(res.text_), /new token/);
	assert.equal((await auth(old)).status, 401);
	assert.equal((await auth(tok)).status, 200);
	res = await u.c.get('/nodes');
	assert.ok(!res.text_.includes(tok) && !res.text_.includes('INFRPOOL_WORKER_TOKEN'));
	res = await u.c.post(`/nodes/${ep.id}/token`, { form: { csrf: u.csrf } });
	assert.equal(res.status, 400);
	// Another user's node is 404 everywhere.
	const o = await user('page-other');
	for (const [path, form] of [[`/nodes/${w.id}/prices`, { m0: m1, in0: '9', out0: '9' }],
		[`/nodes/${w.id}/token`, {}], [`/nodes/${w.id}/delete`, {}], ['/nodes/x/delete', {}]]) {
		res = await o.c.post(path, { form: { csrf: o.csrf, ...form } });
		assert.equal(res.status, 404, path);
	}
	assert.equal((await o.call('GET', `/v1/supplier/nodes/${w.id}`)).status, 404);
	assert.equal((await o.call('PATCH', `/v1/supplier/nodes/${w.id}`, { name: 'mine' })).status, 404);
	assert.equal((await o.call('DELETE', `/v1/supplier/nodes/${w.id}`)).status, 404);
	assert.ok(!(await o.c.get('/nodes')).text_.includes('two models'));
	assert.equal((await getNode(u, w.id)).models[0].price_in, 250000, 'untouched');
	assert.equal((await auth(tok)).status, 200, 'still its token');
	// Remove: a redirect, a flash, gone from the page; its token is refused.
	res = await u.c.post(`/nodes/${w.id}/delete`, { form: { csrf: u.csrf } });
	assert.equal(res.status, 303);
	res = await u.c.get('/nodes');
	assert.match(flashOf(res.text_), /The node is removed/);
	assert.ok(!res.text_.includes('two models'));
	assert.equal(await s.sql(`SELECT status FROM nodes WHERE id = ${w.id}`), 'deleted');
	const r = await auth(tok);
	assert.equal(r.status, 403);
	assertApiError(r.body, 'node_deleted');
	assert.equal((await u.c.post(`/nodes/${w.id}/delete`, { form: { csrf: u.csrf } })).status, 404);
	assert.equal((await u.c.post(`/nodes/${w.id}/token`, { form: { csrf: u.csrf } })).status, 404);
});
