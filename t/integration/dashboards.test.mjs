// dashboards.test.mjs: the consumer's, supplier's and operator's pages over
// real HTTP: every page valid HTML (html-validate), empty states, the usage
// table's filters and paging, the charts, the operator's suspend and
// unsuspend with a reason, and the 403, 404 and 500 pages in the site's style.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, waitFor } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { OpenAI } from '../lib/peers.mjs';
import { assertValidHtml, htmlProblems } from '../lib/html.mjs';

const PW = 'correct horse battery';
const model = 'dash/model-a', other = 'dash/model-b';
let s, m, sup, con, admin, client, node;

async function user(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
	return { c, csrf: await c.csrf() };
}

// GET path with c; the status must be want and the page valid HTML.
async function page(c, path, want = 200) {
	const res = await c.get(path);
	assert.equal(res.status, want, `${path}: ${res.text_.slice(0, 400)}`);
	await assertValidHtml(res.text_, path);
	return res.text_;
}

async function held(c) {
	return JSON.parse((await c.get('/v1/me')).text_).balances.held.micro_usd;
}

before(async () => {
	s = await startStack({ conf: '[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\n' +
		'[gateway]\nramp_start_pct = 100\n' });
	m = await startMock();
	sup = await user('dsup');
	con = await user('dcon');
	// The operator: an account made admin the way infrpoolctl does it.
	admin = await user('dadmin');
	await s.sql(`UPDATE users SET role = 'admin' WHERE id = (SELECT max(id) FROM users)`);
	const res = await sup.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sup.csrf }, json: {
		name: 'dash <node>', supply_type: 'cloud', connection: 'endpoint', max_concurrency: 8,
		context_length: 8192, base_url: m.base,
		models: [{ model, upstream_model: 'up-a', price_in: 100000, price_out: 300000 },
			{ model: other, upstream_model: 'up-b', price_in: 200000, price_out: 400000 }] } });
	assert.equal(res.status, 201, res.text_);
	node = JSON.parse(res.text_);
	const k = await con.c.post('/v1/keys', { json: { name: 'dash' }, headers: { 'x-csrf-token': con.csrf } });
	assert.equal(k.status, 201, k.text_);
	const OpenAIClass = await OpenAI();
	client = new OpenAIClass({ apiKey: JSON.parse(k.text_).key, baseURL: `${s.url}/v1`, maxRetries: 0 });
});

after(async () => {
	await m?.stop();
	if (s) await s.stop();
});

test('the validator can fail: a broken page is reported', async () => {
	const problems = await htmlProblems('<!DOCTYPE html><html lang="en"><head><title>x</title></head>' +
		'<body><p><div>x</p></div><a href="/" href="/">y</a></body></html>', 'broken');
	assert.ok(problems.length >= 2, problems.join('\n'));
});

test('a newcomer sees empty states that say what to do next, on valid pages', async () => {
	const u = await user('fresh');
	const dash = await page(u.c, '/account');
	assert.match(dash, /<title>Dashboard · /);
	assert.match(dash, /Start here/);
	assert.match(dash, /href="\/keys">Create an API key/);
	assert.match(dash, /No requests in the last 30 days/);
	assert.match(dash, /aria-current="page">Dashboard</);
	const usage = await page(u.c, '/usage');
	assert.match(usage, /No requests yet\./);
	assert.match(usage, /<svg class="chart"[^>]*role="img"/, 'the charts draw, empty');
	assert.match(usage, /Total 0\./);
	const nodes = await page(u.c, '/nodes');
	assert.match(nodes, /You have no nodes yet/);
	assert.doesNotMatch(nodes, /Requests served/, 'no served summary before a node exists');
	const qs = await page(u.c, '/quickstart');
	assert.match(qs, /You have no API key yet/);
	assert.match(qs, new RegExp(`${s.url.replace(/[.]/g, '\\.')}/v1`), 'the base URL');
	await page(u.c, '/settings');
	await page(u.c, '/keys');
	await page(new Client(s.url), '/models');
	await page(new Client(s.url), '/');
	await page(new Client(s.url), '/login');
	await page(new Client(s.url), '/signup');
});

test('every form\'s error, secret and flash states are valid HTML too', async () => {
	const anon = new Client(s.url);
	let res = await anon.submit('/signup', '/signup', { email: 'not an email', password: 'x' });
	assert.equal(res.status, 400);
	await assertValidHtml(res.text_, 'signup errors');
	res = await anon.submit('/login', '/login', { email: 'nobody@example.test', password: 'wrong one' });
	assert.equal(res.status, 401);
	await assertValidHtml(res.text_, 'login failed');
	const u = await user('forms');
	res = await u.c.submit('/keys', '/keys', { name: '', expires: 'never' });
	assert.equal(res.status, 400);
	await assertValidHtml(res.text_, 'key errors');
	res = await u.c.submit('/keys', '/keys', { name: 'k <1>', expires: '30' });
	assert.equal(res.status, 201);
	await assertValidHtml(res.text_, 'key shown once');
	res = await u.c.submit('/settings', '/account/password', { current: 'nope', password: 'x' });
	assert.equal(res.status, 400);
	await assertValidHtml(res.text_, 'password errors');
	res = await u.c.submit('/nodes', '/nodes', { name: '', connection: 'endpoint', max_concurrency: 'many' });
	assert.equal(res.status, 400);
	await assertValidHtml(res.text_, 'node errors');
	res = await u.c.submit('/nodes', '/nodes', { name: 'gpu', supply_type: 'self_hosted', connection: 'worker',
		max_concurrency: '2', context_length: '4096', model: 'forms/m', price_in: '0.1', price_out: '0.2' });
	assert.equal(res.status, 201);
	assert.match(res.text_, /id="node-token"/);
	await assertValidHtml(res.text_, 'node token shown once');
	const keyId = /action="\/keys\/(\d+)\/revoke"/.exec((await u.c.get('/keys')).text_)[1];
	res = await u.c.submit('/keys', `/keys/${keyId}/revoke`, {});
	assert.equal(res.status, 303);
	assert.match(await page(u.c, '/keys'), /<p class="flash" role="status">The key is revoked/);
	res = await u.c.submit('/account', '/logout', {});
	assert.equal(res.status, 303);
	await page(u.c, '/', 200);
});

test('usage: requests appear in the table and charts; filters and paging work', async () => {
	for (const id of [model, model, other])
		await client.chat.completions.create({ model: id, max_tokens: 5,
			messages: [{ role: 'user', content: 'one two three' }] });
	await waitFor(async () => (await held(con.c)) === 0, 10000, 'settlement');
	const all = await page(con.c, '/usage');
	const rows = (html) => (html.match(/<tr><td>\d{4}-/g) ?? []).length;
	assert.equal(rows(all), 3);
	assert.doesNotMatch(all, /one two three/, 'never the content');
	assert.match(all, /<desc id="tokens-d">Total [1-9]/, 'the tokens chart counts them');
	assert.match(all, /<desc id="spend-d">Total \$0\.0000\d+; highest/);
	const day = new Date().toISOString().slice(0, 10);
	const one = await page(con.c, `/usage?model=${encodeURIComponent(other)}&from=${day}&to=${day}`);
	assert.equal(rows(one), 1);
	assert.match(one, /value="dash\/model-b"/, 'the filter is kept in the form');
	assert.equal(rows(await page(con.c, '/usage?from=2020-01-01&to=2020-01-31')), 0);
	assert.match(await page(con.c, '/usage?from=2020-01-01&to=2020-01-31'), /No requests match these filters/);
	// Two a page: the older link carries the filters and the page's end.
	const p1 = await page(con.c, '/usage?limit=2');
	assert.equal(rows(p1), 2);
	const next = /href="(\/usage\?[^"]*before=\d+)" rel="next"/.exec(p1);
	assert.ok(next, 'an older page is linked');
	const p2 = await page(con.c, next[1].replace(/&amp;/g, '&'));
	assert.equal(rows(p2), 1);
	assert.doesNotMatch(p2, /rel="next"/);
	// Bad filters: 400, the error beside its field, nothing else lost.
	for (const [q, field] of [['from=2026-02-30', 'from'], ['to=yesterday', 'to'], ['model=a%20b', 'model']]) {
		const bad = await page(con.c, `/usage?${q}`, 400);
		assert.match(bad, new RegExp(`id="${field}"[^>]*aria-invalid="true" aria-describedby="${field}-error"`));
		assert.match(bad, new RegExp(`<p class="error" id="${field}-error">`));
	}
	await page(con.c, '/usage?limit=0', 400);
	// The dashboard shows the spending; the models page the catalog.
	const dash = await page(con.c, '/account');
	assert.match(dash, /Requests: 3 · spent: \$0\.0000\d+/);
	assert.doesNotMatch(dash, /Start here/, 'a key exists');
	const models = await page(con.c, '/models');
	assert.match(models, /<code>dash\/model-a<\/code><\/th><td class="num">\$0\.10<\/td><td class="num">\$0\.30<\/td><td class="num">8,192<\/td><td class="num">1</);
	const qs = await page(con.c, '/quickstart');
	assert.match(qs, /Bearer ip_[0-9A-Za-z]{6,}…/, 'the key prefix, never the key');
	assert.match(qs, /model="dash\/model-[ab]"/);
});

test('supplier: the nodes page shows what was served, earned and the chart', async () => {
	const html = await page(sup.c, '/nodes');
	assert.match(html, /id="served-requests">3</);
	assert.match(html, /id="served-earned">\$0\.0000\d+</);
	assert.match(html, /<desc id="earned-d">Total \$0\.0000\d+; highest/);
	assert.match(html, /dash &lt;node&gt;/, 'escaped');
	assert.doesNotMatch(html, /dash <node>/);
});

test('operator pages: 403 for others, a login for strangers, valid for the admin', async () => {
	for (const p of ['/admin', '/admin/users', '/admin/nodes', '/admin/jobs']) {
		const res = await con.c.get(p);
		assert.equal(res.status, 403, p);
		assert.match(res.text_, /This page is for the platform&#39;s operators\./);
		assert.match(res.text_, /<nav aria-label="Main">/, 'the site\'s layout');
		await assertValidHtml(res.text_, `403 ${p}`);
		const anon = await new Client(s.url).get(p);
		assert.equal(anon.status, 303);
		assert.equal(anon.headers.get('location'), '/login');
	}
	const forged = await con.c.post(`/admin/nodes/${node.id}/suspend`, { form: { csrf: con.csrf, reason: 'x' } });
	assert.equal(forged.status, 403);
	assert.equal(await s.sql(`SELECT status FROM nodes WHERE id = ${node.id}`), 'active');

	const a = admin;
	const ov = await page(a.c, '/admin');
	assert.match(ov, /id="ledger-result">Clean: /);
	assert.match(ov, /id="holds-open">0</);
	assert.match(ov, /<desc id="fees-d">Total \$0\.0000\d+; highest/);
	assert.match(ov, /aria-current="page">Overview</);
	const jobs = await page(a.c, '/admin/jobs');
	assert.match(jobs, /aria-current="page">Jobs</);
	assert.match(jobs, /<td>holds-reap<\/td><td>every minute<\/td>/);
	const users = await page(a.c, '/admin/users');
	assert.ok((users.match(/<tr><td>\d+<\/td>/g) ?? []).length >= 3);
	const found = await page(a.c, `/admin/users?q=${encodeURIComponent('dcon')}`);
	assert.equal((found.match(/<tr><td>\d+<\/td>/g) ?? []).length, 1);
	assert.match(await page(a.c, '/admin/users?q=nobody-at-all'), /No user matches/);
});

test('operator: suspend with a reason takes the node out; unsuspend brings it back', async () => {
	const a = admin.c;
	let html = await page(a, '/admin/nodes');
	assert.match(html, new RegExp(`action="/admin/nodes/${node.id}/suspend"`));
	// No reason: 400, the error beside the field, nothing changed.
	let res = await a.submit('/admin/nodes', `/admin/nodes/${node.id}/suspend`, { reason: '   ' });
	assert.equal(res.status, 400);
	assert.match(res.text_, new RegExp(`id="reason-${node.id}"[^>]*aria-invalid="true"`));
	await assertValidHtml(res.text_, 'suspend without reason');
	assert.equal(await s.sql(`SELECT status FROM nodes WHERE id = ${node.id}`), 'active');

	res = await a.submit('/admin/nodes', `/admin/nodes/${node.id}/suspend`, { reason: 'token counts <off> by 40%' });
	assert.equal(res.status, 303);
	assert.equal(res.headers.get('location'), '/admin/nodes');
	html = await page(a, '/admin/nodes');
	assert.match(html, /The node is suspended/, 'the flash');
	assert.match(html, /token counts &lt;off&gt; by 40%/);
	assert.equal(await s.sql(`SELECT action || ':' || reason FROM admin_actions WHERE node_id = ${node.id}`),
		'node_suspend:token counts <off> by 40%');
	// Out of the pool: no catalog entry, and no admission once the relay
	// has heard of the change (within a second).
	const models = JSON.parse((await new Client(s.url).get('/v1/models')).text_).data.map((x) => x.id);
	assert.ok(!models.includes(model));
	await waitFor(async () => {
		try {
			await client.chat.completions.create({ model, max_tokens: 3,
				messages: [{ role: 'user', content: 'hi' }] });
			return false;
		} catch (e) {
			assert.ok(e.status === 404 || e.status === 503, String(e));
			return true;
		}
	}, 1000, 'the suspended node out of the relay\'s pool');
	// The supplier sees why.
	const mine = await page(sup.c, '/nodes');
	assert.match(mine, /The operator suspended this node: token counts &lt;off&gt; by 40%/);
	// Twice: a clear 409, not a second record.
	res = await a.submit('/admin/nodes', `/admin/nodes/${node.id}/suspend`, { reason: 'again' });
	assert.equal(res.status, 409);
	await assertValidHtml(res.text_, 'suspend twice');

	res = await a.submit('/admin/nodes', `/admin/nodes/${node.id}/unsuspend`, {});
	assert.equal(res.status, 303);
	assert.equal(await s.sql(`SELECT status || ':' || coalesce(suspended_reason, '-') FROM nodes WHERE id = ${node.id}`),
		'active:-');
	assert.equal(await s.sql(`SELECT count(*) FROM admin_actions WHERE node_id = ${node.id}`), '2');
	// Back in the relay's pool within a second, too.
	const r = await waitFor(() => client.chat.completions.create({ model, max_tokens: 3,
		messages: [{ role: 'user', content: 'hi' }] }).catch(() => null), 1000, 'the node back in the pool');
	assert.equal(r.model, model);
	await waitFor(async () => (await held(con.c)) === 0, 10000, 'settlement');
	assert.equal((await a.submit('/admin/nodes', '/admin/nodes/999999999/unsuspend', {})).status, 409);
	assert.equal((await a.submit('/admin/nodes', '/admin/nodes/x1/unsuspend', {})).status, 404);
});

test('404, 405 and 500 pages share the layout and are valid', async () => {
	let html = await page(con.c, '/no/such/page', 404);
	assert.match(html, /<p class="status-code">404<\/p>/);
	assert.match(html, /<title>Not Found · /);
	assert.match(html, /href="\/account">Go to your dashboard/);
	html = await page(new Client(s.url), '/nope', 404);
	assert.match(html, /href="\/login">log in/);
	const res = await con.c.request('DELETE', '/models');
	assert.equal(res.status, 405);
	await assertValidHtml(res.text_, '405');
	// The database gone: a public page's query fails, a 500 in the same style.
	await s.pg('stop');
	try {
		html = await page(new Client(s.url), '/models', 500);
		assert.match(html, /<p class="status-code">500<\/p>/);
		assert.match(html, /<nav aria-label="Main">/);
		assert.doesNotMatch(html, /postgres|libpq|SQL|connection/i, 'no internals');
	} finally {
		await s.pg('start');
	}
	await waitFor(async () => (await new Client(s.url).get('/models')).status === 200, 15000, 'the database back');
});
