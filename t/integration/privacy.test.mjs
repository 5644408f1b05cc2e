// privacy.test.mjs: prompts and responses live in memory for one request and
// nowhere else. After streamed and non-streamed traffic carrying a canary,
// neither the canary prompt nor the answer's text is in the database (a full
// pg_dump), any log, any file of the stack, or a file in the temp directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { OpenAI } from '../lib/peers.mjs';

const run = promisify(execFile);
const PW = 'correct horse battery', model = 'privacy/model';
const CANARY = `CANARY${Math.random().toString(36).slice(2, 12)}`;
let s, m, answer = '';
const started = Date.now();

before(async () => {
	s = await startStack({ logLevel: 'debug' });
	m = await startMock();
	const sup = new Client(s.url), con = new Client(s.url);
	await sup.signup(uniqueEmail('sup'), PW);
	await con.signup(uniqueEmail('con'), PW);
	const sc = await sup.csrf();
	const res = await sup.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sc }, json: {
		name: 'p', supply_type: 'cloud', connection: 'endpoint', max_concurrency: 4, context_length: 4096,
		base_url: m.base, api_token: `sk-${CANARY}-token`,
		models: [{ model, upstream_model: 'mock', price_in: 10, price_out: 10 }] } });
	assert.equal(res.status, 201, res.text_);
	const key = JSON.parse((await con.post('/v1/keys', { json: { name: 'k' },
		headers: { 'x-csrf-token': await con.csrf() } })).text_).key;
	const Cls = await OpenAI();
	const client = new Cls({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
	const messages = [{ role: 'user', content: `secret ${CANARY} words` }];
	const r = await client.chat.completions.create({ model, messages, max_tokens: 8 });
	answer = r.choices[0].message.content;
	const st = await client.chat.completions.create({ model, messages, max_tokens: 8, stream: true });
	for await (const c of st) void c;
	await client.completions.create({ model, prompt: `complete ${CANARY}`, max_tokens: 4 });
	await client.embeddings.create({ model, input: `embed ${CANARY}`, encoding_format: 'float' });
	// A request refused by the node (its 4xx) and one that fails mid-stream.
	await m.control({ fault: '400', count: 1 });
	await client.chat.completions.create({ model, messages }).catch(() => {});
	await m.control({ fault: 'drop', after_tokens: 2, count: 1 });
	const bad = await client.chat.completions.create({ model, messages, max_tokens: 8, stream: true });
	await (async () => { for await (const c of bad) void c; })().catch(() => {});
	await new Promise((r) => setTimeout(r, 500));	// settlements land
});
after(async () => {
	await m?.stop();
	if (s) await s.stop();
});

// Files under dir (recursively), skipping sockets and other specials.
function files(dir, out = []) {
	for (const name of readdirSync(dir)) {
		const p = join(dir, name);
		let st;
		try { st = statSync(p); } catch { continue; }
		if (st.isDirectory()) files(p, out);
		else if (st.isFile()) out.push(p);
	}
	return out;
}

// The answer's words are common words; search for the whole sentence.
const needles = () => [CANARY, answer.trim()];

test('the answer was real, so the search means something', () => {
	assert.ok(answer.trim().split(/\s+/).length === 8, answer);
});

test('nothing of the prompts, answers or the node token is in the database', async () => {
	const { stdout } = await run(join(s.env.INFRPOOL_PGBIN, 'pg_dump'), ['-d', s.env.INFRPOOL_DATABASE_URL],
		{ maxBuffer: 256 * 1024 * 1024 });
	assert.ok(stdout.includes('CREATE TABLE public.requests'), 'a real dump');
	for (const n of needles()) assert.ok(!stdout.includes(n), `the database holds "${n.slice(0, 40)}"`);
});

test('nothing of them is in any log or file of the stack, nor in new temp files', () => {
	const candidates = [...files(s.dir), ...files(s.env.INFRPOOL_PGDATA.replace(/\/data$/, ''))];
	for (const p of files(tmpdir()).filter((f) => { try { return statSync(f).mtimeMs >= started; } catch { return false; } }))
		if (!p.includes('infrpool-test.')) candidates.push(p);	// other tests' own scratch
	assert.ok(candidates.some((p) => p.endsWith('app.log')) && candidates.some((p) => p.endsWith('relay.log')));
	for (const p of candidates) {
		let text;
		try { text = readFileSync(p); } catch { continue; }
		for (const n of needles()) assert.ok(!text.includes(n), `${p} holds "${n.slice(0, 40)}"`);
	}
});
