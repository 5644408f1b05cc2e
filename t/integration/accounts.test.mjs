// accounts.test.mjs: sign up, log in and out, sessions, CSRF, API keys, the
// consumer API and export, against the real stack behind lighttpd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startStack } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { assertApiError } from '../lib/front-cases.mjs';

const PW = 'correct horse battery';
let s;
before(async () => {
	s = await startStack({ conf: '[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\n' });
});
after(async () => { if (s) await s.stop(); });

async function newUser(tag) {
	const c = new Client(s.url), email = uniqueEmail(tag);
	await c.signup(email, PW);
	return { c, email };
}

test('sign up: a session cookie, a new account with the signup credits, once', async () => {
	const c = new Client(s.url), email = uniqueEmail('signup');
	const res = await c.signup(email.toUpperCase(), PW);
	assert.equal(res.headers.get('location'), '/account');
	const sid = c.setCookies.find((l) => l.startsWith('sid='));
	assert.ok(sid, 'a session cookie');
	assert.match(sid, /; HttpOnly/);
	assert.match(sid, /; SameSite=Lax/);
	assert.match(sid, /^sid=[0-9A-Za-z]{43};/);
	const page = await c.get('/account');
	assert.equal(page.status, 200);
	assert.match(page.text_, /Welcome! Your signup credits are on your account\./);
	assert.match(page.text_, /\$1\.000000/);
	const me = JSON.parse((await c.get('/v1/me')).text_);
	assert.equal(me.email, email, 'stored lower-cased');
	assert.equal(me.balances.credit.micro_usd, 1000000);
	assert.equal(me.balances.credit.usd, '1.000000');
	assert.equal(me.balances.spendable.micro_usd, 1000000);
	const grants = await s.sql(`SELECT count(*) FROM transfers WHERE idempotency_key = 'signup:${me.id}'`);
	assert.equal(grants, '1');
	// The session id is stored only as its SHA-256.
	const token = c.cookies.get('sid');
	assert.equal(await s.sql(`SELECT count(*) FROM sessions WHERE id_hash = decode('${createHash('sha256').update(token).digest('hex')}', 'hex')`), '1');
	// The same email again is refused and grants nothing.
	const again = await new Client(s.url).submit('/signup', '/signup', { email, password: PW });
	assert.equal(again.status, 409);
	assert.match(again.text_, /exists already/);
});

test('sign up: bad input gets the form back with the error beside its field', async () => {
	const c = new Client(s.url);
	let res = await c.submit('/signup', '/signup', { email: 'not-an-email', password: PW });
	assert.equal(res.status, 400);
	assert.match(res.text_, /id="email-error">Enter an email address/);
	assert.match(res.text_, /value="not-an-email"/);
	res = await c.submit('/signup', '/signup', { email: uniqueEmail(), password: 'short' });
	assert.equal(res.status, 400);
	assert.match(res.text_, /id="password-error">Use at least 10 characters\./);
	res = await c.submit('/signup', '/signup', { email: '<script>@x.y', password: PW });
	assert.equal(res.status, 400);
	assert.doesNotMatch(res.text_, /<script>@/, 'the value is escaped');
	assert.match(res.text_, /&lt;script&gt;@x\.y/);
});

test('state changes need the CSRF token, and GET changes nothing', async () => {
	const email = uniqueEmail('csrf');
	let c = new Client(s.url);
	await c.get('/signup');
	let res = await c.post('/signup', { form: { email, password: PW } });
	assert.equal(res.status, 403);
	res = await c.post('/signup', { form: { csrf: 'x'.repeat(43), email, password: PW } });
	assert.equal(res.status, 403);
	assert.equal(await s.sql(`SELECT count(*) FROM users WHERE email = '${email}'`), '0');
	({ c } = await newUser('csrf2'));
	res = await c.post('/logout', { form: {} });
	assert.equal(res.status, 403);
	assert.equal((await c.get('/v1/me')).status, 200, 'still logged in');
	res = await c.get('/logout');
	assert.equal(res.status, 405);
	const key = await c.post('/v1/keys', { json: { name: 'no csrf' } });
	assert.equal(key.status, 403);
	assertApiError(JSON.parse(key.text_), 'forbidden');
});

test('log in: a new session id each time; log out ends it on the server', async () => {
	const { c, email } = await newUser('login');
	const first = c.cookies.get('sid');
	await c.submit('/account', '/logout', {});
	assert.equal(c.cookies.has('sid'), false, 'the cookie is cleared');
	const stale = new Client(s.url);
	stale.cookies.set('sid', first);
	assert.equal((await stale.get('/v1/me')).status, 401, 'the old id is dead server-side');
	const page = await stale.get('/account');
	assert.equal(page.status, 303);
	assert.equal(page.headers.get('location'), '/login');
	const res = await c.login(email, PW);
	assert.equal(res.status, 303);
	assert.notEqual(c.cookies.get('sid'), first);
	assert.equal((await c.get('/v1/me')).status, 200);
	// Logging in again while logged in replaces the session.
	const second = c.cookies.get('sid');
	assert.equal((await c.get('/login')).status, 303, 'the form sends a logged-in user on');
	const again = await c.post('/login', { form: { csrf: await c.csrf(), email, password: PW } });
	assert.equal(again.status, 303);
	assert.notEqual(c.cookies.get('sid'), second);
	stale.cookies.set('sid', second);
	assert.equal((await stale.get('/v1/me')).status, 401);
});

test('"no such user" and "wrong password" get identical answers', async () => {
	const { email } = await newUser('enum');
	const c = new Client(s.url);
	const wrong = await c.login(email, 'wrong password!!');
	const none = await c.login(uniqueEmail('nobody'), 'wrong password!!');
	assert.equal(wrong.status, 401);
	assert.equal(none.status, wrong.status);
	const strip = (html) => html.replace(/value="[^"]*@example\.test"/, 'value=""');
	assert.equal(strip(none.text_), strip(wrong.text_));
	assert.match(wrong.text_, /Email or password is wrong\./);
	assert.deepEqual(none.setCookies, wrong.setCookies);
});

test('sessions expire: past the absolute lifetime the cookie is refused', async () => {
	const { c } = await newUser('expiry');
	const hash = createHash('sha256').update(c.cookies.get('sid')).digest('hex');
	await s.sql(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id_hash = decode('${hash}', 'hex')`);
	assert.equal((await c.get('/v1/me')).status, 401);
	const { c: d } = await newUser('idle');
	const h2 = createHash('sha256').update(d.cookies.get('sid')).digest('hex');
	await s.sql(`UPDATE sessions SET last_seen_at = now() - interval '13 hours' WHERE id_hash = decode('${h2}', 'hex')`);
	assert.equal((await d.get('/v1/me')).status, 401, 'idle longer than [auth] session_idle');
});

test('API keys from the page: shown once, stored as SHA-256, usable, revocable', async () => {
	const { c } = await newUser('keys');
	const made = await c.submit('/keys', '/keys', { name: 'laptop', expires: 'never' });
	assert.equal(made.status, 201);
	const key = /<code class="key"[^>]*>(ip_[0-9A-Za-z]{43})<\/code>/.exec(made.text_)?.[1];
	assert.ok(key, 'the secret is on the page');
	const list = await c.get('/keys');
	assert.ok(!list.text_.includes(key), 'never shown again');
	assert.match(list.text_, new RegExp(`<code>${key.slice(0, 9)}…</code>`));
	const hash = createHash('sha256').update(key).digest('hex');
	assert.equal(await s.sql(`SELECT count(*) FROM api_keys WHERE key_hash = decode('${hash}', 'hex')`), '1');
	assert.ok(!(await s.sql('SELECT row_to_json(k)::text FROM api_keys k')).includes(key.slice(9)));
	const api = new Client(s.url);
	let me = await api.get('/v1/me', { headers: { authorization: `Bearer ${key}` } });
	assert.equal(me.status, 200);
	assert.equal(JSON.parse(me.text_).csrf_token, undefined, 'no CSRF token for a key');
	assert.notEqual(await s.sql(`SELECT last_used_at FROM api_keys WHERE key_hash = decode('${hash}', 'hex')`), '');
	const id = await s.sql(`SELECT id FROM api_keys WHERE key_hash = decode('${hash}', 'hex')`);
	const page = await c.get('/keys');
	const rev = await c.post(`/keys/${id}/revoke`, { form: { csrf: Client.csrfOf(page.text_) } });
	assert.equal(rev.status, 303);
	me = await api.get('/v1/me', { headers: { authorization: `Bearer ${key}` } });
	assert.equal(me.status, 401);
	assertApiError(JSON.parse(me.text_), 'unauthorized');
	assert.match((await c.get('/keys')).text_, />revoked</);
	// Someone else's key id is not found.
	const { c: other } = await newUser('keys-other');
	const o = await other.submit('/keys', `/keys/${id}/revoke`, {});
	assert.equal(o.status, 404);
});

test('API keys from the JSON API with a session: create, list, revoke, expiry', async () => {
	const { c } = await newUser('keyapi');
	const csrf = await c.csrf();
	let res = await c.post('/v1/keys', { json: { name: 'ci', expires_in_days: 30 }, headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 201);
	const made = JSON.parse(res.text_);
	assert.match(made.key, /^ip_[0-9A-Za-z]{43}$/);
	assert.equal(made.prefix, made.key.slice(0, 9));
	assert.equal(made.name, 'ci');
	assert.ok(made.expires_at > made.created_at);
	res = await c.get('/v1/keys');
	const listed = JSON.parse(res.text_).data;
	assert.equal(listed.length, 1);
	assert.equal(listed[0].key, undefined, 'the secret is never listed');
	assert.equal(listed[0].key_hash, undefined);
	// Keys manage keys only with a session, not with a key.
	res = await new Client(s.url).get('/v1/keys', { headers: { authorization: `Bearer ${made.key}` } });
	assert.equal(res.status, 401);
	for (const [body, param] of [[{}, 'name'], [{ name: '' }, 'name'], [{ name: 5 }, 'name'],
		[{ name: 'x', expires_in_days: 0 }, 'expires_in_days'], [{ name: 'x', expires_in_days: 'soon' }, 'expires_in_days']]) {
		res = await c.post('/v1/keys', { json: body, headers: { 'x-csrf-token': csrf } });
		assert.equal(res.status, 400, JSON.stringify(body));
		assert.equal(JSON.parse(res.text_).error.param, param);
	}
	res = await c.request('POST', '/v1/keys', { headers: { 'x-csrf-token': csrf, 'content-type': 'application/json' } });
	assert.equal(res.status, 400);
	res = await c.request('DELETE', `/v1/keys/${made.id}`, { headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 200);
	assert.equal(JSON.parse(res.text_).revoked, true);
	res = await c.request('DELETE', `/v1/keys/${made.id}`, { headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 404);
	// An expired key stops working.
	res = await c.post('/v1/keys', { json: { name: 'old' }, headers: { 'x-csrf-token': csrf } });
	const old = JSON.parse(res.text_);
	await s.sql(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ${old.id}`);
	res = await new Client(s.url).get('/v1/me', { headers: { authorization: `Bearer ${old.key}` } });
	assert.equal(res.status, 401);
});

test('a bad bearer key gets 401 in the API shape', async () => {
	for (const auth of ['Bearer nope', `Bearer ip_${'a'.repeat(43)}`, 'Basic abc', '']) {
		const res = await fetch(`${s.url}/v1/me`, { headers: auth ? { authorization: auth } : {} });
		assert.equal(res.status, 401, auth);
		assertApiError(await res.json(), 'unauthorized');
	}
});

test('/v1/me/transfers pages newest first; /v1/me/export holds everything, no secrets', async () => {
	const { c, email } = await newUser('export');
	const csrf = await c.csrf();
	await c.post('/v1/keys', { json: { name: 'exported' }, headers: { 'x-csrf-token': csrf } });
	let res = await c.get('/v1/me/transfers?limit=1');
	assert.equal(res.status, 200);
	let page = JSON.parse(res.text_);
	assert.equal(page.object, 'list');
	assert.equal(page.data.length, 1);
	assert.equal(page.data[0].kind, 'signup');
	assert.equal(page.data[0].amount, 1000000);
	assert.equal(page.data[0].account, 'credit');
	assert.equal(page.has_more, false);
	for (const q of ['limit=0', 'limit=201', 'limit=x', 'before=-1']) {
		res = await c.get(`/v1/me/transfers?${q}`);
		assert.equal(res.status, 400, q);
	}
	// The export is a link (export.test.mjs has the rest); the document behind it:
	res = await c.get('/v1/me/export');
	assert.equal(res.status, 200);
	res = await c.get(JSON.parse(res.text_).url);
	assert.equal(res.status, 200);
	assert.match(res.headers.get('content-disposition'), /attachment; filename="infrpool-export\.json"/);
	const doc = JSON.parse(res.text_);
	assert.equal(doc.account.email, email);
	assert.equal(doc.account.balances.credit.micro_usd, 1000000);
	assert.equal(doc.api_keys.length, 1);
	assert.equal(doc.api_keys[0].name, 'exported');
	assert.equal(doc.transfers.length, 1);
	assert.doesNotMatch(res.text_, /argon2|key_hash|password|id_hash/);
});

test('change password: the current one is required; other sessions end', async () => {
	const { c, email } = await newUser('pw');
	const other = new Client(s.url);
	await other.login(email, PW);
	assert.equal((await other.get('/v1/me')).status, 200);
	let res = await c.submit('/settings', '/account/password', { current: 'not it at all', password: 'a new password 1' });
	assert.equal(res.status, 400);
	assert.match(res.text_, /That is not your current password\./);
	res = await c.submit('/settings', '/account/password', { current: PW, password: 'tiny' });
	assert.equal(res.status, 400);
	res = await c.submit('/settings', '/account/password', { current: PW, password: 'a new password 1' });
	assert.equal(res.status, 303);
	assert.equal((await c.get('/v1/me')).status, 200, 'this session stays');
	assert.equal((await other.get('/v1/me')).status, 401, 'the other is logged out');
	assert.equal((await new Client(s.url).login(email, PW)).status, 401);
	assert.equal((await new Client(s.url).login(email, 'a new password 1')).status, 303);
});

test('IP addresses are stored only as keyed hashes', async () => {
	await newUser('ip');
	const dump = [
		await s.sql('SELECT coalesce(string_agg(signup_ip_hash, \',\'), \'\') FROM users'),
		await s.sql('SELECT coalesce(string_agg(ip_hash, \',\'), \'\') FROM sessions'),
		await s.sql('SELECT coalesce(string_agg(bucket, \',\'), \'\') FROM rate_limits'),
	].join('\n');
	assert.match(dump, /k\d+:[0-9a-f]{64}/);
	assert.doesNotMatch(dump, /127\.0\.0\.1/);
	const all = await s.sql("SELECT string_agg(t::text, ' ') FROM (SELECT row_to_json(u)::text AS t FROM users u UNION ALL SELECT row_to_json(x)::text FROM sessions x UNION ALL SELECT row_to_json(r)::text FROM rate_limits r) q");
	assert.doesNotMatch(all, /127\.0\.0\.1/);
});
