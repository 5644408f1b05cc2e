// mock.test.mjs: the mock model server on its own: OpenAI's shapes, deterministic
// answers, streaming, bad input, each injected fault, stats and 200 streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { builddir, runProgram, scratch, waitFor } from '../lib/stack.mjs';
import { OpenAI } from '../lib/peers.mjs';

const mockBin = join(builddir, 't', 'mock', 'infrpool-mock');
const CHAT = '/v1/chat/completions';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Start the mock on a free port; resolves to a handle with small HTTP helpers.
async function startMock(args = [], { quiet = true } = {}) {
	const child = spawn(mockBin, ['--listen', '127.0.0.1:0', ...(quiet ? ['--quiet'] : []), ...args],
		{ stdio: ['ignore', 'ignore', 'pipe'] });
	let log = '';
	child.stderr.on('data', (d) => { log += d; });
	const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
	const addr = (await waitFor(() => /listening on (\S+)/.exec(log), 10000, 'the mock to listen'))[1];
	const url = `http://${addr}`;
	const m = {
		url, pid: child.pid, log: () => log,
		post: (path, body, { headers = {}, signal } = {}) => fetch(url + path, {
			method: 'POST', signal, headers: { 'content-type': 'application/json', ...headers },
			body: typeof body === 'string' ? body : JSON.stringify(body),
		}),
		// POST and parse: { status, type, body }.
		async json(path, body, opts) {
			const res = await m.post(path, body, opts);
			return { status: res.status, type: res.headers.get('content-type'), headers: res.headers,
				body: await res.json() };
		},
		async control(body) {
			const r = await m.json('/mock/control', body);
			assert.equal(r.status, 200, JSON.stringify(r.body));
			return r.body;
		},
		stats: async () => (await fetch(`${url}/mock/stats`)).json(),
		async stop() {
			child.kill('SIGTERM');
			return exited;
		},
	};
	return m;
}

// Run fn with a fresh mock, then stop it with SIGTERM: it must exit 0.
async function withMock(args, fn, opts) {
	const m = await startMock(args, opts);
	let r;
	try {
		await fn(m);
	} finally {
		r = await m.stop();
	}
	assert.deepEqual(r, { code: 0, signal: null }, 'SIGTERM stops the mock cleanly');
}

const chat = (content, extra = {}) => ({ model: 'm1', messages: [{ role: 'user', content }], ...extra });

// The payloads of an SSE body's data: lines, in order.
function events(text) {
	assert.match(text, /\n\n$/, 'the stream ends with a blank line');
	return text.slice(0, -2).split('\n\n').map((e) => {
		assert.match(e, /^data: /);
		return e.slice(6);
	});
}

// Read a streamed body until its end or an error: { text, error }.
async function readAll(res, onText = () => {}) {
	const reader = res.body.getReader(), dec = new TextDecoder();
	let text = '', error = null;
	try {
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			text += dec.decode(value, { stream: true });
			onText(text, reader);
		}
	} catch (e) {
		error = e;
	}
	return { text, error };
}

const contentOf = (chunks) => chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');

test('chat completion: OpenAI shape, deterministic words, usage', () => withMock(['--tokens', '7'], async (m) => {
	const body = { model: 'org/model-1', messages: [{ role: 'system', content: 'be brief' },
		{ role: 'user', content: [{ type: 'text', text: 'hello  there\nworld' }, { type: 'image_url' }] }] };
	const a = await m.json(CHAT, body);
	assert.equal(a.status, 200);
	assert.equal(a.type, 'application/json');
	const r = a.body;
	assert.match(r.id, /^chatcmpl-mock-\d+$/);
	assert.equal(r.object, 'chat.completion');
	assert.ok(Number.isInteger(r.created) && Math.abs(r.created - Date.now() / 1000) < 60, `created ${r.created}`);
	assert.equal(r.model, 'org/model-1');
	assert.equal(r.choices.length, 1);
	const [c] = r.choices;
	assert.equal(c.index, 0);
	assert.equal(c.message.role, 'assistant');
	assert.equal(c.finish_reason, 'stop');
	assert.match(c.message.content, /^([a-z]+ ){7}$/);
	assert.deepEqual(r.usage, { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
	const again = (await m.json(CHAT, body)).body;
	assert.equal(again.choices[0].message.content, c.message.content, 'same prompt, same answer');
	assert.notEqual(again.id, r.id);
	const other = (await m.json(CHAT, chat('something else entirely'))).body;
	assert.notEqual(other.choices[0].message.content, c.message.content, 'another prompt, another answer');
	assert.equal(other.usage.prompt_tokens, 3);
	assert.equal(other.model, 'm1');
	// A model name that needs escaping comes back intact.
	assert.equal((await m.json(CHAT, { ...body, model: 'a "quoted"\\name ü' })).body.model, 'a "quoted"\\name ü');
}));

test('max_tokens and max_completion_tokens cap the answer with finish_reason "length"', () => withMock([], async (m) => {
	const full = (await m.json(CHAT, chat('count to many'))).body;
	assert.equal(full.usage.completion_tokens, 16, 'the default --tokens');
	assert.equal(full.choices[0].finish_reason, 'stop');
	const words = full.choices[0].message.content.split(' ').slice(0, -1);
	assert.equal(words.length, 16);
	for (const [extra, n, finish] of [
		[{ max_tokens: 5 }, 5, 'length'],
		[{ max_tokens: 1 }, 1, 'length'],
		[{ max_tokens: 16 }, 16, 'length'],
		[{ max_tokens: 100 }, 16, 'stop'],
		[{ max_completion_tokens: 3 }, 3, 'length'],
		[{ max_tokens: 4, max_completion_tokens: 9 }, 4, 'length'],
		[{ max_tokens: null }, 16, 'stop'],
	]) {
		const r = (await m.json(CHAT, chat('count to many', extra))).body;
		const what = JSON.stringify(extra);
		assert.equal(r.usage.completion_tokens, n, what);
		assert.equal(r.usage.total_tokens, 3 + n, what);
		assert.equal(r.choices[0].finish_reason, finish, what);
		assert.equal(r.choices[0].message.content, words.slice(0, n).join(' ') + ' ', `${what}: a prefix of the full answer`);
	}
}));

test('a streamed chat: role chunk, one chunk per token, finish chunk, [DONE]', () => withMock([], async (m) => {
	const res = await m.post(CHAT, chat('stream me please', { stream: true, max_tokens: 4 }));
	assert.equal(res.status, 200);
	assert.match(res.headers.get('content-type'), /^text\/event-stream/);
	const ev = events(await res.text());
	assert.equal(ev.at(-1), '[DONE]');
	const chunks = ev.slice(0, -1).map((e) => JSON.parse(e));
	assert.equal(chunks.length, 1 + 4 + 1);
	for (const ch of chunks) {
		assert.match(ch.id, /^chatcmpl-mock-\d+$/);
		assert.equal(ch.id, chunks[0].id);
		assert.equal(ch.object, 'chat.completion.chunk');
		assert.equal(ch.model, 'm1');
		assert.equal(ch.choices.length, 1);
		assert.equal(ch.choices[0].index, 0);
		assert.equal('usage' in ch, false, 'no usage unless asked');
	}
	assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant' });
	assert.equal(chunks[0].choices[0].finish_reason, null);
	for (const ch of chunks.slice(1, 5)) {
		assert.deepEqual(Object.keys(ch.choices[0].delta), ['content']);
		assert.match(ch.choices[0].delta.content, /^[a-z]+ $/, 'one word per chunk');
		assert.equal(ch.choices[0].finish_reason, null);
	}
	assert.deepEqual(chunks[5].choices[0].delta, {});
	assert.equal(chunks[5].choices[0].finish_reason, 'length');
	const whole = (await m.json(CHAT, chat('stream me please', { max_tokens: 4 }))).body;
	assert.equal(contentOf(chunks), whole.choices[0].message.content, 'the stream says what the answer says');
	const s = await m.stats();
	assert.equal(s.completed, 2);
	assert.equal(s.active, 0);
}));

test('a usage chunk with empty choices comes only with stream_options.include_usage', () => withMock([], async (m) => {
	let ev = events(await (await m.post(CHAT, chat('one two three', { stream: true, max_tokens: 4,
		stream_options: { include_usage: true } }))).text());
	assert.equal(ev.length, 1 + 4 + 1 + 1 + 1);
	assert.equal(ev.at(-1), '[DONE]');
	const usage = JSON.parse(ev.at(-2));
	assert.deepEqual(usage.choices, []);
	assert.deepEqual(usage.usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
	assert.equal(usage.id, JSON.parse(ev[0]).id);
	assert.equal(usage.object, 'chat.completion.chunk');
	assert.equal(JSON.parse(ev.at(-3)).choices[0].finish_reason, 'length');
	for (const so of [{ include_usage: false }, {}, null]) {
		ev = events(await (await m.post(CHAT, chat('one two three', { stream: true, stream_options: so }))).text());
		assert.equal(ev.length, 1 + 16 + 1 + 1, JSON.stringify(so));
		assert.equal(ev.slice(0, -1).some((e) => 'usage' in JSON.parse(e)), false);
		assert.equal(JSON.parse(ev.at(-2)).choices[0].finish_reason, 'stop');
	}
}));

test('completions, embeddings and models in OpenAI\'s shapes', () => withMock(['--model', 'alpha/1', '--model', 'beta/2'], async (m) => {
	let r = (await m.json('/v1/completions', { model: 'c1', prompt: 'one two three' })).body;
	assert.match(r.id, /^cmpl-mock-\d+$/);
	assert.equal(r.object, 'text_completion');
	assert.equal(r.model, 'c1');
	assert.equal(r.choices.length, 1);
	assert.equal(r.choices[0].index, 0);
	assert.equal(r.choices[0].logprobs, null);
	assert.equal(r.choices[0].finish_reason, 'stop');
	assert.match(r.choices[0].text, /^([a-z]+ ){16}$/);
	assert.deepEqual(r.usage, { prompt_tokens: 3, completion_tokens: 16, total_tokens: 19 });
	r = (await m.json('/v1/completions', { model: 'c1', prompt: ['a b', 'c'], max_tokens: 3 })).body;
	assert.deepEqual(r.usage, { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 });
	assert.equal(r.choices[0].finish_reason, 'length');
	// Streamed completions: text chunks, no role chunk.
	const ev = events(await (await m.post('/v1/completions', { model: 'c1', prompt: ['a b', 'c'], max_tokens: 3,
		stream: true, stream_options: { include_usage: true } })).text());
	assert.equal(ev.length, 3 + 1 + 1 + 1);
	const chunks = ev.slice(0, -1).map((e) => JSON.parse(e));
	for (const ch of chunks) {
		assert.equal(ch.object, 'text_completion');
		assert.match(ch.id, /^cmpl-mock-\d+$/);
	}
	assert.equal(chunks.slice(0, 3).map((c) => c.choices[0].text).join(''), r.choices[0].text);
	assert.equal(chunks[3].choices[0].text, '');
	assert.equal(chunks[3].choices[0].finish_reason, 'length');
	assert.deepEqual(chunks[4].choices, []);
	assert.equal(chunks[4].usage.completion_tokens, 3);

	// Embeddings: 8 floats per input, the same text gives the same vector.
	const one = await m.json('/v1/embeddings', { model: 'e1', input: 'hello world' });
	assert.equal(one.status, 200);
	assert.equal(one.body.object, 'list');
	assert.equal(one.body.model, 'e1');
	assert.deepEqual(one.body.usage, { prompt_tokens: 2, total_tokens: 2 });
	assert.equal(one.body.data.length, 1);
	assert.equal(one.body.data[0].object, 'embedding');
	assert.equal(one.body.data[0].index, 0);
	const v = one.body.data[0].embedding;
	assert.equal(v.length, 8);
	for (const x of v) assert.ok(typeof x === 'number' && x >= -1 && x <= 1, `${x}`);
	const three = (await m.json('/v1/embeddings', { model: 'e1', input: ['x y z', 'hello world', 'x y z'] })).body;
	assert.deepEqual(three.data.map((d) => d.index), [0, 1, 2]);
	assert.deepEqual(three.data[1].embedding, v);
	assert.deepEqual(three.data[0].embedding, three.data[2].embedding);
	assert.notDeepEqual(three.data[0].embedding, v);
	assert.deepEqual(three.usage, { prompt_tokens: 8, total_tokens: 8 });
	// encoding_format base64 (what the openai SDK asks for): little-endian float32s.
	const b64 = (await m.json('/v1/embeddings', { model: 'e1', input: 'hello world', encoding_format: 'base64' })).body;
	const buf = Buffer.from(b64.data[0].embedding, 'base64');
	assert.equal(buf.length, 32);
	const floats = Array.from(new Float32Array(buf.buffer, buf.byteOffset, 8));
	floats.forEach((x, i) => assert.ok(Math.abs(x - v[i]) < 1e-6, `${x} vs ${v[i]}`));

	const models = await (await fetch(`${m.url}/v1/models`)).json();
	assert.equal(models.object, 'list');
	assert.deepEqual(models.data.map((d) => [d.id, d.object, d.owned_by]),
		[['alpha/1', 'model', 'infrpool-mock'], ['beta/2', 'model', 'infrpool-mock']]);
	assert.ok(Number.isInteger(models.data[0].created));
	const s = await m.stats();
	assert.equal(s.requests, 6, '/v1/models is not an inference request');
	assert.deepEqual(s.by_path, { '/v1/chat/completions': 0, '/v1/completions': 3, '/v1/embeddings': 3,
		'/v1/models': 1, other: 0 });
}));

test('bad input gets OpenAI-shaped 400s; unknown paths 404, wrong methods 405', () => withMock([], async (m) => {
	const cases = [
		[CHAT, '{"model":', null, 'invalid_json'],
		[CHAT, '', null, 'invalid_json'],
		[CHAT, '[1, 2]', null, 'invalid_json'],
		[CHAT, { messages: [{ role: 'user', content: 'x' }] }, 'model', 'missing_required_parameter'],
		[CHAT, { model: 5, messages: [{ role: 'user', content: 'x' }] }, 'model', 'invalid_type'],
		[CHAT, { model: '', messages: [{ role: 'user', content: 'x' }] }, 'model', 'invalid_value'],
		[CHAT, { model: 'm' }, 'messages', 'missing_required_parameter'],
		[CHAT, { model: 'm', messages: [] }, 'messages', 'invalid_value'],
		[CHAT, { model: 'm', messages: 'hi' }, 'messages', 'invalid_value'],
		[CHAT, { model: 'm', messages: [{ content: 'no role' }] }, 'messages', 'invalid_value'],
		[CHAT, { model: 'm', messages: [{ role: 'user', content: 5 }] }, 'messages', 'invalid_type'],
		[CHAT, chat('x', { max_tokens: 0 }), 'max_tokens', 'invalid_value'],
		[CHAT, chat('x', { max_tokens: -3 }), 'max_tokens', 'invalid_value'],
		[CHAT, chat('x', { max_tokens: 1.5 }), 'max_tokens', 'invalid_value'],
		[CHAT, chat('x', { max_tokens: '10' }), 'max_tokens', 'invalid_value'],
		[CHAT, chat('x', { max_completion_tokens: 0 }), 'max_completion_tokens', 'invalid_value'],
		[CHAT, chat('x', { stream: 'yes' }), 'stream', 'invalid_type'],
		[CHAT, chat('x', { stream: true, stream_options: 1 }), 'stream_options', 'invalid_type'],
		['/v1/completions', { model: 'm' }, 'prompt', 'missing_required_parameter'],
		['/v1/completions', { model: 'm', prompt: [1] }, 'prompt', 'invalid_type'],
		['/v1/completions', { model: 'm', prompt: 'x', max_tokens: 0 }, 'max_tokens', 'invalid_value'],
		['/v1/embeddings', { model: 'm' }, 'input', 'missing_required_parameter'],
		['/v1/embeddings', { model: 'm', input: [] }, 'input', 'invalid_type'],
		['/v1/embeddings', { model: 'm', input: 'x', encoding_format: 'int8' }, 'encoding_format', 'invalid_value'],
	];
	for (const [path, body, param, code] of cases) {
		const what = `${path} ${typeof body === 'string' ? body : JSON.stringify(body)}`;
		const r = await m.json(path, body);
		assert.equal(r.status, 400, what);
		assert.equal(r.type, 'application/json', what);
		assert.deepEqual(Object.keys(r.body), ['error'], what);
		assert.deepEqual(Object.keys(r.body.error).sort(), ['code', 'message', 'param', 'type'], what);
		assert.equal(r.body.error.type, 'invalid_request_error', what);
		assert.equal(r.body.error.param, param, what);
		assert.equal(r.body.error.code, code, what);
		assert.ok(r.body.error.message.length > 5, what);
	}
	let r = await m.json('/v1/nothing', chat('x'));
	assert.equal(r.status, 404);
	assert.equal(r.body.error.type, 'invalid_request_error');
	assert.equal(r.body.error.code, 'unknown_url');
	const res = await fetch(`${m.url}${CHAT}`);
	assert.equal(res.status, 405);
	assert.equal((await res.json()).error.code, 'method_not_allowed');
	r = await m.json('/v1/models', {});
	assert.equal(r.status, 405);
	const s = await m.stats();
	assert.equal(s.requests, cases.length, 'POSTs to inference paths');
	assert.equal(s.by_path[CHAT], cases.filter((c) => c[0] === CHAT).length + 1, 'by_path counts the 405 too');
	assert.equal(s.errors, cases.length);
	assert.equal(s.completed, 0);
	assert.equal(s.faults, 0);
	assert.equal(s.by_path.other, 1);
}));

test('status faults answer with an OpenAI-shaped error, for exactly count requests', () => withMock([], async (m) => {
	const ok = async () => assert.equal((await m.json(CHAT, chat('x'))).status, 200);
	for (const [fault, type, code] of [['500', 'server_error', 'internal_error'], ['503', 'server_error', 'overloaded'],
		['429', 'requests', 'rate_limit_exceeded'], ['400', 'invalid_request_error', 'invalid_request'],
		['401', 'invalid_request_error', 'invalid_api_key']]) {
		const st = await m.control({ fault });
		assert.equal(st.fault, fault);
		assert.equal(st.count, 1, 'count defaults to 1');
		const r = await m.json(CHAT, chat('x'));
		assert.equal(r.status, Number(fault), fault);
		assert.equal(r.type, 'application/json');
		assert.deepEqual(r.body.error, { message: r.body.error.message, type, param: null, code });
		assert.match(r.body.error.message, /injected/);
		assert.equal(r.headers.get('retry-after'), fault === '429' || fault === '503' ? '1' : null);
		await ok();
	}
	await m.control({ fault: '500', count: 3 });
	for (let i = 0; i < 3; i++) assert.equal((await m.json('/v1/embeddings', { model: 'e', input: 'x' })).status, 500);
	await ok();
	await m.control({ fault: '503', count: -1 });
	for (let i = 0; i < 5; i++) assert.equal((await m.json(CHAT, chat('x'))).status, 503);
	assert.equal((await fetch(`${m.url}/v1/models`)).status, 200, '/v1/models never fails');
	const st = await m.control({ fault: 'none', count: -1 });
	assert.equal(st.fault, 'none');
	await ok();
	// A fault is taken even by a request that would have been a 400.
	await m.control({ fault: '429' });
	assert.equal((await m.json(CHAT, '{bad json')).status, 429);
	const s = await m.stats();
	assert.equal(s.faults, 5 + 3 + 5 + 1);
	assert.equal(s.completed, 5 + 1 + 1);
	assert.equal(s.requests, 5 * 2 + 4 + 6 + 1);
	assert.equal(s.errors, 0);
}));

test('malformed: a 200 that is not JSON, or a data: line that is not JSON', () => withMock([], async (m) => {
	await m.control({ fault: 'malformed', count: 2 });
	let res = await m.post(CHAT, chat('x'));
	assert.equal(res.status, 200);
	const text = await res.text();
	assert.match(text, /^\{"id":"chatcmpl-mock-\d+"/);
	assert.throws(() => JSON.parse(text));
	res = await m.post(CHAT, chat('x', { stream: true }));
	assert.equal(res.status, 200);
	const ev = events(await res.text());
	assert.equal(ev.length, 1 + 2 + 1 + 1, 'role, two good tokens, the bad line, [DONE]');
	assert.equal(contentOf(ev.slice(0, 3).map((e) => JSON.parse(e))).split(' ').length, 3);
	assert.throws(() => JSON.parse(ev[3]));
	assert.equal(ev[4], '[DONE]');
	assert.equal((await m.json(CHAT, chat('x'))).status, 200, 'back to normal after count');
	const s = await m.stats();
	assert.equal(s.faults, 2);
	assert.equal(s.completed, 1);
	assert.equal(s.active, 0);
}));

test('drop closes the connection after after_tokens tokens, or halfway through a body', () => withMock([], async (m) => {
	await m.control({ fault: 'drop', after_tokens: 3 });
	let res = await m.post(CHAT, chat('long answer please', { stream: true, max_tokens: 20 }));
	assert.equal(res.status, 200);
	let r = await readAll(res);
	assert.ok(r.error, 'the stream ends in an error');
	assert.doesNotMatch(r.text, /\[DONE\]|finish_reason":"/);
	let chunks = r.text.trim().split('\n\n').map((e) => JSON.parse(e.slice(6)));
	assert.equal(chunks.length, 1 + 3);
	assert.equal(contentOf(chunks).trim().split(' ').length, 3);
	await m.control({ fault: 'drop' });
	r = await readAll(await m.post('/v1/completions', { model: 'c', prompt: 'x', stream: true }));
	assert.ok(r.error);
	chunks = r.text.trim().split('\n\n').map((e) => JSON.parse(e.slice(6)));
	assert.equal(chunks.length, 2, 'after_tokens defaults to 2');
	// Not streamed: a Content-Length promise broken halfway.
	await m.control({ fault: 'drop' });
	res = await m.post(CHAT, chat('x'));
	assert.equal(res.status, 200);
	const promised = Number(res.headers.get('content-length'));
	r = await readAll(res);
	assert.ok(r.error, 'the body ends early');
	assert.equal(r.text.length, Math.floor(promised / 2));
	assert.equal((await m.json(CHAT, chat('x'))).status, 200);
	const s = await m.stats();
	assert.equal(s.faults, 3);
	assert.equal(s.completed, 1);
	assert.equal(s.cancelled, 0);
	assert.equal(s.active, 0);
}));

test('refuse-body closes the connection without answering', () => withMock([], async (m) => {
	await m.control({ fault: 'refuse-body', count: 2 });
	await assert.rejects(m.post(CHAT, chat('x')), TypeError);
	await assert.rejects(m.post(CHAT, chat('x', { stream: true })), TypeError);
	assert.equal((await m.json(CHAT, chat('x'))).status, 200);
	const s = await m.stats();
	assert.equal(s.faults, 2);
	assert.equal(s.active, 0);
}));

test('a client that gives up is counted as cancelled: hang, slow first token, mid-stream', () => withMock([], async (m) => {
	await m.control({ fault: 'hang' });
	let ac = new AbortController();
	const hung = m.post(CHAT, chat('x'), { signal: ac.signal });
	await waitFor(async () => (await m.stats()).active === 1, 5000, 'the hanging request');
	await sleep(200);
	assert.equal((await m.stats()).cancelled, 0);
	ac.abort();
	await assert.rejects(hung, { name: 'AbortError' });
	await waitFor(async () => { const s = await m.stats(); return s.cancelled === 1 && s.active === 0; }, 5000, 'cancelled 1');

	// Waiting for the first token of a non-streamed answer.
	await m.control({ first_token_ms: 5000 });
	ac = new AbortController();
	const slow = m.post(CHAT, chat('x'), { signal: ac.signal });
	await waitFor(async () => (await m.stats()).active === 1, 5000, 'the slow request');
	ac.abort();
	await assert.rejects(slow, { name: 'AbortError' });
	await waitFor(async () => (await m.stats()).cancelled === 2, 5000, 'cancelled 2');

	// Mid-stream.
	await m.control({ first_token_ms: 0, interval_ms: 50 });
	ac = new AbortController();
	const res = await m.post(CHAT, chat('x', { stream: true, max_tokens: 50 }), { signal: ac.signal });
	const r = await readAll(res, (text) => { if (text.split('"content"').length > 3) ac.abort(); });
	assert.equal(r.error?.name, 'AbortError');
	await waitFor(async () => { const s = await m.stats(); return s.cancelled === 3 && s.active === 0; }, 5000, 'cancelled 3');
	const s = await m.stats();
	assert.equal(s.completed, 0);
	assert.equal(s.faults, 1);
	assert.equal(s.requests, 3);

	// SIGTERM with a request still hanging: a clean exit all the same.
	await m.control({ fault: 'hang' });
	m.post(CHAT, chat('x')).catch(() => {});	// fails when the mock stops
	await waitFor(async () => (await m.stats()).active === 1, 5000, 'the last hanging request');
}));

test('--usage inflated reports ten times the tokens by default; control switches it', () => withMock(['--usage', 'inflated'], async (m) => {
	let r = (await m.json(CHAT, chat('a b c'))).body;
	assert.equal(r.choices[0].message.content.split(' ').length - 1, 16);
	assert.deepEqual(r.usage, { prompt_tokens: 30, completion_tokens: 160, total_tokens: 190 });
	const ev = events(await (await m.post(CHAT, chat('a b c', { stream: true, max_tokens: 4,
		stream_options: { include_usage: true } }))).text());
	assert.deepEqual(JSON.parse(ev.at(-2)).usage, { prompt_tokens: 30, completion_tokens: 40, total_tokens: 70 });
	assert.equal((await m.control({ usage: 'honest' })).usage, 'honest');
	r = (await m.json(CHAT, chat('a b c'))).body;
	assert.deepEqual(r.usage, { prompt_tokens: 3, completion_tokens: 16, total_tokens: 19 });
	await fetch(`${m.url}/mock/reset`, { method: 'POST' });
	r = (await m.json('/v1/completions', { model: 'c', prompt: 'a', max_tokens: 2 })).body;
	assert.equal(r.usage.completion_tokens, 20, 'reset returns to the command line\'s setting');
}));

// The usage of a whole answer and of a stream's usage chunk (null: none sent).
async function reportedUsage(m, path, body) {
	const whole = (await m.json(path, body)).body.usage ?? null;
	const ev = events(await (await m.post(path, { ...body, stream: true,
		stream_options: { include_usage: true } })).text());
	assert.equal(ev.at(-1), '[DONE]');
	const last = JSON.parse(ev.at(-2));
	return { whole, streamed: last.choices.length === 0 ? last.usage : null };
}

test('usage modes: inflated by a percentage, missing, negative and huge, whole and streamed', () => withMock(['--tokens', '20'], async (m) => {
	const body = chat('a b c d', { max_tokens: 10 });
	const honest = { prompt_tokens: 4, completion_tokens: 10, total_tokens: 14 };
	assert.deepEqual(await reportedUsage(m, CHAT, body), { whole: honest, streamed: honest });
	assert.equal((await m.control({ usage: 'inflated', inflate_pct: 15 })).inflate_pct, 15);
	const up = { prompt_tokens: 4, completion_tokens: 11, total_tokens: 15 };	// +15%, rounded down
	assert.deepEqual(await reportedUsage(m, CHAT, body), { whole: up, streamed: up });
	const big = chat('a b c d e f g h i j k l m n o p q r s t', { max_tokens: 20 });
	const up20 = { prompt_tokens: 23, completion_tokens: 23, total_tokens: 46 };
	assert.deepEqual(await reportedUsage(m, CHAT, big), { whole: up20, streamed: up20 });
	await m.control({ usage: 'missing' });
	assert.deepEqual(await reportedUsage(m, CHAT, body), { whole: null, streamed: null });
	assert.equal((await m.json('/v1/embeddings', { model: 'e', input: 'a b' })).body.usage, undefined);
	await m.control({ usage: 'negative' });
	const neg = { prompt_tokens: -4, completion_tokens: -10, total_tokens: -14 };
	assert.deepEqual(await reportedUsage(m, '/v1/completions', { model: 'c', prompt: 'a b c d', max_tokens: 10 }),
		{ whole: neg, streamed: neg });
	await m.control({ usage: 'huge' });
	const text = await (await m.post(CHAT, body)).text();
	assert.match(text, /"completion_tokens":9223372036854775807,/, 'exactly 2^63 - 1, not a rounded double');
	const hv = (await reportedUsage(m, CHAT, body)).streamed;
	assert.ok(hv.prompt_tokens >= 2 ** 63 - 1024 && hv.completion_tokens >= 2 ** 63 - 1024);
	for (const [b, param] of [[{ usage: 'huge', inflate_pct: -1 }, 'inflate_pct'], [{ overrun: 'x' }, 'overrun']]) {
		const r = await m.json('/mock/control', b);
		assert.equal(r.status, 400, JSON.stringify(b));
		assert.equal(r.body.error.param, param);
	}
}));

test('overrun: a server that sends N tokens past max_tokens, whole and streamed', () => withMock(['--overrun', '5'], async (m) => {
	const r = (await m.json(CHAT, chat('a', { max_tokens: 3 }))).body;
	assert.equal(r.choices[0].message.content.trim().split(' ').length, 8);
	assert.equal(r.usage.completion_tokens, 8, 'it reports what it sent');
	const ev = events(await (await m.post('/v1/completions', { model: 'c', prompt: 'a', max_tokens: 3,
		stream: true })).text());
	assert.equal(ev.filter((e) => e !== '[DONE]' && JSON.parse(e).choices[0]?.text).length, 8);
	const n = (await m.json(CHAT, chat('a', { max_tokens: 100 }))).body;
	assert.equal(n.usage.completion_tokens, 16, 'no cap reached: nothing past it');
	assert.equal((await m.control({ overrun: 0 })).overrun, 0);
	assert.equal((await m.json(CHAT, chat('a', { max_tokens: 3 }))).body.usage.completion_tokens, 3);
}));

test('latency: first token, interval and tokens per second are respected', () => withMock(['--first-token-ms', '300'], async (m) => {
	let t0 = Date.now();
	let r = await m.json(CHAT, chat('x'));
	assert.equal(r.status, 200);
	assert.ok(Date.now() - t0 >= 300, `a non-streamed answer after ${Date.now() - t0} ms`);
	t0 = Date.now();
	const res = await m.post(CHAT, chat('x', { stream: true, max_tokens: 3 }));
	let first = 0;
	await readAll(res, (text) => { if (!first && text.includes('"content"')) first = Date.now() - t0; });
	assert.ok(first >= 300, `first token after ${first} ms`);
	assert.ok(first < 3000, `first token after ${first} ms`);

	await m.control({ first_token_ms: 0, interval_ms: 100 });
	t0 = Date.now();
	let ev = events(await (await m.post(CHAT, chat('x', { stream: true, max_tokens: 4 }))).text());
	assert.equal(ev.length, 7);
	assert.ok(Date.now() - t0 >= 300, `4 tokens 100 ms apart in ${Date.now() - t0} ms`);
	await m.control({ interval_ms: 0, tokens_per_second: 20, tokens: 5 });
	t0 = Date.now();
	ev = events(await (await m.post('/v1/completions', { model: 'c', prompt: 'x', stream: true })).text());
	assert.equal(ev.length, 5 + 1 + 1, 'tokens: 5 from control');
	assert.ok(Date.now() - t0 >= 200, `5 tokens at 20/s in ${Date.now() - t0} ms`);
	const st = await m.control({});
	assert.deepEqual(st, { fault: 'none', count: 0, after_tokens: 2, tokens: 5, first_token_ms: 0,
		interval_ms: 0, tokens_per_second: 20, usage: 'honest', inflate_pct: 900, overrun: 0 });
}));

test('stats.last: the API token, model, stream_options and caps, never the prompt', () => withMock([], async (m) => {
	let s = await m.stats();
	assert.deepEqual(s.last, { path: null, authorization: null, model: null, stream: null, stream_options: null,
		max_tokens: null, max_completion_tokens: null, keys: [] });
	const res = await m.post(CHAT, { model: 'up-model', messages: [{ role: 'user', content: 'secret-prompt-words here' }],
		stream: true, stream_options: { include_usage: true }, max_tokens: 7, temperature: 0.5 },
	{ headers: { authorization: 'Bearer sk-test-1' } });
	await res.text();
	s = await m.stats();
	assert.deepEqual(s.last, { path: CHAT, authorization: 'Bearer sk-test-1', model: 'up-model', stream: true,
		stream_options: { include_usage: true }, max_tokens: 7, max_completion_tokens: null,
		keys: ['model', 'messages', 'stream', 'stream_options', 'max_tokens', 'temperature'] });
	await m.json('/v1/embeddings', { model: 'emb', input: 'secret-prompt-words', max_completion_tokens: 3 });
	s = await m.stats();
	assert.equal(s.last.path, '/v1/embeddings');
	assert.equal(s.last.authorization, null);
	assert.equal(s.last.model, 'emb');
	assert.equal(s.last.stream_options, null);
	assert.equal(s.last.max_tokens, null);
	assert.equal(s.last.max_completion_tokens, 3);
	await m.json(CHAT, 'not json', { headers: { authorization: 'Bearer sk-test-2' } });
	s = await m.stats();
	assert.equal(s.last.authorization, 'Bearer sk-test-2');
	assert.equal(s.last.model, null);
	assert.doesNotMatch(JSON.stringify(s), /secret-prompt/);
	assert.equal((await m.stop()).code, 0);
	const lines = m.log().trim().split('\n');
	assert.equal(lines.filter((l) => l.includes(' /v1/')).length, 3, m.log());
	assert.match(m.log(), /\/v1\/chat\/completions 200 completed completion=7 /);
	assert.match(m.log(), /\/v1\/chat\/completions 400 invalid_json /);
	assert.doesNotMatch(m.log(), /secret-prompt|sk-test/);
}, { quiet: false }));

test('/mock/control refuses bad settings; /mock/reset restores the start', () => withMock(['--tokens', '6'], async (m) => {
	for (const [body, param] of [[{ fault: 'nope' }, 'fault'], [{ fault: 5 }, 'fault'], [{ bogus: 1 }, null],
		[{ count: 2 }, 'fault'], [{ fault: '500', count: 0 }, 'count'], [{ fault: 'drop', after_tokens: -1 }, 'after_tokens'],
		[{ first_token_ms: -1 }, 'first_token_ms'], [{ interval_ms: 'x' }, 'interval_ms'], [{ tokens: 1.5 }, 'tokens'],
		[{ usage: 'lots' }, 'usage'], [{ usage: 1 }, 'usage'], ['{', null], [{ tokens: 3, fault: 'x' }, 'fault']]) {
		const r = await m.json('/mock/control', body);
		assert.equal(r.status, 400, JSON.stringify(body));
		assert.equal(r.body.error.param, param, JSON.stringify(body));
	}
	const def = { fault: 'none', count: 0, after_tokens: 2, tokens: 6, first_token_ms: 0, interval_ms: 0,
		tokens_per_second: 0, usage: 'honest', inflate_pct: 900, overrun: 0 };
	assert.deepEqual(await (await fetch(`${m.url}/mock/control`)).json(), def, 'nothing changed');
	const first = (await m.json(CHAT, chat('x'), { headers: { authorization: 'Bearer k' } })).body;
	await m.control({ fault: '500', count: -1, tokens: 2, usage: 'inflated' });
	await m.json(CHAT, chat('x'));
	let s = await m.stats();
	assert.equal(s.requests, 2);
	assert.equal(s.control.fault, '500');
	const r = await m.json('/mock/reset', {});
	assert.equal(r.status, 200);
	assert.deepEqual(r.body, def);
	s = await m.stats();
	assert.deepEqual([s.requests, s.active, s.completed, s.cancelled, s.faults, s.errors], [0, 0, 0, 0, 0, 0]);
	assert.equal(s.by_path['/v1/chat/completions'], 0);
	assert.equal(s.last.authorization, null);
	const a = (await m.json(CHAT, chat('x'))).body;
	assert.equal(a.usage.completion_tokens, 6);
	assert.ok(Number(a.id.split('-').at(-1)) > Number(first.id.split('-').at(-1)), 'ids go on counting across resets');
}));

test('200 concurrent streams all complete with all their tokens', () => withMock(['--interval-ms', '100', '--tokens', '20'], async (m) => {
	const N = 200;
	const responses = await Promise.all(Array.from({ length: N }, (_, i) =>
		m.post(CHAT, chat(`stream number ${i}`, { stream: true, stream_options: { include_usage: true } }))));
	assert.equal((await m.stats()).active, N, 'all streams open at once');
	const texts = await Promise.all(responses.map((r) => r.text()));
	const answers = new Set();
	for (const t of texts) {
		const ev = events(t);
		assert.equal(ev.length, 1 + 20 + 1 + 1 + 1);
		assert.equal(ev.at(-1), '[DONE]');
		const chunks = ev.slice(0, -1).map((e) => JSON.parse(e));
		const text = contentOf(chunks);
		assert.match(text, /^([a-z]+ ){20}$/);
		assert.equal(chunks.at(-1).usage.completion_tokens, 20);
		answers.add(text);
	}
	assert.ok(answers.size > N * 0.95, `${answers.size} different answers`);
	const s = await m.stats();
	assert.deepEqual([s.requests, s.completed, s.active, s.cancelled], [N, N, 0, 0]);
}));

// The mock's resident memory in KiB.
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

test('a client that stops reading pauses its stream instead of growing the mock', () => withMock(['--tokens', '300000'], async (m) => {
	const before = rssKiB(m.pid);
	const { hostname, port } = new URL(m.url);
	const sock = net.connect(Number(port), hostname);
	const parts = [];
	sock.on('data', (d) => parts.push(d));
	const ended = new Promise((r) => sock.on('end', r));
	await new Promise((r) => sock.on('connect', r));
	const body = JSON.stringify(chat('a lot please', { stream: true }));
	sock.write(`POST ${CHAT} HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n` +
		`Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
	await waitFor(() => parts.length > 0, 5000, 'the first bytes');
	sock.pause();
	await sleep(1000);
	const grown = rssKiB(m.pid) - before;
	assert.ok(grown < 8 * 1024, `the mock grew by ${grown} KiB for a client that reads nothing`);
	assert.equal((await m.stats()).active, 1, 'the stream waits');
	sock.resume();
	await ended;
	const text = Buffer.concat(parts).toString();
	assert.equal(text.split('"delta":{"content":"').length - 1, 300000, 'every token arrives');
	assert.match(text, /data: \[DONE\]\n\n\r\n0\r\n\r\n$/);
	const s = await m.stats();
	assert.deepEqual([s.completed, s.active], [1, 0]);
}));

test('the official openai client reads the mock: chat, stream with usage, embeddings', () => withMock([], async (m) => {
	const OpenAIClass = await OpenAI();
	const client = new OpenAIClass({ apiKey: 'sk-sdk', baseURL: `${m.url}/v1`, maxRetries: 0 });
	const c = await client.chat.completions.create({ model: 'sdk', max_tokens: 5, messages: [{ role: 'user', content: 'hi there' }] });
	assert.equal(c.choices[0].message.content.trim().split(' ').length, 5);
	const stream = await client.chat.completions.create({ model: 'sdk', max_tokens: 5, stream: true,
		stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi there' }] });
	let text = '', usage = null;
	for await (const ch of stream) {
		text += ch.choices[0]?.delta?.content ?? '';
		if (ch.usage) usage = ch.usage;
	}
	assert.equal(text, c.choices[0].message.content);
	assert.deepEqual(usage, { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 });
	const e = await client.embeddings.create({ model: 'sdk-e', input: ['a b', 'c'] });
	assert.equal(e.data.length, 2);
	assert.equal(e.data[0].embedding.length, 8);
	assert.deepEqual(e.usage, { prompt_tokens: 3, total_tokens: 3 });
	assert.equal((await m.stats()).last.authorization, 'Bearer sk-sdk');
	await m.control({ fault: '429' });
	await assert.rejects(client.chat.completions.create({ model: 'sdk', messages: [{ role: 'user', content: 'x' }] }),
		(err) => err.status === 429 && err.code === 'rate_limit_exceeded');
}));

test('options: --listen is required, bad values are usage errors, --pidfile', async () => {
	let r = await runProgram(mockBin, []);
	assert.equal(r.code, 2);
	assert.match(r.stderr, /usage: infrpool-mock --listen/);
	for (const args of [['--tokens', 'x'], ['--usage', 'lots'], ['--first-token-ms', '-1'], ['--bogus'], ['extra']]) {
		r = await runProgram(mockBin, ['--listen', '127.0.0.1:0', ...args]);
		assert.equal(r.code, 2, args.join(' '));
	}
	r = await runProgram(mockBin, ['--listen', 'nohost']);
	assert.equal(r.code, 1);
	assert.match(r.stderr, /not host:port/);
	const pidfile = join(scratch('mock'), 'mock.pid');
	await withMock(['--pidfile', pidfile], async (m) => {
		assert.equal(Number(readFileSync(pidfile, 'utf8')), m.pid);
	});
	assert.equal(existsSync(pidfile), false, 'pidfile removed');
});
