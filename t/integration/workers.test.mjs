// workers.test.mjs: outbound-only worker nodes end to end: infrpool-worker in
// front of the mock model server, through lighttpd to the relay, with the
// official openai client; the protocol's guarantees tested directly too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startStack, bin, waitFor } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { OpenAI } from '../lib/peers.mjs';

const PW = 'correct horse battery', model = 'worker/model';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let s, m, sup, con, client, node, worker;

async function user(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
	return { c, csrf: await c.csrf() };
}

// Start infrpool-worker for the node; resolves once its first poll is in.
async function startWorker(token, concurrency = 50) {
	const t0 = Date.now() - 1000;	// last_seen_at has whole seconds
	const child = spawn(bin('infrpool-worker'), ['--platform', s.url, '--upstream', m.base,
		'--concurrency', String(concurrency)],
	{ env: { ...process.env, INFRPOOL_WORKER_TOKEN: token, INFRPOOL_CONFIG: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
	child.log = '';
	child.stderr.on('data', (d) => { child.log += d; });
	child.exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
	try {
		// Seen by the relay since this worker started (not a stale state).
		await waitFor(async () => {
			const st = await nodeState();
			return st.state === 'online' && Date.parse(st.last_seen_at) >= t0;
		}, 15000, 'the worker node to come online');
	} catch (e) {
		throw new Error(`${e.message}; the worker said:\n${child.log}; the node: ${JSON.stringify(await nodeState())}`);
	}
	return child;
}

async function nodeState() {
	const res = await sup.c.get(`/v1/supplier/nodes/${node.id}`);
	return JSON.parse(res.text_);
}

before(async () => {
	s = await startStack({ conf: '[relay]\nreport_interval = 1\nfirst_byte_timeout = 5\nanswer_timeout = 5\n' +
		'worker_idle_timeout = 3\nbreaker_park = 1\n' +
		'[gateway]\nramp_start_pct = 100\n' });
	m = await startMock();
	sup = await user('wsup');
	con = await user('wcon');
	const res = await sup.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sup.csrf }, json: {
		name: 'home-gpu', supply_type: 'self_hosted', connection: 'worker', max_concurrency: 64,
		context_length: 8192, models: [{ model, upstream_model: 'mock-local', price_in: 100000, price_out: 200000 }] } });
	assert.equal(res.status, 201, res.text_);
	node = JSON.parse(res.text_);
	assert.match(node.node_token, /^ipn_[0-9A-Za-z]{43}$/);
	const key = JSON.parse((await con.c.post('/v1/keys', { json: { name: 'k' },
		headers: { 'x-csrf-token': con.csrf } })).text_).key;
	const Cls = await OpenAI();
	client = new Cls({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
	worker = await startWorker(node.node_token);
});
after(async () => {
	if (worker && worker.exitCode === null) {
		worker.kill('SIGTERM');
		await worker.exited;
	}
	await m?.stop();
	if (s) await s.stop();
});

const messages = [{ role: 'user', content: 'hello through a worker' }];

test('through a worker, not streamed and streamed, with the openai client', async () => {
	const r = await client.chat.completions.create({ model, messages, max_tokens: 6 });
	assert.equal(r.model, model);
	assert.equal(r.usage.completion_tokens, 6);
	const st = await client.chat.completions.create({ model, messages, max_tokens: 6, stream: true });
	let text = '';
	for await (const c of st) text += c.choices[0]?.delta?.content ?? '';
	assert.equal(text, r.choices[0].message.content);
	assert.equal((await m.stats()).last.model, 'mock-local', 'the worker called its model server');
	const e = await client.embeddings.create({ model, input: 'vectors', encoding_format: 'float' });
	assert.equal(e.data.length, 1);
	// A request's row is written when its batch settles: until then there is none.
	const rows = await waitFor(async () => {
		const d = JSON.parse((await con.c.get('/v1/me/usage?limit=3')).text_).data;
		return d.length === 3 && d;
	}, 10000, 'the three requests settled');
	assert.deepEqual(rows.map((x) => [x.status, x.node_id]), [['ok', node.id], ['ok', node.id], ['ok', node.id]]);
});

test('the round trip and last-seen time are recorded and shown to the supplier', async () => {
	await waitFor(async () => (await nodeState()).last_rtt_ms != null, 10000, 'a measured round trip');
	const st = await nodeState();
	assert.ok(st.last_rtt_ms >= 0 && st.last_rtt_ms < 500, `round trip ${st.last_rtt_ms} ms`);
	assert.ok(st.last_seen_at);
	assert.equal(st.state, 'online');
});

test('50 concurrent streams through one worker arrive complete and in order', async () => {
	await m.reset();
	await m.control({ interval_ms: 5, tokens: 30 });
	const want = await client.chat.completions.create({ model, messages, max_tokens: 30 });
	const one = async () => {
		const st = await client.chat.completions.create({ model, messages, max_tokens: 30, stream: true });
		let text = '';
		for await (const c of st) text += c.choices[0]?.delta?.content ?? '';
		return text;
	};
	const got = await Promise.all(Array.from({ length: 50 }, one));
	for (const t of got) assert.equal(t, want.choices[0].message.content);
	await m.reset();
});

test('killing the worker mid-stream: an error event, and only what was served is billed', async () => {
	await m.reset();
	await m.control({ interval_ms: 150, tokens: 40 });
	const st = await client.chat.completions.create({ model, messages, max_tokens: 40, stream: true });
	let n = 0, failed = false;
	try {
		for await (const c of st) {
			if ((c.choices[0]?.delta?.content ?? '') !== '' && ++n === 4)
				worker.kill('SIGKILL');
		}
	} catch {
		failed = true;
	}
	await worker.exited;
	assert.ok(failed, 'the consumer saw an error event');
	assert.ok(n >= 4 && n < 40, `served ${n}`);
	await waitFor(async () => {
		const row = JSON.parse((await con.c.get('/v1/me/usage?limit=1')).text_).data[0];
		return row?.status === 'failed' && row;
	}, 15000, 'the failed request to be settled');
	const row = JSON.parse((await con.c.get('/v1/me/usage?limit=1')).text_).data[0];
	assert.ok(row.tokens_out >= 4 && row.tokens_out < 40, `billed ${row.tokens_out}`);
	await m.reset();
});

test('a restarted worker is back online and serving', async () => {
	// Ten seconds after its last poll the relay stops offering the node.
	await waitFor(async () => {
		try {
			await client.chat.completions.create({ model, messages, max_tokens: 1 });
			return false;
		} catch (e) {
			return e.status === 503;
		}
	}, 20000, 'no live node while the worker is away');
	worker = await startWorker(node.node_token);
	// Requests sent to the dead worker in its grace period parked the node
	// for a moment; the first probe after it readmits the node.
	const r = await waitFor(async () => client.chat.completions.create({ model, messages, max_tokens: 2 })
		.catch(() => null), 15000, 'a request served by the restarted worker');
	assert.equal(r.usage.completion_tokens, 2);
});

test('the protocol: a retried batch is applied once, a gap is refused, a stale job is gone', async () => {
	// Stop the real worker and speak the protocol by hand.
	worker.kill('SIGTERM');
	assert.equal((await worker.exited).code, 0);
	const auth = { authorization: `Bearer ${node.node_token}`, 'content-type': 'application/json' };
	const post = (path, body) => fetch(`${s.url}/v1/worker/${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
	// A poll keeps the node live; the consumer's request becomes a job on it.
	let poll = post('poll', { free: 1 });
	await sleep(300);
	const pending = client.chat.completions.create({ model, messages, max_tokens: 3, stream: true });
	let res = await poll;
	const { jobs } = await res.json();
	assert.equal(jobs.length, 1);
	const job = jobs[0];
	assert.equal(job.body.model, 'mock-local');
	assert.equal(job.body.max_tokens, 3);
	assert.equal(job.body.stream_options.include_usage, true);
	const ev = (i) => JSON.stringify({ id: 'x', object: 'chat.completion.chunk', model: 'mock-local',
		choices: [{ index: 0, delta: { content: `w${i} ` }, finish_reason: null }] });
	res = await post(`jobs/${job.id}`, { seq: 0, status: 200, events: [ev(0)] });
	assert.deepEqual(await res.json(), { next_seq: 1, cancel: false });
	res = await post(`jobs/${job.id}`, { seq: 0, status: 200, events: [ev(0)] });
	assert.equal((await res.json()).next_seq, 1, 'a retry is acknowledged');
	res = await post(`jobs/${job.id}`, { seq: 5, status: 200, events: [ev(9)] });
	assert.equal(res.status, 409);
	assert.equal((await res.json()).next_seq, 1);
	res = await post(`jobs/${job.id}`, { seq: 1, status: 200, events: [ev(1), ev(2)], done: true,
		usage: { prompt_tokens: 4, completion_tokens: 3 } });
	assert.equal(res.status, 200);
	let text = '';
	for await (const c of await pending) text += c.choices[0]?.delta?.content ?? '';
	assert.equal(text, 'w0 w1 w2 ', 'each token once, in order');
	res = await post('jobs/j_nosuchjob', { seq: 0, status: 200, events: [] });
	assert.equal(res.status, 410);
	res = await fetch(`${s.url}/v1/worker/poll`, { method: 'POST', body: '{}',
		headers: { authorization: 'Bearer ipn_' + 'x'.repeat(43) } });
	assert.equal(res.status, 401);
	worker = await startWorker(node.node_token);
});
