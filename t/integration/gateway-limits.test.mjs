// gateway-limits.test.mjs: the gateway's limits on a stack of its own:
// requests per API key (429), body size (413), and a consumer who stops
// reading (bounded buffers, then cut off and billed for what was served).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startStack, waitFor } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';

const PW = 'correct horse battery', model = 'limits/model';
let s, m, supplier, consumer;

async function userWithKey(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
	const csrf = await c.csrf();
	const key = async (name) => JSON.parse((await c.post('/v1/keys', { json: { name },
		headers: { 'x-csrf-token': csrf } })).text_).key;
	return { c, csrf, key };
}

before(async () => {
	s = await startStack({ conf: '[gateway]\nrequests_per_minute = 5\nramp_start_pct = 100\n' +
		'max_tokens_cap = 1000000\n' +
		'[relay]\nmax_body = 64k\nout_buffer = 4k\nstall_timeout = 2\nfirst_byte_timeout = 1\n' });
	m = await startMock();
	supplier = await userWithKey('sup');
	consumer = await userWithKey('con');
	const res = await supplier.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': supplier.csrf }, json: {
		name: 'limits', supply_type: 'self_hosted', connection: 'endpoint', max_concurrency: 8,
		context_length: 8192, base_url: m.base, api_token: '',
		models: [{ model, upstream_model: 'mock', price_in: 1, price_out: 1 }] } });
	assert.equal(res.status, 201, res.text_);
});
after(async () => {
	await m?.stop();
	if (s) await s.stop();
});

const chat = (key, body = {}) => fetch(`${s.url}/v1/chat/completions`, { method: 'POST',
	headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
	body: JSON.stringify({ model, max_tokens: 2, messages: [{ role: 'user', content: 'hi' }], ...body }) });

test('requests per API key are limited: 429 with Retry-After, in OpenAI\'s shape', async () => {
	const key = await consumer.key('burst'), other = await consumer.key('other');
	for (let i = 0; i < 5; i++) assert.equal((await chat(key)).status, 200);
	const res = await chat(key);
	assert.equal(res.status, 429);
	assert.ok(Number(res.headers.get('retry-after')) > 0);
	const body = await res.json();
	assert.equal(body.error.code, 'rate_limit_exceeded');
	assert.equal((await chat(other)).status, 200, 'another key has its own budget');
	// Once the served requests are settled (asynchronously), nothing is held:
	// the refused ones never held anything.
	await waitFor(async () => JSON.parse((await consumer.c.get('/v1/me')).text_)
		.balances.held.micro_usd === 0, 10000, 'a refused request to hold nothing');
});

test('a body over the relay\'s limit is a 413 in OpenAI\'s shape', async () => {
	const key = await consumer.key('big');
	const res = await chat(key, { messages: [{ role: 'user', content: 'x'.repeat(100 * 1024) }] });
	assert.equal(res.status, 413);
	assert.equal((await res.json()).error.code, 'request_too_large');
});

test('a consumer who stops reading is paused, then cut off and billed for what was served', async () => {
	const key = await consumer.key('slow');
	await m.reset();
	await m.control({ tokens: 200000 });
	// Straight to the relay, so no web server's buffer hides the backlog.
	const relay = new URL(s.env.INFRPOOL_RELAY_URL);
	const body = JSON.stringify({ model, max_tokens: 200000, stream: true,
		messages: [{ role: 'user', content: 'a very long answer' }] });
	const sock = net.connect(Number(relay.port), relay.hostname);
	await new Promise((r) => sock.on('connect', r));
	sock.pause();	// never read
	sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
		`Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
	const t0 = Date.now();
	let st;
	do {
		await new Promise((r) => setTimeout(r, 250));
		st = await m.stats();
	} while (st.cancelled === 0 && Date.now() - t0 < 20000);
	sock.destroy();
	assert.equal(st.cancelled, 1, 'the upstream call was cancelled');
	assert.equal(st.completed, 0);
	// This key's request, once settled: rows are written at settlement, in
	// settlement order, so the newest row of the account may be another's.
	const row = await waitFor(async () => {
		const r = await s.sql(`SELECT r.status || ' ' || r.tokens_out FROM requests r JOIN api_keys k`
			+ ` ON k.id = r.api_key_id WHERE k.name = 'slow' AND r.status <> 'admitted'`);
		return r && { status: r.split(' ')[0], tokens_out: Number(r.split(' ')[1]) };
	}, 10000, 'settlement');
	assert.equal(row.status, 'cancelled');
	assert.ok(row.tokens_out > 0 && row.tokens_out < 200000, `billed ${row.tokens_out}`);
	const health = await (await fetch(`${s.env.INFRPOOL_RELAY_URL}/healthz`)).json();
	assert.equal(health.active, 0, 'nothing left in the relay');
	await m.reset();
});

test('a whole answer may take longer than a stream\'s first byte (answer_timeout)', async () => {
	const key = await consumer.key('patience');
	await m.reset();
	await m.control({ first_token_ms: 2000 });
	// Not streamed: the first byte is the whole answer; 2 s is within answer_timeout.
	let res = await chat(key);
	assert.equal(res.status, 200, await res.clone().text());
	// Streamed: 2 s of silence is over first_byte_timeout (1 s): the node failed.
	res = await chat(key, { stream: true });
	assert.equal(res.status, 502);
	await m.reset();
});
