// billing.test.mjs: the holes a security probe found in billing, closed, through
// the real stack with the official openai client: a completions prompt array,
// absurd or invalid usage (2^63 - 1, negative), and a node that answers past
// max_tokens. The ledger is checked when the stack stops.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, waitFor } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { OpenAI } from '../lib/peers.mjs';

const PW = 'correct horse battery';
const model = 'test/billing-mock';
let s, M, supplier, consumer, client;

// Make a user and an API key; resolves to { c, key, csrf }.
async function userWithKey(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
	const csrf = await c.csrf();
	const res = await c.post('/v1/keys', { json: { name: tag }, headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 201, res.text_);
	return { c, key: JSON.parse(res.text_).key, csrf };
}

const balance = async (c) => JSON.parse((await c.get('/v1/me')).text_).balances;

// The rows settled so far.
const settledRows = async () => Number(await s.sql('SELECT count(*) FROM requests'));

// Wait (at most ms) for request number n + 1 to be settled and for nothing to
// be held any more; resolves to its row.
async function nextRow(n, ms = 10000) {
	await waitFor(async () => await settledRows() > n, ms, 'the settlement');
	await waitFor(async () => (await balance(consumer.c)).held.micro_usd === 0, ms, 'the hold resolved');
	return JSON.parse(await s.sql('SELECT row_to_json(r)::text FROM (SELECT status, prompt_tokens,' +
		' tokens_in, tokens_out, reported_in, reported_out, counted_in, counted_out, cost FROM requests' +
		' ORDER BY id DESC LIMIT 1) r'));
}

// A chat call, whole or streamed; resolves to { text, finish, usage }.
async function chat(content, { stream = false, max_tokens = 6 } = {}) {
	const body = { model, max_tokens, messages: [{ role: 'user', content }] };
	if (!stream) {
		const r = await client.chat.completions.create(body);
		return { text: r.choices[0].message.content, finish: r.choices[0].finish_reason, usage: r.usage };
	}
	let text = '', finish = null, usage = null;
	for await (const ch of await client.chat.completions.create({ ...body, stream: true,
		stream_options: { include_usage: true } })) {
		text += ch.choices[0]?.delta?.content ?? '';
		finish = ch.choices[0]?.finish_reason ?? finish;
		usage = ch.usage ?? usage;
	}
	return { text, finish, usage };
}

const words = (t) => t.trim().split(/\s+/).filter(Boolean).length;

before(async () => {
	s = await startStack({ conf: '[gateway]\nramp_start_pct = 100\n' });
	M = await startMock(['--tokens', '40']);
	supplier = await userWithKey('supplier');
	consumer = await userWithKey('consumer');
	const res = await supplier.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': supplier.csrf }, json: {
		name: 'billing-node', supply_type: 'cloud', connection: 'endpoint', max_concurrency: 8,
		context_length: 8192, base_url: M.base, api_token: 'sk-x',
		models: [{ model, upstream_model: 'up', price_in: 100000, price_out: 300000 }] } });
	assert.equal(res.status, 201, res.text_);
	const OpenAIClass = await OpenAI();
	client = new OpenAIClass({ apiKey: consumer.key, baseURL: `${s.url}/v1`, maxRetries: 0 });
});
after(async () => {
	await M?.stop();
	if (s) await s.stop();
});

test('completions: a prompt array of more than one prompt is refused in OpenAI\'s shape; one prompt is served', async () => {
	await M.reset();
	const n0 = (await M.stats()).requests;
	for (const prompt of [['one', 'two'], [[1, 2], [3, 4]], ['a', [1, 2]], []]) {
		await assert.rejects(client.completions.create({ model, prompt, max_tokens: 5 }), (e) => {
			assert.equal(e.status, 400, JSON.stringify(prompt));
			assert.equal(e.error?.param ?? e.param, 'prompt');
			assert.equal(e.type, 'invalid_request_error');
			assert.match(e.message, /one prompt/);
			return true;
		});
	}
	assert.equal((await M.stats()).requests, n0, 'nothing reached the node');
	for (const prompt of [['just one prompt'], 'a string']) {
		const r = await client.completions.create({ model, prompt, max_tokens: 5 });
		assert.equal(r.choices.length, 1, JSON.stringify(prompt));
	}
	// One prompt of token ids passes the relay (the mock itself takes only text).
	for (const prompt of [[[5, 6, 7]], [5, 6, 7]]) {
		const n = (await M.stats()).requests;
		await client.completions.create({ model, prompt, max_tokens: 5 }).catch(() => {});
		assert.equal((await M.stats()).requests, n + 1, JSON.stringify(prompt));
	}
});

test('usage of 2^63 - 1 is not billed: our count is, whole and streamed', async () => {
	await M.reset();
	await M.control({ usage: 'huge' });
	for (const stream of [false, true]) {
		const n = await settledRows();
		const r = await chat('a b c d e f g h', { stream, max_tokens: 6 });
		assert.equal(words(r.text), 6);
		const row = await nextRow(n);
		assert.equal(row.status, 'ok');
		assert.equal(row.tokens_out, row.counted_out, `stream ${stream}: ${JSON.stringify(row)}`);
		assert.equal(row.tokens_out, 6);
		assert.equal(row.tokens_in, row.counted_in, `stream ${stream}: ${JSON.stringify(row)}`);
		assert.ok(row.tokens_in < row.prompt_tokens, 'not the cap');
	}
});

test('a report above what the answer\'s bytes or the request could hold is billed at our count; an honest one as reported', async () => {
	await M.reset();
	await M.control({ tokens: 3, usage: 'inflated', inflate_pct: 100000 });	// 1001 times
	let n = await settledRows();
	const r = await chat('a b', { max_tokens: 4000 });
	assert.equal(words(r.text), 3);
	let row = await nextRow(n);
	assert.deepEqual([row.reported_in, row.reported_out], [2002, 3003], 'the report is kept on the row');
	assert.ok(row.reported_in > row.prompt_tokens && row.reported_out < 4000);
	assert.equal(row.tokens_out, row.counted_out);
	assert.equal(row.tokens_out, 3);
	assert.equal(row.tokens_in, row.counted_in);
	await M.control({ usage: 'honest' });
	n = await settledRows();
	await chat('a b', { max_tokens: 5, stream: true });
	row = await nextRow(n);
	assert.deepEqual([row.reported_in, row.reported_out, row.tokens_in, row.tokens_out], [2, 3, 2, 3]);
});

test('negative usage is read as absent: the request settles at once on our count', async () => {
	await M.reset();
	await M.control({ usage: 'negative' });
	for (const stream of [false, true]) {
		const n = await settledRows();
		const t0 = Date.now();
		const r = await chat('a b c', { stream, max_tokens: 4 });
		assert.equal(words(r.text), 4);
		const row = await nextRow(n, 5000);
		assert.ok(Date.now() - t0 < 5000, 'resolved at once, not by the reaper');
		assert.equal(row.status, 'ok');
		assert.deepEqual([row.reported_in, row.reported_out], [null, null]);
		assert.equal(row.tokens_out, 4);
		assert.ok(row.cost > 0, 'billed on our count');
	}
	assert.equal(await s.sql('SELECT count(*) FROM holds h JOIN leases l ON l.hold_id = h.id' +
		' WHERE l.closed_at IS NOT NULL AND h.status = \'held\''), '0');
});

test('a node that answers past max_tokens is cut at max_tokens and billed at most max_tokens, whole and streamed', async () => {
	await M.reset();
	await M.control({ overrun: 30 });
	for (const stream of [false, true]) {
		const n = await settledRows();
		const r = await chat('a b c', { stream, max_tokens: 4 });
		assert.equal(words(r.text), 4, `stream ${stream}: ${JSON.stringify(r.text)}`);
		assert.equal(r.finish, 'length');
		const row = await nextRow(n);
		assert.equal(row.status, 'ok');
		assert.equal(row.tokens_out, 4);
		assert.ok(row.counted_out <= 4, JSON.stringify(row));
	}
});
