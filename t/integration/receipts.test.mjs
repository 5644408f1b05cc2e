// receipts.test.mjs: every settled request has a receipt, a compact JWS
// signed with Ed25519. Through the real stack and a mock node, with the
// official openai client: the task id comes back as x-request-id on whole
// and streamed answers; the consumer and the supplier fetch the receipt,
// jose verifies it against the published JWKS and every claim matches the
// usage APIs and the request's row; another consumer and another supplier
// get the 404 of a task that does not exist; a tampered receipt fails; after
// `infrpoolctl receipts rotate-key` new receipts name the new key and old
// ones still verify; the receipt holds no prompt or answer text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, waitFor } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { OpenAI, jose as loadJose } from '../lib/peers.mjs';
import { assertApiError } from '../lib/front-cases.mjs';

const PW = 'correct horse battery', model = 'receipt/model', other = 'receipt/other';
const CANARY = `CANARY${Math.random().toString(36).slice(2, 12)}`;
const TASK = /^t_[0-9A-Za-z]{24}$/;
let s, m, jose, con, con2, sup, sup2, client, nodeId;
const answers = [];

// A user with a session, its CSRF token and an API key.
async function user(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
	const csrf = await c.csrf();
	const res = await c.post('/v1/keys', { json: { name: tag }, headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 201, res.text_);
	return { c, csrf, key: JSON.parse(res.text_).key };
}

// An endpoint node of u's in front of the mock, serving id.
async function addNode(u, id) {
	const res = await u.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': u.csrf }, json: {
		name: `n-${id.replace('/', '-')}`, supply_type: 'cloud', connection: 'endpoint', max_concurrency: 4,
		context_length: 4096, base_url: m.base, api_token: 'sk-token',
		models: [{ model: id, upstream_model: 'mock', price_in: 100000, price_out: 300000 }] } });
	assert.equal(res.status, 201, res.text_);
	return JSON.parse(res.text_).id;
}

// GET the receipt of task with an API key (or a session when key is null).
async function receipt(u, task, { key = u.key } = {}) {
	const headers = key ? { authorization: `Bearer ${key}` } : {};
	const res = await fetch(`${s.url}/v1/receipts/${task}`, { headers });
	return { status: res.status, body: await res.json() };
}

// The receipt once settled: settlement follows the answer by a moment,
// and until then the request has no row (404).
async function settledReceipt(u, task) {
	return waitFor(async () => {
		const r = await receipt(u, task);
		return r.status === 200 && r;
	}, 10000, `receipt of ${task}`);
}

async function jwks() {
	const res = await fetch(`${s.url}/.well-known/infrpool-receipt-keys`);
	assert.equal(res.status, 200);
	assert.match(res.headers.get('content-type'), /^application\/json/);
	return res.json();
}

// Verify jws against the JWKS as published now; resolves to the claims.
async function verify(jws) {
	const set = jose.createLocalJWKSet(await jwks());
	const { payload, protectedHeader } = await jose.compactVerify(jws, set, { algorithms: ['EdDSA'] });
	return { claims: JSON.parse(new TextDecoder().decode(payload)), header: protectedHeader };
}

// A chat call; resolves to { task, text }.
async function chat(stream) {
	const messages = [{ role: 'user', content: `secret ${CANARY} words` }];
	if (!stream) {
		const { data, response } = await client.chat.completions
			.create({ model, messages, max_tokens: 8 }).withResponse();
		answers.push(data.choices[0].message.content);
		return { task: response.headers.get('x-request-id'), text: data.choices[0].message.content };
	}
	const { data, response } = await client.chat.completions
		.create({ model, messages, max_tokens: 8, stream: true }).withResponse();
	let text = '';
	for await (const c of data) text += c.choices[0]?.delta?.content ?? '';
	answers.push(text);
	return { task: response.headers.get('x-request-id'), text };
}

before(async () => {
	s = await startStack();
	m = await startMock();
	jose = await loadJose();
	[con, con2, sup, sup2] = await Promise.all(['con', 'con2', 'sup', 'sup2'].map(user));
	nodeId = await addNode(sup, model);
	await addNode(sup2, other);
	const Cls = await OpenAI();
	client = new Cls({ apiKey: con.key, baseURL: `${s.url}/v1`, maxRetries: 0 });
});
after(async () => {
	await m?.stop();
	if (s) await s.stop();
});

let whole, streamed;

test('whole and streamed answers carry their task id as x-request-id', async () => {
	whole = await chat(false);
	streamed = await chat(true);
	assert.match(whole.task ?? '', TASK);
	assert.match(streamed.task ?? '', TASK);
	assert.notEqual(whole.task, streamed.task);
	assert.equal(whole.text.trim().split(/\s+/).length, 8, whole.text);
	// A refusal carries it too: the same id the request was known by.
	const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST',
		headers: { authorization: `Bearer ${con.key}`, 'content-type': 'application/json' },
		body: JSON.stringify({ model: 'no/such-model', messages: [{ role: 'user', content: 'x' }] }) });
	assert.equal(res.status >= 400, true);
	assert.match(res.headers.get('x-request-id') ?? '', TASK);
});

test('the JWKS publishes an Ed25519 key', async () => {
	const { keys } = await jwks();
	assert.equal(keys.length, 1);
	assert.deepEqual(Object.keys(keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
	assert.equal(keys[0].kty, 'OKP');
	assert.equal(keys[0].crv, 'Ed25519');
	assert.equal(keys[0].alg, 'EdDSA');
	assert.equal(keys[0].kid, 'r1');
	assert.equal(Buffer.from(keys[0].x, 'base64url').length, 32);
	assert.equal(keys[0].d, undefined);
});

test('the consumer gets a receipt that verifies, with every claim right', async () => {
	for (const t of [whole, streamed]) {
		const r = await settledReceipt(con, t.task);
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.equal(r.body.object, 'receipt');
		assert.equal(r.body.task_id, t.task);
		const { claims, header } = await verify(r.body.jws);
		assert.deepEqual(header, { alg: 'EdDSA', kid: 'r1', typ: 'infrpool-receipt+jwt' });
		assert.deepEqual(claims, r.body.claims);
		const usage = JSON.parse((await con.c.get('/v1/me/usage?limit=200')).text_).data
			.find((u) => u.task_id === t.task);
		assert.ok(usage, 'the task is in the consumer\'s usage');
		assert.equal(claims.sub, t.task);
		assert.equal(claims.task_id, t.task);
		assert.equal(typeof claims.iss, 'string');
		assert.equal(claims.model, model);
		assert.equal(claims.endpoint, 'chat');
		assert.equal(claims.node_id, nodeId);
		assert.equal(claims.node_id, usage.node_id);
		assert.equal(claims.supply_type, 'cloud');
		assert.equal(claims.status, 'ok');
		assert.equal(claims.status, usage.status);
		assert.equal(claims.tokens_in, usage.tokens_in);
		assert.equal(claims.tokens_out, usage.tokens_out);
		assert.equal(claims.tokens_out, 8);
		assert.equal(claims.cost_micro_usd, usage.cost.micro_usd);
		assert.ok(claims.cost_micro_usd > 0);
		assert.equal(claims.created, Date.parse(usage.created_at) / 1000);
		assert.equal(claims.finished, Date.parse(usage.finished_at) / 1000);
		assert.equal(claims.iat, claims.finished);
		assert.ok(claims.finished >= claims.created);
		// The counts and the earning from the request's own row.
		const row = (await s.sql(`SELECT reported_in, reported_out, counted_in, counted_out,
			earning, cost - earning FROM requests WHERE task_id = '${t.task}'`)).split('|')
			.map((v) => (v === '' ? null : Number(v)));
		assert.deepEqual([claims.reported_in, claims.reported_out, claims.counted_in, claims.counted_out,
			claims.earning_micro_usd, claims.fee_micro_usd], row);
		assert.equal(claims.fee_micro_usd, claims.cost_micro_usd - claims.earning_micro_usd);
		assert.ok(claims.fee_micro_usd > 0);
	}
});

test('the supplier whose node served gets the same receipt', async () => {
	const mine = await receipt(con, whole.task);
	for (const key of [sup.key, null]) {	// by API key and by session
		const res = key ? await receipt(sup, whole.task) : await sup.c.get(`/v1/receipts/${whole.task}`);
		const body = key ? res.body : JSON.parse(res.text_);
		assert.equal(res.status, 200);
		assert.deepEqual(body.claims, mine.body.claims);
		assert.equal((await verify(body.jws)).claims.sub, whole.task);
	}
	const usage = JSON.parse((await sup.c.get('/v1/supplier/usage')).text_).data
		.find((u) => u.task_id === whole.task);
	assert.equal(mine.body.claims.earning_micro_usd, usage.earning.micro_usd);
});

test('another consumer and another supplier get the 404 of no such task', async () => {
	const none = await receipt(con, `t_${'A'.repeat(24)}`);
	assert.equal(none.status, 404);
	assertApiError(none.body, 'receipt_not_found');
	for (const u of [con2, sup2]) {
		const r = await receipt(u, whole.task);
		assert.equal(r.status, 404);
		assert.deepEqual(r.body, none.body);
	}
	// Without credentials: 401; a malformed task id: 404 before any lookup.
	assert.equal((await receipt(con, whole.task, { key: 'x' })).status, 401);
	for (const bad of ['t_short', `x_${'A'.repeat(24)}`, `t_${'A'.repeat(23)}-`, `t_${'A'.repeat(25)}`])
		assert.equal((await receipt(con, bad)).status, 404, bad);
});

test('a tampered receipt fails verification', async () => {
	const { jws } = (await receipt(con, whole.task)).body;
	const [h, p, sig] = jws.split('.');
	const claims = JSON.parse(Buffer.from(p, 'base64url'));
	await verify(jws);	// the original does
	const forged = { ...claims, tokens_out: claims.tokens_out - 1, cost_micro_usd: 1 };
	const bad = [
		`${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`,
		`${h}.${p}.${Buffer.from(Buffer.from(sig, 'base64url').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64url')}`,
		`${Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: 'r1' })).toString('base64url')}.${p}.${sig}`,
		`${h}.${(await receipt(con, streamed.task)).body.jws.split('.')[1]}.${sig}`,
	];
	for (const b of bad)
		await assert.rejects(verify(b), /signature verification failed/, b);
});

test('a receipt holds no prompt or answer text', async () => {
	for (const t of [whole, streamed]) {
		const { body } = await receipt(con, t.task);
		const all = JSON.stringify(body) + Buffer.from(body.jws.split('.')[1], 'base64url').toString();
		assert.ok(!all.includes(CANARY));
		assert.ok(!all.includes('secret'));
		assert.ok(t.text.trim().length > 0 && !all.includes(t.text.trim()));
		assert.ok(!all.includes(t.text.trim().split(/\s+/).slice(0, 3).join(' ')));
	}
});

test('after rotate-key new receipts name the new key; old ones still verify', async () => {
	const old = (await receipt(con, whole.task)).body.jws;
	const { stdout } = await s.ctl('receipts', 'rotate-key');
	assert.match(stdout, /receipt key r2 now signs/);
	const keys = (await jwks()).keys.map((k) => k.kid).sort();
	assert.deepEqual(keys, ['r1', 'r2']);
	assert.equal((await verify(old)).header.kid, 'r1');
	const next = await chat(false);
	const r = await settledReceipt(con, next.task);
	assert.equal(r.status, 200);
	const v = await verify(r.body.jws);
	assert.equal(v.header.kid, 'r2');
	assert.equal(v.claims.sub, next.task);
	// An old receipt alone, against r2 only, does not verify: kid matters.
	const r2only = { keys: (await jwks()).keys.filter((k) => k.kid === 'r2').map((k) => ({ ...k, kid: 'r1' })) };
	await assert.rejects(jose.compactVerify(old, jose.createLocalJWKSet(r2only)));
	const { stdout: list } = await s.ctl('receipts', 'keys');
	assert.match(list, /^r2 +created \S+ +signing/m);
	assert.match(list, /^r1 +created \S+ +retired/m);
});

test('a request still in flight has no receipt yet; once settled it has', async () => {
	await m.control({ interval_ms: 200 });
	try {
		const { data, response } = await client.chat.completions.create({ model,
			messages: [{ role: 'user', content: 'slow' }], max_tokens: 6, stream: true }).withResponse();
		const task = response.headers.get('x-request-id');
		assert.match(task ?? '', TASK);
		const r = await receipt(con, task);
		assert.equal(r.status, 404);
		assertApiError(r.body, 'receipt_not_found');
		for await (const c of data) void c;
		assert.equal((await settledReceipt(con, task)).status, 200);
	} finally {
		await m.reset();
	}
});

test('without [crypto] keys receipts are off: 503, an empty JWKS, no rotation', async () => {
	// An empty [crypto] section keeps ./dev from adding a key of its own.
	const t = await startStack({ conf: '[crypto]\nkeys =\n' });
	try {
		const c = new Client(t.url);
		await c.signup(uniqueEmail('nokeys'), PW);
		const csrf = await c.csrf();
		const key = JSON.parse((await c.post('/v1/keys', { json: { name: 'k' },
			headers: { 'x-csrf-token': csrf } })).text_).key;
		const res = await c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': csrf }, json: {
			name: 'nk', supply_type: 'cloud', connection: 'endpoint', max_concurrency: 4,
			context_length: 4096, base_url: m.base, api_token: '',
			models: [{ model, upstream_model: 'mock', price_in: 100000, price_out: 300000 }] } });
		assert.equal(res.status, 201, res.text_);
		const Cls = await OpenAI();
		const cl = new Cls({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });
		const { response } = await cl.chat.completions.create({ model,
			messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }).withResponse();
		const task = response.headers.get('x-request-id');
		const r = await waitFor(async () => {
			const x = await fetch(`${t.url}/v1/receipts/${task}`, { headers: { authorization: `Bearer ${key}` } });
			return x.status !== 404 && x;
		}, 10000, 'settlement');
		assert.equal(r.status, 503);
		assertApiError(await r.json(), 'receipts_disabled');
		assert.deepEqual(await (await fetch(`${t.url}/.well-known/infrpool-receipt-keys`)).json(), { keys: [] });
		await assert.rejects(t.ctl('receipts', 'rotate-key'), (e) => e.code === 1 &&
			/\[crypto\] keys is empty/.test(e.stderr));
		assert.equal(await t.sql('SELECT count(*) FROM receipt_keys'), '0');
	} finally {
		await t.stop();
	}
});
