// gateway.test.mjs: inference end to end with the official openai client:
// lighttpd → relay (candidates, lease, batched settlement in the app) → mock
// model servers, with the ledger exact to the micro-USD, the relay's worst
// case, max_price, max_tokens default and cap, the breaker, failover,
// cancellation, capacity (a full model queues), keep-alive, and the streamed
// path through Apache too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, waitFor } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { OpenAI } from '../lib/peers.mjs';
import { assertApiError } from '../lib/front-cases.mjs';

const PW = 'correct horse battery';
const PRICE_IN = 100000, PRICE_OUT = 300000;	// micro-USD per 1M tokens
let s, apache, A, B, supplier, consumer, client, OpenAIClass;
const model = 'test/llama-mock';

// Make a user and an API key; resolves to { c, key }.
async function userWithKey(stack, tag) {
	const c = new Client(stack.url);
	await c.signup(uniqueEmail(tag), PW);
	const csrf = await c.csrf();
	const res = await c.post('/v1/keys', { json: { name: tag }, headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 201, res.text_);
	return { c, key: JSON.parse(res.text_).key, csrf };
}

// Register an endpoint node for the supplier in front of mock m.
async function addNode(stack, sup, m, { name, concurrency = 8, price_in = PRICE_IN, price_out = PRICE_OUT,
	id = model, token = 'sk-supplier-secret' } = {}) {
	const res = await sup.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sup.csrf }, json: {
		name: name ?? `node-${m.port}`, supply_type: 'cloud', connection: 'endpoint',
		max_concurrency: concurrency, context_length: 8192, base_url: m.base, api_token: token,
		models: [{ model: id, upstream_model: `upstream-${m.port}`, price_in, price_out }],
	} });
	assert.equal(res.status, 201, res.text_);
	return JSON.parse(res.text_);
}

async function balance(c) {
	return JSON.parse((await c.get('/v1/me')).text_).balances;
}

// Settlement follows the answer asynchronously: wait until nothing is held.
async function settled(c) {
	return waitFor(async () => {
		const b = await balance(c);
		return b.held.micro_usd === 0 && b;
	}, 10000, 'settlement');
}

before(async () => {
	s = await startStack({ conf: '[relay]\nkeepalive = 1\nbreaker_park = 2\nfirst_byte_timeout = 3\nanswer_timeout = 3\n' +
		'[gateway]\nramp_start_pct = 100\n' });
	[A, B] = await Promise.all([startMock(), startMock()]);
	supplier = await userWithKey(s, 'supplier');
	consumer = await userWithKey(s, 'consumer');
	await addNode(s, supplier, A, { name: 'node-a' });
	await addNode(s, supplier, B, { name: 'node-b' });
	OpenAIClass = await OpenAI();
	client = new OpenAIClass({ apiKey: consumer.key, baseURL: `${s.url}/v1`, maxRetries: 0 });
});
after(async () => {
	await Promise.all([A?.stop(), B?.stop()]);
	if (s) await s.stop();
	if (apache) await apache.stop();
});

test('chat, not streamed: the answer, the model name, and the ledger exact to the micro-USD', async () => {
	const before_ = await balance(consumer.c);
	const sup0 = await balance(supplier.c);
	const r = await client.chat.completions.create({ model, max_tokens: 7,
		messages: [{ role: 'user', content: 'one two three four five' }] });
	assert.equal(r.object, 'chat.completion');
	assert.equal(r.model, model, 'the public id, not the upstream name');
	assert.equal(r.choices[0].finish_reason, 'length');
	assert.equal(r.usage.completion_tokens, 7);
	assert.equal(r.choices[0].message.content.trim().split(/\s+/).length, 7);
	// base = in × 100,000 + 7 × 300,000; charge half up; supplier floor(base × 0.95).
	const base = r.usage.prompt_tokens * PRICE_IN + 7 * PRICE_OUT;
	const charge = Math.floor((base + 500000) / 1000000);
	const earning = Math.floor(base * 95 / 100 / 1000000);
	const after_ = await settled(consumer.c);
	assert.equal(before_.spendable.micro_usd - after_.spendable.micro_usd, charge);
	assert.equal(after_.held.micro_usd, 0, 'the hold is released');
	const sup1 = await balance(supplier.c);
	assert.equal(sup1.earnings.micro_usd - sup0.earnings.micro_usd, earning);
	const usage = JSON.parse((await consumer.c.get('/v1/me/usage?limit=1')).text_).data[0];
	assert.equal(usage.tokens_out, 7);
	assert.equal(usage.status, 'ok');
	// The relay counted the answer itself too, and both numbers were kept.
	assert.equal(await waitFor(async () => await s.sql(
		`SELECT reported_out || ' ' || counted_out FROM requests WHERE id = ${usage.id}`), 5000, 'the counts'), '7 7');
});

test('chat, streamed: chunks in order, the same text, usage only when asked', async () => {
	const messages = [{ role: 'user', content: 'stream me something' }];
	const whole = await client.chat.completions.create({ model, max_tokens: 12, messages });
	const stream = await client.chat.completions.create({ model, max_tokens: 12, messages, stream: true });
	let text = '', chunks = 0, usage = null;
	for await (const c of stream) {
		chunks++;
		assert.equal(c.model, model);
		if (c.usage) usage = c.usage;
		text += c.choices[0]?.delta?.content ?? '';
	}
	assert.equal(text, whole.choices[0].message.content);
	assert.ok(chunks >= 12);
	assert.equal(usage, null, 'no usage chunk unless asked');
	const s2 = await client.chat.completions.create({ model, max_tokens: 5, messages, stream: true,
		stream_options: { include_usage: true } });
	for await (const c of s2) if (c.usage) usage = c.usage;
	assert.equal(usage.completion_tokens, 5);
	// The relay asked the node for usage and sent our cap and the supplier's token.
	const last = (await A.stats()).last.model ? (await A.stats()).last : (await B.stats()).last;
	assert.match(last.model, /^upstream-\d+$/);
	assert.equal(last.authorization, 'Bearer sk-supplier-secret');
});

test('completions and embeddings', async () => {
	const c = await client.completions.create({ model, prompt: 'say hi', max_tokens: 3 });
	assert.equal(c.choices[0].text.trim().split(/\s+/).length, 3);
	const e = await client.embeddings.create({ model, input: ['a b', 'c'] });
	assert.equal(e.data.length, 2);
	assert.ok(e.data[0].embedding.length > 0);
	assert.ok(e.usage.prompt_tokens >= 3);
});

test('errors in OpenAI\'s shape: bad key, unknown model, bad body, too poor', async () => {
	const bad = new OpenAIClass({ apiKey: 'ip_nope', baseURL: `${s.url}/v1`, maxRetries: 0 });
	await assert.rejects(bad.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }),
		(e) => e.status === 401);
	await assert.rejects(client.chat.completions.create({ model: 'no/such-model', messages: [{ role: 'user', content: 'x' }] }),
		(e) => e.status === 404);
	let res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', body: '{"model": 5}',
		headers: { authorization: `Bearer ${consumer.key}`, 'content-type': 'application/json' } });
	assert.equal(res.status, 400);
	assert.equal((await res.json()).error.param, 'model');
	res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', body: '{"model": "x", "messages": []}',
		headers: { authorization: `Bearer ${consumer.key}` } });
	assert.equal((await res.json()).error.param, 'messages');
	res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', body: 'not json',
		headers: { authorization: `Bearer ${consumer.key}` } });
	assert.equal(res.status, 400);
	// A price that no balance of $1 covers.
	await addNode(s, supplier, A, { name: 'pricey', id: 'pricey/model', price_in: 1000000000000, price_out: 1 });
	await assert.rejects(client.chat.completions.create({ model: 'pricey/model', max_tokens: 1,
		messages: [{ role: 'user', content: 'x' }] }), (e) => e.status === 402);
	assert.equal((await settled(consumer.c)).held.micro_usd, 0);
});

test('n > 1 is refused: it would be work nobody holds or pays for', async () => {
	const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST',
		headers: { authorization: `Bearer ${consumer.key}` },
		body: JSON.stringify({ model, n: 2, messages: [{ role: 'user', content: 'x' }] }) });
	assert.equal(res.status, 400);
	assert.equal((await res.json()).error.param, 'n');
});

test('a max_price below every node is refused with 503', async () => {
	const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST',
		headers: { authorization: `Bearer ${consumer.key}` },
		body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }], max_price: { prompt: 1, completion: 1 } }) });
	assert.equal(res.status, 503);
	assert.ok(res.headers.get('retry-after'));
});

const ask = (m = model, extra = {}) => client.chat.completions.create({ model: m, max_tokens: 3,
	messages: [{ role: 'user', content: 'ping' }], ...extra });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// POST body (a string, sent as it is) to the relay's path with key.
const post = (key, path, body) => fetch(`${s.url}${path}`, { method: 'POST', body,
	headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } });

test('the worst case is over the candidates within max_price, rounded up, with the default max_tokens; the cap is a 400', async () => {
	// $1 of credit, and input at 0.2 or 0.4 USD a token: every worst case is refused with a 402 that names it.
	const poor = await userWithKey(s, 'worst');
	const m = 'worst/model';
	await addNode(s, supplier, A, { name: 'worst-a', id: m, price_in: 200000000000, price_out: 1000000 });
	await addNode(s, supplier, A, { name: 'worst-b', id: m, price_in: 400000000000, price_out: 1000000 });
	await addNode(s, supplier, A, { name: 'worst-c', id: m, price_in: 200000000000, price_out: 3000001 });
	// What the 402 says the request needs, and the bytes of its body (the relay's bound on the prompt).
	const needs = async (extra, path = '/v1/chat/completions') => {
		const body = JSON.stringify({ model: m, ...(path === '/v1/embeddings' ? { input: 'x' } :
			{ messages: [{ role: 'user', content: 'x' }] }), ...extra });
		const res = await post(poor.key, path, body);
		const j = await res.json();
		assert.equal(res.status, 402, JSON.stringify(j));
		assertApiError(j, 'insufficient_quota');
		const usd = /it needs up to \$(\d+)\.(\d{6})\.$/.exec(j.error.message);
		assert.ok(usd, j.error.message);
		return { bytes: BigInt(Buffer.byteLength(body)), micro: BigInt(usd[1]) * 1000000n + BigInt(usd[2]) };
	};
	// ⌈(bytes × the highest price_in + max_tokens × the highest price_out) / 1M⌉ over the candidates kept.
	const worst = ({ bytes }, pin, tokens, pout) => (bytes * pin + tokens * pout + 999999n) / 1000000n;
	let r = await needs({});
	assert.equal(r.micro, worst(r, 400000000000n, 1024n, 3000001n), 'no max_tokens: [gateway] default_max_tokens');
	r = await needs({ max_tokens: 7 });
	assert.equal(r.micro - r.bytes * 400000n, 22n, '7 × 3,000,001 per 1M is 21.000007: rounded up');
	r = await needs({ max_tokens: 32768 });
	assert.equal(r.micro, worst(r, 400000000000n, 32768n, 3000001n), 'the cap itself is allowed');
	r = await needs({ max_price: { prompt: 200000000000, completion: 1000000 } });
	assert.equal(r.micro, worst(r, 200000000000n, 1024n, 1000000n), 'within both limits, inclusive: a alone');
	r = await needs({ max_price: { completion: 1000000 } });
	assert.equal(r.micro, worst(r, 400000000000n, 1024n, 1000000n), 'one limit only: a and b');
	r = await needs({ max_price: { prompt: 200000000000 } });
	assert.equal(r.micro, worst(r, 200000000000n, 1024n, 3000001n), 'a and c');
	r = await needs({ max_tokens: 50 }, '/v1/embeddings');
	assert.equal(r.micro, r.bytes * 400000n, 'embeddings have no output term');
	// Past the cap: a 400 naming max_tokens.
	let res = await post(poor.key, '/v1/chat/completions', JSON.stringify({ model: m, max_tokens: 32769,
		messages: [{ role: 'user', content: 'x' }] }));
	let j = await res.json();
	assert.equal(res.status, 400);
	assertApiError(j, 'invalid_request');
	assert.equal(j.error.param, 'max_tokens');
	assert.match(j.error.message, /between 1 and 32768/);
	// No candidate within max_price: 503 with Retry-After.
	res = await post(poor.key, '/v1/chat/completions', JSON.stringify({ model: m, max_price: { prompt: 199999999999 },
		messages: [{ role: 'user', content: 'x' }] }));
	j = await res.json();
	assert.equal(res.status, 503);
	assertApiError(j, 'no_capacity');
	assert.equal(j.error.type, 'server_error');
	assert.match(j.error.message, /within your max_price/);
	assert.equal(res.headers.get('retry-after'), '5');
	// All refused: nothing charged, and nothing held once the relay has retired its lease.
	assert.equal((await settled(poor.c)).credit.micro_usd, 1000000);
});

test('without max_tokens the default cap goes upstream and into the request row', async () => {
	const m = 'worst/cheap';
	await addNode(s, supplier, B, { name: 'cheap-b', id: m });
	const body = JSON.stringify({ model: m, messages: [{ role: 'user', content: 'no cap given' }] });
	const res = await post(consumer.key, '/v1/chat/completions', body);
	const answer = await res.json();
	assert.equal(res.status, 200, JSON.stringify(answer));
	assert.equal((await B.stats()).last.max_tokens, 1024, 'the default cap, sent to the node');
	const row = JSON.parse(await waitFor(() => s.sql(`SELECT row_to_json(r)::text FROM requests r WHERE model = '${m}'`),
		5000, 'the request row'));
	assert.equal(row.max_tokens, 1024);
	assert.equal(row.prompt_tokens, Buffer.byteLength(body), 'the body\'s bytes bound the prompt');
	assert.equal(row.endpoint, 'chat');
	assert.equal(row.stream, false);
	assert.equal(row.status, 'ok');
	assert.equal(row.tokens_out, answer.usage.completion_tokens);
	assert.match(row.client_ip_hash, /^k\d+:[0-9a-f]{64}$/);
	assert.ok(!JSON.stringify(row).includes('sk-supplier-secret'), 'never the node\'s token');
});

test('the relay\'s own 400s name the field: max_tokens, stream, max_price', async () => {
	for (const [extra, param] of [[{ max_tokens: 0 }, 'max_tokens'], [{ max_tokens: 1.5 }, 'max_tokens'],
		[{ max_completion_tokens: -1 }, 'max_tokens'], [{ stream: 'yes' }, 'stream'], [{ max_price: 5 }, 'max_price'],
		[{ max_price: { prompt: 'x' } }, 'max_price'], [{ max_price: { completion: 1.5 } }, 'max_price'], [{ model: '' }, 'model']]) {
		const res = await post(consumer.key, '/v1/chat/completions', JSON.stringify({ model,
			messages: [{ role: 'user', content: 'x' }], ...extra }));
		const j = await res.json();
		assert.equal(res.status, 400, JSON.stringify(extra));
		assertApiError(j, 'invalid_request');
		assert.equal(j.error.param, param, JSON.stringify(extra));
	}
});

test('breaker: three failures park a node, failover hides them, one probe readmits it', async () => {
	await Promise.all([A.reset(), B.reset()]);
	await A.control({ fault: '500', count: -1 });
	// Consumers see only successes: every failure on A fails over to B.
	for (let i = 0; i < 40 && (await A.stats()).faults < 3; i++)
		assert.equal((await ask()).choices.length, 1);
	assert.equal((await A.stats()).faults, 3);
	// Parked: A sees nothing while it lasts (2 s in this stack).
	const seen = (await A.stats()).requests;
	for (let i = 0; i < 6; i++) await ask();
	assert.equal((await A.stats()).requests, seen, 'a parked node got traffic');
	// After the park one probe goes to A; it fails, so A is parked again.
	await sleep(2200);
	for (let i = 0; i < 40 && (await A.stats()).requests === seen; i++) await ask();
	assert.equal((await A.stats()).requests, seen + 1, 'exactly one probe');
	for (let i = 0; i < 6; i++) await ask();
	assert.equal((await A.stats()).requests, seen + 1, 'a failed probe parks again');
	// A healthy probe closes the breaker: A takes traffic again.
	await A.control({ fault: 'none', count: -1 });
	await sleep(2200);
	for (let i = 0; i < 40 && (await A.stats()).requests < seen + 3; i++) await ask();
	assert.ok((await A.stats()).requests >= seen + 3, 'A is back in the rotation');
});

test('the consumer\'s bad input (4xx) is neutral: passed through, no node parked', async () => {
	await Promise.all([A.reset(), B.reset()]);
	await Promise.all([A.control({ fault: '400', count: 6 }), B.control({ fault: '400', count: 6 })]);
	let rejected = 0;
	for (let i = 0; i < 6; i++)
		await ask().catch((e) => { assert.equal(e.status, 400); rejected++; });
	assert.equal(rejected, 6);
	await Promise.all([A.control({ fault: 'none', count: -1 }), B.control({ fault: 'none', count: -1 })]);
	const a0 = (await A.stats()).requests, b0 = (await B.stats()).requests;
	for (let i = 0; i < 12; i++) await ask();
	assert.ok((await A.stats()).requests > a0 && (await B.stats()).requests > b0, 'both still routed');
});

test('failover before the first byte: a hanging node is left for the next', async () => {
	await Promise.all([A.reset(), B.reset()]);
	await A.control({ fault: 'hang', count: 1 });
	// Ask until a request lands on A first: it hangs for the 3 s first-byte
	// timeout, then B answers it, and the consumer sees one success.
	for (let i = 0; i < 20; i++) {
		const t0 = Date.now();
		const r = await ask();
		assert.equal(r.choices.length, 1);
		if ((await A.stats()).faults === 1) {
			assert.ok(Date.now() - t0 >= 2900, 'waited for the first-byte timeout');
			return;
		}
	}
	assert.fail('no request was sent to A first');
});

test('a node that drops mid-stream: an error event, and only what was served is billed', async () => {
	await Promise.all([A.reset(), B.reset()]);
	await Promise.all([A.control({ fault: 'drop', after_tokens: 3, count: 1 }),
		B.control({ fault: 'drop', after_tokens: 3, count: 1 })]);
	const stream = await client.chat.completions.create({ model, max_tokens: 20, stream: true,
		messages: [{ role: 'user', content: 'long answer please' }] });
	let text = '';
	await assert.rejects((async () => {
		for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
	})());
	assert.equal(text.trim().split(/\s+/).length, 3);
	await settled(consumer.c);
	const row = JSON.parse((await consumer.c.get('/v1/me/usage?limit=1')).text_).data[0];
	assert.equal(row.status, 'failed');
	assert.equal(row.tokens_out, 3);
});

test('a consumer who leaves mid-stream cancels the upstream call and pays for what was served', async () => {
	await Promise.all([A.reset(), B.reset()]);
	await Promise.all([A.control({ interval_ms: 100, tokens: 50 }), B.control({ interval_ms: 100, tokens: 50 })]);
	const ac = new AbortController();
	const stream = await client.chat.completions.create({ model, max_tokens: 50, stream: true,
		messages: [{ role: 'user', content: 'slowly' }] }, { signal: ac.signal });
	let n = 0;
	// The openai client ends an aborted stream quietly (or throws an abort error).
	try {
		for await (const c of stream) if ((c.choices[0]?.delta?.content ?? '') !== '' && ++n === 3) ac.abort();
	} catch (e) {
		assert.match(String(e.name), /Abort/);
	}
	assert.equal(n, 3);
	await settled(consumer.c);
	await waitFor(async () => (await A.stats()).cancelled + (await B.stats()).cancelled > 0, 5000, 'the cancel');
	const cancelled = (await A.stats()).cancelled + (await B.stats()).cancelled;
	assert.equal(cancelled, 1, 'the upstream call was cancelled');
	const row = JSON.parse((await consumer.c.get('/v1/me/usage?limit=1')).text_).data[0];
	assert.equal(row.status, 'cancelled');
	assert.ok(row.tokens_out >= 3 && row.tokens_out < 50, `billed ${row.tokens_out}`);
	// The prompt ("slowly") is billed as its text, not as the body's bytes.
	assert.ok(row.tokens_in >= 1 && row.tokens_in <= 3, `prompt billed as ${row.tokens_in}`);
	await Promise.all([A.reset(), B.reset()]);
	assert.equal((await ask()).choices.length, 1, 'no node was blamed');
});

test('a node at capacity is not chosen; with all full a request waits for a slot', async () => {
	await Promise.all([A.reset(), B.reset()]);
	const capModel = 'cap/model';
	await addNode(s, supplier, A, { name: 'cap-a', id: capModel, concurrency: 1 });
	await addNode(s, supplier, B, { name: 'cap-b', id: capModel, concurrency: 1 });
	await Promise.all([A.control({ interval_ms: 100, tokens: 30 }), B.control({ interval_ms: 100, tokens: 30 })]);
	const open = async () => {
		const st = await client.chat.completions.create({ model: capModel, max_tokens: 30, stream: true,
			messages: [{ role: 'user', content: 'hold on' }] });
		const it = st[Symbol.asyncIterator]();
		await it.next();	// the first chunk: the call is in flight
		return it;
	};
	const one = await open(), two = await open();
	assert.equal((await A.stats()).active, 1, 'one stream each');
	assert.equal((await B.stats()).active, 1);
	// A third waits in the relay's queue (queue.test.mjs has the rest).
	const calls = async () => (await A.stats()).requests + (await B.stats()).requests;
	const before_ = await calls();
	const third = client.chat.completions.create({ model: capModel, max_tokens: 3,
		messages: [{ role: 'user', content: 'x' }] });
	await new Promise((r) => setTimeout(r, 300));
	assert.equal(await calls(), before_, 'not sent to a full node');
	for (const it of [one, two]) while (!(await it.next()).done);
	assert.equal((await third).choices.length, 1, 'served once a slot freed');
	await Promise.all([A.control({ interval_ms: 0 }), B.control({ interval_ms: 0 })]);
});

test('a silent upstream gets ": keep-alive" comments, then the stream', async () => {
	await Promise.all([A.reset(), B.reset()]);
	await Promise.all([A.control({ first_token_ms: 2500 }), B.control({ first_token_ms: 2500 })]);
	const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST',
		headers: { authorization: `Bearer ${consumer.key}`, 'content-type': 'application/json' },
		body: JSON.stringify({ model, max_tokens: 2, stream: true, messages: [{ role: 'user', content: 'wait' }] }) });
	assert.equal(res.status, 200);
	const text = await res.text();
	assert.ok(text.indexOf(': keep-alive') >= 0 && text.indexOf(': keep-alive') < text.indexOf('data:'), text.slice(0, 200));
	assert.match(text, /data: \[DONE\]\n\n$/);
	await Promise.all([A.control({ first_token_ms: 0 }), B.control({ first_token_ms: 0 })]);
});

test('streams are not buffered by lighttpd, nor by Apache', async () => {
	apache = await startStack({ front: 'apache', conf: '[gateway]\nramp_start_pct = 100\n' });
	const sup = await userWithKey(apache, 'apache-supplier'), con = await userWithKey(apache, 'apache-consumer');
	await addNode(apache, sup, A, { name: 'apache-a' });
	await Promise.all([A.reset(), B.reset()]);
	await Promise.all([A.control({ interval_ms: 100, tokens: 20 }), B.control({ interval_ms: 100, tokens: 20 })]);
	for (const [url, key] of [[s.url, consumer.key], [apache.url, con.key]]) {
		const c = new OpenAIClass({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
		const t0 = Date.now();
		const st = await c.chat.completions.create({ model, max_tokens: 20, stream: true,
			messages: [{ role: 'user', content: 'tick tock' }] });
		let first = 0, n = 0;
		for await (const ch of st) {
			if ((ch.choices[0]?.delta?.content ?? '') !== '' && n++ === 0) first = Date.now() - t0;
		}
		const total = Date.now() - t0;
		assert.equal(n, 20, url);
		assert.ok(first < total - 1000, `${url}: first token at ${first} ms of ${total} ms: buffered`);
	}
	await Promise.all([A.reset(), B.reset()]);
});

test('a consumer who leaves before the first byte cancels the call and pays nothing', async () => {
	await Promise.all([A.reset(), B.reset()]);
	await Promise.all([A.control({ first_token_ms: 2500 }), B.control({ first_token_ms: 2500 })]);
	const before_ = await balance(consumer.c);
	const ac = new AbortController();
	setTimeout(() => ac.abort(), 500);
	// Straight to the relay: web servers may notice a client's leaving only
	// when they next write, and this is about the relay noticing it.
	await assert.rejects(fetch(`${s.env.INFRPOOL_RELAY_URL}/v1/chat/completions`, { method: 'POST', signal: ac.signal,
		headers: { authorization: `Bearer ${consumer.key}`, 'content-type': 'application/json' },
		body: JSON.stringify({ model, max_tokens: 5, messages: [{ role: 'user', content: 'never mind' }] }) }));
	await waitFor(async () => (await A.stats()).cancelled + (await B.stats()).cancelled === 1, 5000,
		'the upstream call to be cancelled');
	const after_ = await settled(consumer.c);
	assert.equal(after_.spendable.micro_usd, before_.spendable.micro_usd, 'nothing billed');
	const row = JSON.parse((await consumer.c.get('/v1/me/usage?limit=1')).text_).data[0];
	assert.equal(row.status, 'cancelled');
	assert.equal(row.tokens_out, 0);
	await Promise.all([A.reset(), B.reset()]);
});

test('a 200 that is not an answer is the node\'s failure: the consumer is served elsewhere', async () => {
	// Fresh nodes on both mocks: equal health, so A gets its share of tries.
	const m2 = 'malformed/model';
	await addNode(s, supplier, A, { name: 'mal-a', id: m2 });
	await addNode(s, supplier, B, { name: 'mal-b', id: m2 });
	await Promise.all([A.reset(), B.reset()]);
	await A.control({ fault: 'malformed', count: -1 });
	for (let i = 0; i < 30 && (await A.stats()).faults < 2; i++)
		assert.equal((await ask(m2)).choices.length, 1, 'served by B after all');
	assert.ok((await A.stats()).faults >= 1, 'A was tried');
	await Promise.all([A.reset(), B.reset()]);
});
