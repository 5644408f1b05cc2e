// ssrf.test.mjs: a supplier's endpoint URL must not reach the operator's own
// network. With [relay] allow_private_endpoints off (the default), the relay
// refuses to connect to loopback, private or link-local addresses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, waitFor } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const PW = 'correct horse battery';
let s, m;

before(async () => {
	s = await startStack({ allowPrivate: false });
	m = await startMock();
});
after(async () => {
	await m?.stop();
	if (s) await s.stop();
});

test('an endpoint on a private address is never called, and nothing is charged', async () => {
	const sup = new Client(s.url), con = new Client(s.url);
	await sup.signup(uniqueEmail('sup'), PW);
	await con.signup(uniqueEmail('con'), PW);
	const sc = await sup.csrf();
	for (const [name, base] of [['loopback', m.base], ['metadata', 'http://169.254.169.254/v1'],
		['private', 'http://10.0.0.1/v1']]) {
		const res = await sup.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sc }, json: {
			name, supply_type: 'cloud', connection: 'endpoint', max_concurrency: 4, context_length: 4096,
			base_url: base, api_token: '', models: [{ model: `ssrf/${name}`, upstream_model: 'x', price_in: 1, price_out: 1 }] } });
		assert.equal(res.status, 201, res.text_);
	}
	const key = JSON.parse((await con.post('/v1/keys', { json: { name: 'k' },
		headers: { 'x-csrf-token': await con.csrf() } })).text_).key;
	const before_ = JSON.parse((await con.get('/v1/me')).text_).balances.spendable.micro_usd;
	for (const name of ['loopback', 'metadata', 'private']) {
		const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST',
			headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
			body: JSON.stringify({ model: `ssrf/${name}`, max_tokens: 2, messages: [{ role: 'user', content: 'x' }] }) });
		assert.equal(res.status, 502, name);
		assert.equal((await res.json()).error.code, 'upstream_error');
	}
	assert.equal((await m.stats()).requests, 0, 'the loopback mock was never reached');
	// The holds of the unserved requests are voided asynchronously.
	const after_ = await waitFor(async () => {
		const b = JSON.parse((await con.get('/v1/me')).text_).balances;
		return b.held.micro_usd === 0 && b;
	}, 10000, 'the holds to be voided');
	assert.equal(after_.spendable.micro_usd, before_, 'nothing charged');
});

// The relay's own calls to the app keep a connection to the internal
// listener open. A node whose URL names that listener must still be refused:
// the address is checked on every call, and supplier calls never share a
// connection with the relay's calls to the app.
test('an endpoint naming the internal listener is refused, even with a pooled connection there', async () => {
	const sup = new Client(s.url), con = new Client(s.url);
	await sup.signup(uniqueEmail('sup'), PW);
	await con.signup(uniqueEmail('con'), PW);
	const res = await sup.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': await sup.csrf() }, json: {
		name: 'internal', supply_type: 'cloud', connection: 'endpoint', max_concurrency: 4, context_length: 4096,
		base_url: `${s.internalUrl}/internal`, api_token: '',
		models: [{ model: 'ssrf/internal', upstream_model: 'x', price_in: 1, price_out: 1 }] } });
	assert.equal(res.status, 201, res.text_);
	const node = JSON.parse(res.text_).id;
	const key = JSON.parse((await con.post('/v1/keys', { json: { name: 'k' },
		headers: { 'x-csrf-token': await con.csrf() } })).text_).key;
	const refusals = () => readFileSync(join(s.dir, 'relay.log'), 'utf8')
		.split('\n').filter((l) => l.includes(`node ${node}: refused an endpoint on a private address`)).length;
	for (let i = 1; i <= 3; i++) {
		// Each request's admission leaves a connection to the internal
		// listener in the relay's cache just before the node is called.
		const r = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST',
			headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
			body: JSON.stringify({ model: 'ssrf/internal', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] }) });
		assert.equal(r.status, 502);
		assert.equal((await r.json()).error.code, 'upstream_error');
		assert.equal(await waitFor(() => refusals() >= i && refusals(), 5000, 'the refusal in the relay log'), i,
			'the relay refused the call before it was sent');
	}
});
