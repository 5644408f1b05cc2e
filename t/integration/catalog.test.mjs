// catalog.test.mjs: suppliers register nodes with models and prices
// (/v1/supplier/nodes), endpoint tokens are sealed at rest and never shown,
// and consumers see the public catalog (/v1/models) with price ranges and
// node counts; without [crypto] keys the app still runs but stores no token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, bin, scratch, srcdir, runProgram } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { assertApiError } from '../lib/front-cases.mjs';

const PW = 'correct horse battery';
const KEY1 = '1'.repeat(64), KEY2 = 'ab'.repeat(32);
const AUTH = '[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\n';
let s;
before(async () => {
	s = await startStack({ conf: `${AUTH}[crypto]\nkeys = 1:${KEY1},2:${KEY2}\n` });
});
after(async () => { if (s) await s.stop(); });

let seq = 0;
// A unique public model id for one test, with a slash as real ids have.
const modelId = (tag) => `test-org/${tag}-${process.pid}-${++seq}`;

async function supplier(tag, base = s.url) {
	const c = new Client(base);
	await c.signup(uniqueEmail(tag), PW);
	const csrf = await c.csrf();
	const call = async (method, path, json) => {
		const res = await c.request(method, path, { json, headers: { 'x-csrf-token': csrf } });
		let body = null;
		try { body = JSON.parse(res.text_); } catch { /* not JSON */ }
		return { status: res.status, body, res };
	};
	return { c, csrf, call };
}

function endpointNode(model, extra = {}) {
	return {
		name: 'cloud box', supply_type: 'cloud', connection: 'endpoint',
		max_concurrency: 4, context_length: 8192,
		base_url: 'https://api.example.test/v1', api_token: 'sk-secret-token-123',
		models: [{ model, upstream_model: 'llama-3.1-8b-instruct', price_in: 100000, price_out: 300000 }],
		...extra,
	};
}

function workerNode(model, extra = {}) {
	return {
		name: 'home gpu', supply_type: 'self_hosted', connection: 'worker',
		max_concurrency: 2, context_length: 4096,
		models: [{ model, upstream_model: 'llama3.1:8b', price_in: 50000, price_out: 150000 }],
		...extra,
	};
}

test('register an endpoint node: 201, its models, the token sealed and never shown', async () => {
	const { call } = await supplier('node');
	const model = modelId('ep');
	const { status, body, res } = await call('POST', '/v1/supplier/nodes', endpointNode(model));
	assert.equal(status, 201, res.text_);
	assert.equal(body.object, 'node');
	assert.equal(body.name, 'cloud box');
	assert.equal(body.supply_type, 'cloud');
	assert.equal(body.connection, 'endpoint');
	assert.equal(body.status, 'active');
	assert.equal(body.max_concurrency, 4);
	assert.equal(body.context_length, 8192);
	assert.equal(body.base_url, 'https://api.example.test/v1');
	assert.equal(body.has_api_token, true);
	assert.match(body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
	assert.equal(body.last_seen_at, null);
	assert.deepEqual(body.models, [{ model, upstream_model: 'llama-3.1-8b-instruct', price_in: 100000, price_out: 300000 }]);
	assert.ok(!res.text_.includes('sk-secret'), 'the token is never returned');
	assert.equal(body.api_token, undefined);
	assert.equal(body.api_token_sealed, undefined);
	// At rest: an AES-256-GCM envelope under the current key (id 2), never the token.
	const sealed = await s.sql(`SELECT api_token_sealed FROM nodes WHERE id = ${body.id}`);
	assert.match(sealed, /^v1\.2\.[A-Za-z0-9_-]+$/);
	const row = await s.sql(`SELECT row_to_json(n)::text FROM nodes n WHERE id = ${body.id}`);
	assert.ok(!row.includes('sk-secret'), 'no column holds the token');
	assert.ok(!row.includes(Buffer.from('sk-secret-token-123').toString('base64').slice(0, 12)));
	// Listed and fetched the same way, never with the token.
	const list = await call('GET', '/v1/supplier/nodes');
	assert.equal(list.status, 200);
	assert.equal(list.body.object, 'list');
	assert.deepEqual(list.body.data, [body]);
	const one = await call('GET', `/v1/supplier/nodes/${body.id}`);
	assert.deepEqual(one.body, body);
	assert.ok(!list.res.text_.includes('sk-secret') && !one.res.text_.includes('sk-secret'));
});

test('register a worker node: no URL and no token; those fields are refused', async () => {
	const { call } = await supplier('worker');
	const model = modelId('wk');
	const ok = await call('POST', '/v1/supplier/nodes', workerNode(model));
	assert.equal(ok.status, 201, ok.res.text_);
	assert.equal(ok.body.connection, 'worker');
	assert.equal(ok.body.base_url, null);
	assert.equal(ok.body.has_api_token, false);
	assert.match(ok.body.node_token, /^ipn_[0-9A-Za-z]{43}$/, 'a worker gets its node token (nodes.test.mjs)');
	for (const [extra, param] of [[{ base_url: 'http://x.test' }, 'base_url'], [{ api_token: 'sk' }, 'api_token']]) {
		const r = await call('POST', '/v1/supplier/nodes', workerNode(model, extra));
		assert.equal(r.status, 400);
		assertApiError(r.body, 'invalid_request');
		assert.equal(r.body.error.param, param);
	}
	// An endpoint may have no token at all.
	const bare = await call('POST', '/v1/supplier/nodes', endpointNode(model, { api_token: undefined }));
	assert.equal(bare.status, 201);
	assert.equal(bare.body.has_api_token, false);
	const empty = await call('POST', '/v1/supplier/nodes', endpointNode(model, { api_token: '' }));
	assert.equal(empty.body.has_api_token, false);
	assert.equal(await s.sql(`SELECT api_token_sealed IS NULL FROM nodes WHERE id = ${empty.body.id}`), 't');
});

test('every field is validated with a 400 naming it', async () => {
	const { call } = await supplier('valid');
	const m = modelId('v');
	const model = (over) => ({ models: [{ model: m, upstream_model: 'u', price_in: 1, price_out: 1, ...over }] });
	const cases = [
		[{ name: undefined }, 'name'], [{ name: '' }, 'name'], [{ name: 'x'.repeat(101) }, 'name'],
		[{ name: 7 }, 'name'], [{ name: 'tab\there' }, 'name'],
		[{ supply_type: undefined }, 'supply_type'], [{ supply_type: 'gpu' }, 'supply_type'],
		[{ connection: 'socket' }, 'connection'], [{ connection: null }, 'connection'],
		[{ max_concurrency: 0 }, 'max_concurrency'], [{ max_concurrency: 1025 }, 'max_concurrency'],
		[{ max_concurrency: 2.5 }, 'max_concurrency'], [{ max_concurrency: '4' }, 'max_concurrency'],
		[{ context_length: 0 }, 'context_length'], [{ context_length: 10000001 }, 'context_length'],
		[{ context_length: undefined }, 'context_length'],
		[{ base_url: undefined }, 'base_url'], [{ base_url: 'ftp://x.test' }, 'base_url'],
		[{ base_url: 'http://' }, 'base_url'], [{ base_url: 'https://x.test/' + 'a'.repeat(500) }, 'base_url'],
		[{ base_url: 'https://x.test/a b' }, 'base_url'], [{ base_url: 'https://x.test/\r\nX: y' }, 'base_url'],
		[{ api_token: 'x'.repeat(4097) }, 'api_token'], [{ api_token: 'bad\r\nheader' }, 'api_token'],
		[{ api_token: 12 }, 'api_token'],
		[{ models: undefined }, 'models'], [{ models: [] }, 'models'], [{ models: {} }, 'models'],
		[{ models: ['x'] }, 'models[0]'],
		[model({ model: '' }), 'models[0].model'], [model({ model: 'has space' }), 'models[0].model'],
		[model({ model: 'x'.repeat(101) }), 'models[0].model'], [model({ model: 'é' }), 'models[0].model'],
		[model({ upstream_model: '' }), 'models[0].upstream_model'],
		[model({ upstream_model: 'u'.repeat(201) }), 'models[0].upstream_model'],
		[model({ price_in: 0 }), 'models[0].price_in'], [model({ price_in: 1000000000001 }), 'models[0].price_in'],
		[model({ price_in: 1.5 }), 'models[0].price_in'], [model({ price_out: -1 }), 'models[0].price_out'],
		[model({ price_out: undefined }), 'models[0].price_out'], [model({ extra: 1 }), 'models[0].extra'],
		[{ models: [{ model: m, upstream_model: 'a', price_in: 1, price_out: 1 }, { model: m, upstream_model: 'b', price_in: 1, price_out: 1 }] }, 'models[1].model'],
		[{ colour: 'blue' }, 'colour'],
	];
	for (const [over, param] of cases) {
		const r = await call('POST', '/v1/supplier/nodes', endpointNode(m, over));
		assert.equal(r.status, 400, `${JSON.stringify(over)}: ${r.res.text_}`);
		assertApiError(r.body, 'invalid_request');
		assert.equal(r.body.error.param, param, JSON.stringify(over));
	}
	// Limits are inclusive; 100 characters and the largest price are fine.
	const edge = await call('POST', '/v1/supplier/nodes', endpointNode(m, {
		name: 'é'.repeat(100), max_concurrency: 1024, context_length: 10000000,
		models: [{ model: 'A'.repeat(100), upstream_model: 'u'.repeat(200), price_in: 1000000000000, price_out: 1 }],
	}));
	assert.equal(edge.status, 201, edge.res.text_);
	assert.equal(edge.body.name, 'é'.repeat(100));
	let r = await call('POST', '/v1/supplier/nodes');
	assert.equal(r.status, 400);
	assertApiError(r.body, 'invalid_json');
	r = await call('POST', '/v1/supplier/nodes', [1]);
	assert.equal(r.status, 400);
	assert.equal(await s.sql(`SELECT count(*) FROM node_models WHERE model = '${m}'`), '0', 'nothing half-made');
});

test('node changes need a session and its CSRF token; reads take a key', async () => {
	const { c, csrf, call } = await supplier('auth');
	const made = await call('POST', '/v1/supplier/nodes', workerNode(modelId('a')));
	let res = await c.post('/v1/supplier/nodes', { json: workerNode(modelId('a')) });
	assert.equal(res.status, 403);
	res = await fetch(`${s.url}/v1/supplier/nodes`);
	assert.equal(res.status, 401);
	const k = JSON.parse((await c.post('/v1/keys', { json: { name: 'k' }, headers: { 'x-csrf-token': csrf } })).text_).key;
	res = await fetch(`${s.url}/v1/supplier/nodes`, { headers: { authorization: `Bearer ${k}` } });
	assert.equal(res.status, 200);
	assert.equal((await res.json()).data[0].id, made.body.id);
	res = await fetch(`${s.url}/v1/supplier/nodes`, { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' }, body: JSON.stringify(workerNode(modelId('a'))) });
	assert.equal(res.status, 401, 'a key cannot register nodes');
});

test("another user's node is 404 for read, change and delete", async () => {
	const a = await supplier('owner'), b = await supplier('other');
	const made = await a.call('POST', '/v1/supplier/nodes', endpointNode(modelId('o')));
	for (const [method, body] of [['GET'], ['PATCH', { name: 'mine now' }], ['DELETE']]) {
		const r = await b.call(method, `/v1/supplier/nodes/${made.body.id}`, body);
		assert.equal(r.status, 404, method);
		assertApiError(r.body, 'not_found');
	}
	assert.deepEqual((await b.call('GET', '/v1/supplier/nodes')).body.data, []);
	for (const id of ['0', '-1', 'abc', '99999999', '1x'])
		assert.equal((await a.call('GET', `/v1/supplier/nodes/${id}`)).status, 404, id);
	assert.equal((await a.call('GET', `/v1/supplier/nodes/${made.body.id}`)).body.name, 'cloud box');
});

test('PATCH changes the given fields; models are replaced as a whole; the token anew', async () => {
	const { call } = await supplier('patch');
	const m1 = modelId('p1'), m2 = modelId('p2');
	const made = (await call('POST', '/v1/supplier/nodes', endpointNode(m1))).body;
	const sealed0 = await s.sql(`SELECT api_token_sealed FROM nodes WHERE id = ${made.id}`);
	let r = await call('PATCH', `/v1/supplier/nodes/${made.id}`, { name: 'renamed', max_concurrency: 16 });
	assert.equal(r.status, 200, r.res.text_);
	assert.equal(r.body.name, 'renamed');
	assert.equal(r.body.max_concurrency, 16);
	assert.equal(r.body.context_length, 8192, 'unchanged');
	assert.deepEqual(r.body.models, made.models, 'unchanged');
	assert.equal(await s.sql(`SELECT api_token_sealed FROM nodes WHERE id = ${made.id}`), sealed0);
	r = await call('PATCH', `/v1/supplier/nodes/${made.id}`, {
		context_length: 32768, base_url: 'http://127.0.0.1:9/v1', api_token: 'sk-rotated',
		models: [{ model: m2, upstream_model: 'up2', price_in: 7, price_out: 9 }],
	});
	assert.equal(r.status, 200, r.res.text_);
	assert.equal(r.body.context_length, 32768);
	assert.equal(r.body.base_url, 'http://127.0.0.1:9/v1');
	assert.equal(r.body.has_api_token, true);
	assert.deepEqual(r.body.models, [{ model: m2, upstream_model: 'up2', price_in: 7, price_out: 9 }]);
	assert.ok(!r.res.text_.includes('sk-rotated'));
	const sealed1 = await s.sql(`SELECT api_token_sealed FROM nodes WHERE id = ${made.id}`);
	assert.notEqual(sealed1, sealed0);
	assert.ok(!sealed1.includes('sk-rotated'));
	assert.ok(r.body.updated_at >= made.updated_at);
	r = await call('PATCH', `/v1/supplier/nodes/${made.id}`, { api_token: null });
	assert.equal(r.body.has_api_token, false);
	assert.equal(await s.sql(`SELECT api_token_sealed IS NULL FROM nodes WHERE id = ${made.id}`), 't');
	for (const [body, param] of [[{ connection: 'worker' }, 'connection'], [{ supply_type: 'self_hosted' }, 'supply_type'],
		[{ name: '' }, 'name'], [{ max_concurrency: 0 }, 'max_concurrency'], [{ base_url: null }, 'base_url'],
		[{ base_url: 'nope' }, 'base_url'], [{ models: [] }, 'models'], [{ nope: 1 }, 'nope']]) {
		r = await call('PATCH', `/v1/supplier/nodes/${made.id}`, body);
		assert.equal(r.status, 400, JSON.stringify(body));
		assert.equal(r.body.error.param, param);
	}
	// A worker takes no URL or token on PATCH either.
	const w = (await call('POST', '/v1/supplier/nodes', workerNode(m1))).body;
	r = await call('PATCH', `/v1/supplier/nodes/${w.id}`, { base_url: 'http://x.test' });
	assert.equal(r.status, 400);
	assert.equal(r.body.error.param, 'base_url');
	r = await call('PATCH', `/v1/supplier/nodes/${w.id}`, { api_token: 'x' });
	assert.equal(r.body.error.param, 'api_token');
	r = await call('PATCH', `/v1/supplier/nodes/${w.id}`, {});
	assert.equal(r.status, 200, 'an empty PATCH changes nothing');
});

test('DELETE is a soft delete: gone from lists, the catalog and routing, kept in the table', async () => {
	const { call } = await supplier('del');
	const m = modelId('d');
	const made = (await call('POST', '/v1/supplier/nodes', endpointNode(m))).body;
	assert.equal((await fetch(`${s.url}/v1/models/${m}`)).status, 200);
	let r = await call('DELETE', `/v1/supplier/nodes/${made.id}`);
	assert.equal(r.status, 200);
	assert.deepEqual(r.body, { id: made.id, object: 'node', deleted: true });
	assert.equal(await s.sql(`SELECT status || ' ' || (deleted_at IS NOT NULL) FROM nodes WHERE id = ${made.id}`), 'deleted true');
	assert.equal(await s.sql(`SELECT count(*) FROM node_models WHERE node_id = ${made.id}`), '1', 'history kept');
	assert.equal((await call('GET', `/v1/supplier/nodes/${made.id}`)).status, 404);
	assert.deepEqual((await call('GET', '/v1/supplier/nodes')).body.data, []);
	assert.equal((await call('DELETE', `/v1/supplier/nodes/${made.id}`)).status, 404);
	assert.equal((await call('PATCH', `/v1/supplier/nodes/${made.id}`, { name: 'back' })).status, 404);
	assert.equal((await fetch(`${s.url}/v1/models/${m}`)).status, 404);
});

test('/v1/models: OpenAI list shape, price ranges over active nodes, serving counts', async () => {
	const a = await supplier('cat-a'), b = await supplier('cat-b');
	const m = modelId('cat'), other = modelId('cat-other');
	const cheap = (await a.call('POST', '/v1/supplier/nodes', endpointNode(m, {
		models: [{ model: m, upstream_model: 'x', price_in: 100, price_out: 200 }],
	}))).body;
	await b.call('POST', '/v1/supplier/nodes', endpointNode(m, {
		context_length: 131072,
		models: [{ model: m, upstream_model: 'y', price_in: 900, price_out: 150 },
			{ model: other, upstream_model: 'z', price_in: 5, price_out: 5 }],
	}));
	const worker = (await b.call('POST', '/v1/supplier/nodes', workerNode(m, {
		models: [{ model: m, upstream_model: 'w', price_in: 400, price_out: 400 }],
	}))).body;
	const suspended = (await a.call('POST', '/v1/supplier/nodes', endpointNode(m, {
		models: [{ model: m, upstream_model: 's', price_in: 1, price_out: 99999 }],
	}))).body;
	await s.sql(`UPDATE nodes SET status = 'suspended' WHERE id = ${suspended.id}`);
	let res = await fetch(`${s.url}/v1/models`);
	assert.equal(res.status, 200);
	const list = await res.json();
	assert.equal(list.object, 'list');
	const got = list.data.find((x) => x.id === m);
	assert.ok(got, 'the model is listed');
	assert.equal(got.object, 'model');
	assert.equal(got.owned_by, 'infrpool');
	assert.equal(typeof got.created, 'number');
	assert.ok(Math.abs(got.created - Date.now() / 1000) < 3600);
	assert.deepEqual(got.pricing, { prompt: { min: 100, max: 900 }, completion: { min: 150, max: 400 } },
		'the suspended node is not counted');
	assert.equal(got.nodes, 2, 'two endpoints; the worker has not been seen');
	assert.equal(got.context_length, 131072);
	assert.ok(list.data.some((x) => x.id === other));
	// A worker seen in the last minute counts; one seen earlier does not.
	await s.sql(`UPDATE nodes SET last_seen_at = now() WHERE id = ${worker.id}`);
	res = await fetch(`${s.url}/v1/models/${m}`);
	assert.equal((await res.json()).nodes, 3);
	await s.sql(`UPDATE nodes SET last_seen_at = now() - interval '61 seconds' WHERE id = ${worker.id}`);
	const one = await (await fetch(`${s.url}/v1/models/${encodeURIComponent(m)}`)).json();
	assert.equal(one.nodes, 2, 'the id may come with %2F');
	assert.equal(one.id, m);
	// A model only on suspended or deleted nodes is not in the catalog.
	await a.call('DELETE', `/v1/supplier/nodes/${cheap.id}`);
	assert.deepEqual((await (await fetch(`${s.url}/v1/models/${m}`)).json()).pricing.prompt, { min: 400, max: 900 });
	for (const id of [modelId('none'), 'bad%20id', 'x'.repeat(101)]) {
		res = await fetch(`${s.url}/v1/models/${id}`);
		assert.equal(res.status, 404, id);
		assertApiError(await res.json(), 'model_not_found');
	}
});

test('without [crypto] keys the app runs; a token cannot be stored (503), the rest works', async () => {
	// An empty [crypto] section keeps ./dev from adding a key of its own.
	const t = await startStack({ conf: `${AUTH}[crypto]\nkeys =\n` });
	try {
		const { call } = await supplier('nokeys', t.url);
		const m = modelId('nk');
		let r = await call('POST', '/v1/supplier/nodes', endpointNode(m));
		assert.equal(r.status, 503);
		assertApiError(r.body, 'service_unavailable');
		assert.equal(r.body.error.param, 'api_token');
		assert.match(r.body.error.message, /the operator has not configured \[crypto\] keys/);
		assert.equal(await t.sql('SELECT count(*) FROM nodes'), '0', 'nothing half-made');
		r = await call('POST', '/v1/supplier/nodes', endpointNode(m, { api_token: '' }));
		assert.equal(r.status, 201);
		r = await call('PATCH', `/v1/supplier/nodes/${r.body.id}`, { api_token: 'sk-x' });
		assert.equal(r.status, 503);
		r = await call('POST', '/v1/supplier/nodes', workerNode(m));
		assert.equal(r.status, 201);
		assert.equal((await (await fetch(`${t.url}/v1/models/${m}`)).json()).nodes, 1);
	} finally {
		await t.stop();
	}
});

test('a malformed [crypto] keys value stops the app, naming the entry and never a key', async () => {
	const dir = scratch('badkeys');
	const secret = 'c0ffee'.repeat(10) + 'abcd';
	const conf = join(dir, 'infrpool.conf');
	writeFileSync(conf, `[app]\ntemplates = ${join(srcdir, 'templates')}\n[crypto]\nkeys = 1:${KEY1},1:${secret}\n`);
	const r = await runProgram(bin('infrpool-app'), ['-c', conf, '--listen', join(dir, 's'), '--workers', '1']);
	assert.notEqual(r.code, 0);
	assert.match(r.stderr, /infrpool\.conf:\d+: \[crypto\] keys: /);
	assert.ok(!r.stderr.includes(secret) && !r.stderr.includes(KEY1), r.stderr);
	writeFileSync(conf, `[app]\ntemplates = ${join(srcdir, 'templates')}\n[gateway]\ndefault_max_tokens = 40000\n`);
	const g = await runProgram(bin('infrpool-app'), ['-c', conf, '--listen', join(dir, 's'), '--workers', '1']);
	assert.notEqual(g.code, 0);
	assert.match(g.stderr, /\[gateway\] default_max_tokens: must not exceed max_tokens_cap \(32768\)/);
});
