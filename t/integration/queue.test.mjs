// queue.test.mjs: bursts wait for a free slot in the relay's per-model queue
// instead of failing at once: a fresh node's four ramp slots serve thirty
// streams; past queue_max or queue_timeout the answer is 429 with
// Retry-After in OpenAI's shape and nothing is billed; a queued request whose
// client leaves is never dispatched; a model with no live node is still 503.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, waitFor } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';

const PW = 'correct horse battery';
let s, t, A, B;

// Make a user and an API key on stack st; resolves to { c, key, csrf, id }.
async function userWithKey(st, tag) {
	const c = new Client(st.url);
	const email = uniqueEmail(tag);
	await c.signup(email, PW);
	const csrf = await c.csrf();
	const res = await c.post('/v1/keys', { json: { name: tag }, headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 201, res.text_);
	const id = await st.sql(`SELECT id FROM users WHERE email = '${email}'`);
	return { c, key: JSON.parse(res.text_).key, csrf, id };
}

// Register a node of sup for model: an endpoint in front of mock m, or a
// worker node when m is null.
async function addNode(sup, m, model, concurrency) {
	const res = await sup.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sup.csrf }, json: {
		name: `node-${model.replace(/\W/g, '-')}-${m?.port ?? 'worker'}`, supply_type: m ? 'cloud' : 'self_hosted',
		connection: m ? 'endpoint' : 'worker', max_concurrency: concurrency, context_length: 8192,
		...(m ? { base_url: m.base, api_token: 'sk-supplier' } : {}),
		models: [{ model, upstream_model: 'up', price_in: 100000, price_out: 300000 }],
	} });
	assert.equal(res.status, 201, res.text_);
}

// POST a chat completion with fetch, through the web server or straight to
// the relay; resolves to the response and its text.
async function chat(st, key, model, { stream = false, max_tokens = 3, signal, direct = false } = {}) {
	const base = direct ? st.env.INFRPOOL_RELAY_URL : st.url;
	const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', signal,
		headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
		body: JSON.stringify({ model, max_tokens, stream, messages: [{ role: 'user', content: 'hi there' }] }) });
	return { res, text: await res.text() };
}

// Every request of user id settled and nothing of theirs held (each lease
// closed): (request status, billed or free) pairs.
async function settledRows(st, id, n) {
	return waitFor(async () => {
		const rows = (await st.sql(`SELECT r.status || ' ' || CASE WHEN r.cost > 0 THEN 'billed'
			ELSE 'free' END FROM requests r WHERE r.user_id = ${id} ORDER BY r.id`)).split('\n').filter(Boolean);
		const held = await st.sql(`SELECT count(*) FROM holds WHERE user_id = ${id} AND status = 'held'`);
		return rows.length === n && held === '0' && rows;
	}, 20000, `${n} settled requests`);
}

// The relay's /healthz: how many requests wait now.
async function queued(st) {
	return JSON.parse(await (await fetch(`${st.env.INFRPOOL_RELAY_URL}/healthz`)).text()).queued;
}

before(async () => {
	// s: the defaults (a fresh node ramps in at 25%); t: a tiny queue.
	[s, t] = await Promise.all([
		startStack({ conf: '[relay]\nkeepalive = 1\n' }),
		startStack({ conf: '[relay]\nkeepalive = 1\nqueue_max = 2\nqueue_timeout = 3\n' +
			'[gateway]\nramp_start_pct = 100\n' }),
	]);
	[A, B] = await Promise.all([startMock(), startMock()]);
});
after(async () => {
	await Promise.all([A?.stop(), B?.stop()]);
	await Promise.all([s?.stop(), t?.stop()]);
});

test('30 concurrent streams on a fresh node (4 ramp slots) all complete and are all billed', async () => {
	const sup = await userWithKey(s, 'sup'), con = await userWithKey(s, 'con');
	await addNode(sup, A, 'burst/model', 16);
	// Half a second a stream: thirty take about four seconds through four slots.
	await A.control({ interval_ms: 100, tokens: 5 });
	const all = await Promise.all(Array.from({ length: 30 }, () =>
		chat(s, con.key, 'burst/model', { stream: true, max_tokens: 5 })));
	for (const { res, text } of all) {
		assert.equal(res.status, 200, text.slice(0, 300));
		assert.match(text, /data: \[DONE\]\n\n$/);
	}
	const q = all.filter(({ text }) => text.startsWith(': queued\n\n'));
	assert.ok(q.length > 0, 'the late ones heard ": queued" while they waited');
	const st = await A.stats();
	assert.equal(st.requests, 30, 'each dispatched once');
	const rows = await settledRows(s, con.id, 30);
	assert.ok(rows.every((r) => r === 'ok billed'), rows.join(', '));
	assert.equal(await queued(s), 0);
	await A.reset();
});

test('past queue_max: 429 rate_limit_exceeded with Retry-After, nothing billed', async () => {
	const sup = await userWithKey(t, 'sup'), con = await userWithKey(t, 'con');
	await addNode(sup, B, 'tiny/model', 1);
	await B.control({ first_token_ms: 700 });
	// One in flight, two waiting (queue_max = 2), the fourth refused.
	const first = chat(t, con.key, 'tiny/model');
	await waitFor(async () => (await B.stats()).active === 1, 5000, 'the first call');
	const waiting = [chat(t, con.key, 'tiny/model'), chat(t, con.key, 'tiny/model')];
	await waitFor(async () => await queued(t) === 2, 5000, 'two queued');
	const t0 = Date.now();
	const { res, text } = await chat(t, con.key, 'tiny/model');
	assert.ok(Date.now() - t0 < 1000, 'refused at once');
	assert.equal(res.status, 429, text);
	assert.ok(Number(res.headers.get('retry-after')) >= 1, 'Retry-After');
	const e = JSON.parse(text).error;
	assert.equal(e.code, 'rate_limit_exceeded');
	assert.equal(e.type, 'requests');
	assert.equal(typeof e.message, 'string');
	assert.equal(e.param, null);
	// The waiting two are served in turn (0.7 s each, within queue_timeout 3 s).
	for (const r of [await first, ...(await Promise.all(waiting))])
		assert.equal(r.res.status, 200, r.text);
	const rows = await settledRows(t, con.id, 4);
	assert.deepEqual(rows.slice().sort(), ['ok billed', 'ok billed', 'ok billed', 'unserved free']);
	await B.reset();
});

test('past queue_timeout: 429, or an error event once the stream started; nothing billed', async () => {
	const con = await userWithKey(t, 'con2');
	await B.control({ first_token_ms: 6000 });
	const first = chat(t, con.key, 'tiny/model');
	await waitFor(async () => (await B.stats()).active === 1, 5000, 'the first call');
	const t0 = Date.now();
	const [plain, streamed] = await Promise.all([chat(t, con.key, 'tiny/model'),
		chat(t, con.key, 'tiny/model', { stream: true })]);
	const waited = Date.now() - t0;
	assert.ok(waited >= 2800 && waited < 5000, `waited ${waited} ms`);
	assert.equal(plain.res.status, 429, plain.text);
	assert.ok(plain.res.headers.get('retry-after'));
	assert.equal(JSON.parse(plain.text).error.code, 'rate_limit_exceeded');
	// Waiting past keepalive (1 s) sent the stream's 200 and ": queued".
	assert.equal(streamed.res.status, 200);
	assert.match(streamed.text, /^: queued\n\n/);
	const ev = JSON.parse(/data: (\{.*\})\n\n$/.exec(streamed.text)[1]);
	assert.equal(ev.error.code, 'rate_limit_exceeded');
	assert.equal((await first).res.status, 200);
	assert.equal((await B.stats()).requests, 1, 'the timed-out ones never reached the node');
	const rows = await settledRows(t, con.id, 3);
	assert.deepEqual(rows.slice().sort(), ['ok billed', 'unserved free', 'unserved free']);
	await B.reset();
});

test('a queued request whose client leaves is never dispatched and not billed', async () => {
	const con = await userWithKey(t, 'con3');
	await B.control({ first_token_ms: 1500 });
	const first = chat(t, con.key, 'tiny/model');
	await waitFor(async () => (await B.stats()).active === 1, 5000, 'the first call');
	const ac = new AbortController();
	// Straight to the relay: a web server may notice a client's leaving
	// only when it next writes, and this is about the relay noticing it.
	const gone = chat(t, con.key, 'tiny/model', { stream: true, signal: ac.signal, direct: true })
		.catch((e) => e);
	await waitFor(async () => await queued(t) === 1, 5000, 'one queued');
	ac.abort();
	assert.equal((await gone).name, 'AbortError');
	await waitFor(async () => await queued(t) === 0, 5000, 'the queue to let it go');
	assert.equal((await first).res.status, 200);
	// The slot freed by the first call went to nobody.
	await new Promise((r) => setTimeout(r, 300));
	const st = await B.stats();
	assert.equal(st.requests, 1, 'the aborted request never reached the node');
	const rows = await settledRows(t, con.id, 2);
	assert.deepEqual(rows.slice().sort(), ['ok billed', 'unserved free']);
	const held = JSON.parse((await con.c.get('/v1/me')).text_).balances.held.micro_usd;
	assert.equal(held, 0, 'no hold is left');
	await B.reset();
});

test('failover to a node that is merely busy waits for its slot instead of failing', async () => {
	const sup = await userWithKey(t, 'sup5'), con = await userWithKey(t, 'con5');
	await addNode(sup, A, 'fo/model', 1);
	await addNode(sup, B, 'fo/model', 1);
	await Promise.all([A.reset(), B.reset()]);
	await Promise.all([A.control({ first_token_ms: 1000 }), B.control({ first_token_ms: 1000 })]);
	const first = chat(t, con.key, 'fo/model');
	const active = async () => (await A.stats()).active + (await B.stats()).active;
	await waitFor(async () => await active() === 1, 5000, 'the first call');
	const [busy, other] = (await A.stats()).active === 1 ? [A, B] : [B, A];
	await other.control({ fault: '500', count: 1 });
	const second = await chat(t, con.key, 'fo/model');
	assert.equal(second.res.status, 200, second.text);
	assert.equal((await other.stats()).faults, 1, 'the free node failed it first');
	assert.equal((await busy.stats()).requests, 2, 'then the busy one served it');
	assert.equal((await first).res.status, 200);
	assert.deepEqual(await settledRows(t, con.id, 2), ['ok billed', 'ok billed']);
	await Promise.all([A.reset(), B.reset()]);
});

test('a model with no live node still answers 503 no_capacity at once', async () => {
	const sup = await userWithKey(t, 'sup4'), con = await userWithKey(t, 'con4');
	await addNode(sup, null, 'nowhere/model', 4);	// a worker that never polls
	const t0 = Date.now();
	const { res, text } = await chat(t, con.key, 'nowhere/model', { stream: true });
	assert.ok(Date.now() - t0 < 1000, 'at once');
	assert.equal(res.status, 503, text);
	assert.equal(JSON.parse(text).error.code, 'no_capacity');
	assert.equal(await queued(t), 0);
	assert.deepEqual(await settledRows(t, con.id, 1), ['unserved free']);
});
