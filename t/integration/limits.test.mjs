// limits.test.mjs: rate limits on login and signup, and production cookies
// (Secure, __Host-), on a stack of their own so the counters start at zero.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';

const PW = 'correct horse battery';
let s;
before(async () => {
	s = await startStack({ cookieSecure: true,
		conf: '[auth]\nlogin_per_ip = 8\nlogin_per_account = 3\nsignup_per_ip = 3\n' });
});
after(async () => { if (s) await s.stop(); });

// Secure cookies are not sent back over plain HTTP by browsers; this client
// does, which lets the test see the server side of them.
test('production cookies are __Host- prefixed and Secure', async () => {
	const c = new Client(s.url);
	await c.signup(uniqueEmail('secure'), PW);
	const sid = c.setCookies.find((l) => l.startsWith('__Host-sid='));
	assert.ok(sid, c.setCookies.join(' | '));
	assert.match(sid, /; Secure/);
	assert.match(sid, /; HttpOnly/);
	assert.match(sid, /; Path=\//);
	assert.doesNotMatch(sid, /Domain=/i);
	assert.equal((await c.get('/v1/me')).status, 200);
	const form = await new Client(s.url).get('/login');
	assert.ok(form.headers.getSetCookie().some((l) => /^__Host-csrf=.*; Secure/.test(l)));
});

test('signups per address are limited, with Retry-After', async () => {
	// The first test used one signup of the three.
	for (let i = 0; i < 2; i++)
		assert.equal((await new Client(s.url).submit('/signup', '/signup',
			{ email: uniqueEmail('lim'), password: PW })).status, 303);
	const res = await new Client(s.url).submit('/signup', '/signup', { email: uniqueEmail('lim'), password: PW });
	assert.equal(res.status, 429);
	assert.ok(Number(res.headers.get('retry-after')) > 0);
	assert.match(res.text_, /Too Many Requests/);
});

test('logins per account are limited; success clears the count', async () => {
	const email = (await s.sql("SELECT email FROM users ORDER BY id LIMIT 1"));
	const login = (pw) => new Client(s.url).login(email, pw);
	assert.equal((await login('wrong password 1')).status, 401);
	assert.equal((await login(PW)).status, 303, 'success resets the account count');
	for (let i = 0; i < 3; i++)
		assert.equal((await login('wrong password 2')).status, 401);
	const res = await login(PW);
	assert.equal(res.status, 429, 'even the right password waits');
	assert.ok(Number(res.headers.get('retry-after')) > 0);
});

test('logins per address are limited across accounts', async () => {
	const statuses = [];
	for (let i = 0; i < 4; i++)
		statuses.push((await new Client(s.url).login(uniqueEmail('nobody'), 'whatever password')).status);
	// Six attempts came before from this address; the limit is eight.
	assert.deepEqual(statuses, [401, 401, 429, 429]);
});
