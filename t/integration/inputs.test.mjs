// inputs.test.mjs: what the parsers and the one text check refuse: invalid
// UTF-8 in form fields and query parameters (a 400, never a 500), and
// control characters or invalid UTF-8 in user-given names (a 400 naming the
// field), on pages and in the JSON API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startStack } from '../lib/stack.mjs';
import { fcgiRequest } from '../lib/fcgi.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { assertApiError } from '../lib/front-cases.mjs';

const PW = 'correct horse battery';
const CONF = '[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\n';
let s;

before(async () => { s = await startStack({ conf: CONF }); });
after(async () => { if (s) await s.stop(); });

async function user(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
	return { c, csrf: await c.csrf() };
}

// POST a raw urlencoded body (already percent-encoded) with c's cookies.
async function rawForm(c, path, body) {
	const headers = { 'content-type': 'application/x-www-form-urlencoded' };
	if (c.cookies.size) headers.cookie = c.cookieHeader();
	const res = await fetch(s.url + path, { method: 'POST', body, headers, redirect: 'manual' });
	res.text_ = await res.text();
	return res;
}

// The CSRF token of the form on page path, for a raw POST.
async function csrfOf(c, path) {
	return encodeURIComponent(Client.csrfOf((await c.get(path)).text_));
}

function assertPage400(res, what) {
	assert.equal(res.status, 400, `${what}: ${res.status} ${res.text_.slice(0, 200)}`);
	assert.match(res.headers.get('content-type'), /^text\/html/, what);
}

test('invalid UTF-8 in a form field is a 400 page, not a 500', async () => {
	const anon = new Client(s.url);
	let t = await csrfOf(anon, '/login');
	assertPage400(await rawForm(anon, '/login', `csrf=${t}&email=a%FF%FE@x.test&password=x`), 'login');
	t = await csrfOf(anon, '/signup');
	assertPage400(await rawForm(anon, '/signup', `csrf=${t}&email=b%C3@x.test&password=${encodeURIComponent(PW)}`), 'signup');
	const { c } = await user('utf8-form');
	t = await csrfOf(c, '/keys');
	assertPage400(await rawForm(c, '/keys', `csrf=${t}&name=k%C0%AF&expires=never`), 'keys');
	t = await csrfOf(c, '/nodes');
	assertPage400(await rawForm(c, '/nodes', `csrf=${t}&name=n%ED%A0%80&supply_type=self_hosted` +
		'&connection=worker&max_concurrency=1&context_length=4096&model=m/x&price_in=1&price_out=1'), 'nodes');
	assert.equal(await s.sql("SELECT count(*) FROM api_keys WHERE name LIKE 'k%'"), '0');
});

// lighttpd refuses a URL with invalid UTF-8 itself; other fronts pass it on,
// so these go to the app's FastCGI socket as a web server would send them.
test('invalid UTF-8 in a query parameter is a 400: a page, or JSON under /v1/', async () => {
	const { c } = await user('utf8-query');
	await s.sql(`UPDATE users SET role = 'admin' WHERE id = (SELECT max(id) FROM users)`);
	const sock = join(s.dir, 'app.sock-0'), headers = { cookie: c.cookieHeader() };
	for (const uri of ['/admin/users?q=%FF', '/usage?model=%FF', '/usage?from=%C3']) {
		const res = await fcgiRequest(sock, { uri, headers });
		assert.equal(res.status, 400, `${uri}: ${res.status} ${res.body.slice(0, 200)}`);
		assert.match(res.body, /<title>/, `${uri}: the error page`);
	}
	const res = await fcgiRequest(sock, { uri: '/v1/me/usage?model=%E2%82', headers });
	assert.equal(res.status, 400);
	assertApiError(JSON.parse(res.body), 'invalid_request');
});

const BAD_NAMES = [
	['CR LF', 'a\r\nb'], ['ESC', 'red \u001b[31m'], ['DEL', 'x\u007f'],
	['C1 NEL', 'x\u0085y'], ['C1 CSI', '\u009b31m'], ['TAB', 'a\tb'],
];

test('API key names: control characters are refused, naming the field', async () => {
	const { c, csrf } = await user('key-names');
	for (const [what, name] of BAD_NAMES) {
		const res = await c.post('/v1/keys', { json: { name }, headers: { 'x-csrf-token': csrf } });
		assert.equal(res.status, 400, `${what}: ${res.text_}`);
		const body = JSON.parse(res.text_);
		assertApiError(body, 'invalid_request');
		assert.equal(body.error.param, 'name', what);
		assert.match(body.error.message, /'name'/, what);
		const page = await c.submit('/keys', '/keys', { name, expires: 'never' });
		assert.equal(page.status, 400, `${what} (page)`);
		assert.match(page.text_, /id="name-error"/, `${what} (page)`);
	}
	const ok = await c.post('/v1/keys', { json: { name: 'laptop ☕ é' }, headers: { 'x-csrf-token': csrf } });
	assert.equal(ok.status, 201, 'printable Unicode is fine');
	assert.equal(await s.sql(`SELECT count(*) FROM api_keys WHERE name ~ '[\\x01-\\x1f\\x7f\\u0080-\\u009f]'`), '0');
});

test('node names: control characters (C1 too) are refused, naming the field', async () => {
	const { c, csrf } = await user('node-names');
	for (const [what, name] of BAD_NAMES) {
		const res = await c.post('/v1/supplier/nodes', {
			json: {
				name, supply_type: 'self_hosted', connection: 'worker', max_concurrency: 1,
				context_length: 4096, models: [{ model: 'm/x', upstream_model: 'u', price_in: 1, price_out: 1 }],
			},
			headers: { 'x-csrf-token': csrf },
		});
		assert.equal(res.status, 400, `${what}: ${res.text_}`);
		assert.equal(JSON.parse(res.text_).error.param, 'name', what);
		const page = await c.submit('/nodes', '/nodes', {
			name, supply_type: 'self_hosted', connection: 'worker', max_concurrency: '1',
			context_length: '4096', model: 'm/x', upstream_model: '', price_in: '1', price_out: '1',
		});
		assert.equal(page.status, 400, `${what} (page)`);
		assert.match(page.text_, /id="name-error"/, `${what} (page)`);
	}
	assert.equal(await s.sql('SELECT count(*) FROM nodes'), '0');
});
