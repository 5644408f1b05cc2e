// browser.test.mjs: the dashboards in a real browser (Debian's Chromium,
// driven by playwright-core): a consumer signs up, sees the signup credits,
// makes a key, calls the API with the openai client through a supplier's
// worker node, and finds the request in usage with the balance down by its
// cost; the supplier sees the earning; the operator suspends the node and it
// gets no more traffic. Screenshots of the main pages are kept beside the
// test's log, in t/integration/browser-screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, bin, builddir, waitFor } from '../lib/stack.mjs';
import { uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { OpenAI, requirePeer } from '../lib/peers.mjs';
import { startFakeStripe } from '../lib/stripe.mjs';

const CHROMIUM = '/usr/bin/chromium';
const PW = 'correct horse battery', model = 'browser/demo-chat';
const SHOTS = join(builddir, 't', 'integration', 'browser-screenshots');
let s, m, browser, worker, fake;
const contexts = [];

// "$1.234567" on a page as micro-USD.
const micro = (text) => {
	const mm = /^\$(\d+)\.(\d{1,6})$/.exec(text.trim());
	assert.ok(mm, `a dollar amount: ${text}`);
	return Number(mm[1]) * 1e6 + Number(mm[2].padEnd(6, '0'));
};

// A fresh browser session (its own cookies), phone-sized when asked.
async function session(viewport = { width: 1280, height: 900 }) {
	const ctx = await browser.newContext({ viewport, baseURL: s.url });
	contexts.push(ctx);
	const page = await ctx.newPage();
	page.on('pageerror', (e) => { page.jsErrors = [...(page.jsErrors ?? []), String(e)]; });
	page.on('response', (res) => {
		if (res.status() >= 400 && res.request().resourceType() !== 'document')
			page.jsErrors = [...(page.jsErrors ?? []), `${res.status()} ${res.url()}`];
	});
	page.on('console', (msg) => {
		if (msg.type() === 'error') page.jsErrors = [...(page.jsErrors ?? []), msg.text()];
	});
	return page;
}

async function shot(page, name) {
	const file = join(SHOTS, `${name}.png`);
	await page.screenshot({ path: file, fullPage: true });
	const png = readFileSync(file);
	assert.equal(png.subarray(1, 4).toString(), 'PNG', `${name}.png is a PNG`);
	assert.ok(statSync(file).size > 5000, `${name}.png has content`);
}

async function signup(page, email) {
	await page.goto('/signup');
	await page.getByLabel('Email').fill(email);
	await page.getByLabel('Password').fill(PW);
	await Promise.all([page.waitForURL('**/account'), page.getByRole('button', { name: 'Create account' }).click()]);
}

before(async () => {
	mkdirSync(SHOTS, { recursive: true });
	fake = await startFakeStripe();
	s = await startStack({ conf: '[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\n' +
		'[relay]\nreport_interval = 1\n[gateway]\nramp_start_pct = 100\n' + fake.conf });
	fake.setWebhookUrl(`${s.url}/hooks/stripe`);
	m = await startMock();
	const { chromium } = requirePeer('playwright-core');
	browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
		args: process.getuid() === 0 ? ['--no-sandbox'] : [] });
});

after(async () => {
	for (const c of contexts) await c.close().catch(() => {});
	await browser?.close();
	if (worker) {
		worker.kill('SIGTERM');
		await worker.exited;
	}
	await m?.stop();
	await fake?.stop();
	if (s) await s.stop();
});

test('sign up, key, call, usage, earning, suspension: the whole loop in Chromium', async () => {
	// --- the supplier adds a worker node from the nodes page and starts it.
	const sup = await session();
	await signup(sup, uniqueEmail('bsup'));
	await sup.goto('/nodes');
	await shot(sup, 'nodes-empty');
	await sup.getByLabel('Name', { exact: true }).fill('home gpu');
	await sup.getByLabel('Public model id').fill(model);
	await sup.getByLabel('Name on your server (optional)').fill('mock-local');
	await sup.getByLabel('Input price, dollars per 1M tokens').fill('0.10');
	await sup.getByLabel('Output price, dollars per 1M tokens').fill('0.30');
	await sup.getByRole('button', { name: 'Add node' }).click();
	const token = (await sup.locator('#node-token').textContent()).trim();
	assert.match(token, /^ipn_[0-9A-Za-z]{43}$/);
	assert.match(await sup.locator('pre.command').textContent(), /infrpool-worker --platform http/);
	await sup.locator('button.copy').first().waitFor();	// the script ran under the CSP
	const t0 = Date.now() - 1000;
	worker = spawn(bin('infrpool-worker'), ['--platform', s.url, '--upstream', m.base, '--concurrency', '8'],
		{ env: { ...process.env, INFRPOOL_WORKER_TOKEN: token, INFRPOOL_CONFIG: '' },
			// Its log beside the stack's, which a failing test prints.
			stdio: ['ignore', 'ignore', openSync(join(s.dir, 'worker.log'), 'a')] });
	worker.exited = new Promise((r) => worker.on('exit', r));
	await waitFor(async () => {
		const res = await sup.request.get('/v1/supplier/nodes');
		const n = (await res.json()).data[0];
		return n.state === 'online' && Date.parse(n.last_seen_at) >= t0;
	}, 15000, 'the worker node online');
	await sup.goto('/nodes');
	assert.equal((await sup.locator('.badge.online').count()) >= 1, true, 'shown online');

	// --- the consumer signs up: the dashboard shows the signup credits.
	const con = await session(), conEmail = uniqueEmail('bcon');
	await signup(con, conEmail);
	assert.match(await con.locator('.flash').textContent(), /signup credits/);
	assert.equal(micro(await con.locator('#credit').textContent()), 1000000);
	assert.equal(micro(await con.locator('#spendable').textContent()), 1000000);
	await shot(con, 'dashboard-new');

	// --- makes a key: shown once, with a copy button.
	await con.getByRole('link', { name: 'API keys' }).click();
	await con.getByLabel('Name').fill('browser test');
	await con.getByRole('button', { name: 'Create key' }).click();
	const key = (await con.locator('#new-key').textContent()).trim();
	assert.match(key, /^ip_[0-9A-Za-z]{43}$/);
	await con.locator('button.copy').first().waitFor();
	await shot(con, 'keys');

	// --- the model is in the catalog, and the quickstart uses the key's prefix.
	await con.goto('/models');
	await assert.doesNotReject(con.getByRole('rowheader', { name: model }).waitFor());
	await shot(con, 'models');
	await con.goto('/quickstart');
	assert.match(await con.locator('pre.command').first().textContent(), new RegExp(`Bearer ${key.slice(0, 9)}…`));
	await shot(con, 'quickstart');

	// --- calls the API with the official client.
	const OpenAIClass = await OpenAI();
	const client = new OpenAIClass({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
	const reply = await client.chat.completions.create({ model, max_tokens: 6,
		messages: [{ role: 'user', content: 'say something short' }] });
	assert.equal(reply.model, model);
	const usage = await waitFor(async () => {
		const me = await (await con.request.get('/v1/me')).json();
		if (me.balances.held.micro_usd !== 0) return null;
		const u = await (await con.request.get('/v1/me/usage')).json();
		return u.data.length === 1 && u.data[0].status === 'ok' && u.data[0];
	}, 10000, 'settlement');
	const cost = usage.cost.micro_usd;
	assert.ok(cost > 0);

	// --- the request is in usage; the balance dropped by exactly its cost.
	await con.goto('/usage');
	const row = con.locator('#usage-table tbody tr');
	assert.equal(await row.count(), 1);
	assert.match(await row.first().textContent(), new RegExp(model.replace('/', '\\/')));
	assert.doesNotMatch(await con.content(), /say something short/, 'never the prompt');
	await shot(con, 'usage');
	await con.goto('/account');
	assert.equal(micro(await con.locator('#spendable').textContent()), 1000000 - cost);
	await shot(con, 'dashboard');
	await con.goto('/settings');
	await shot(con, 'settings');

	// --- the supplier sees the earning.
	const earning = Number(await s.sql('SELECT sum(earning) FROM requests'));
	assert.ok(earning > 0 && earning < cost, 'the supplier earns the cost less the fee');
	await sup.goto('/nodes');
	const earned = micro(await sup.locator('#served-earned').textContent());
	assert.equal(earned, earning);
	assert.equal(await sup.locator('#served-requests').textContent(), '1');
	await shot(sup, 'nodes');
	await sup.goto('/account');
	assert.equal(micro(await sup.locator('#earnings').textContent()), earned);

	// --- the operator suspends the node; it gets no more traffic.
	const adm = await session();
	await signup(adm, uniqueEmail('badmin'));
	await s.sql(`UPDATE users SET role = 'admin' WHERE id = (SELECT max(id) FROM users)`);
	await adm.goto('/admin');
	assert.match(await adm.locator('#ledger-result').textContent(), /^Clean: /);
	await shot(adm, 'admin');
	await adm.goto('/admin/users');
	await shot(adm, 'admin-users');
	await adm.goto('/admin/nodes');
	await adm.getByLabel('Reason for suspending “home gpu”').fill('browser test: token counts off');
	await adm.getByRole('button', { name: 'Suspend' }).click();
	assert.match(await adm.locator('.flash').textContent(), /The node is suspended/);
	await shot(adm, 'admin-nodes');
	// The relay hears of it within a second; from then on nothing reaches the node.
	const again = () => client.chat.completions.create({ model, max_tokens: 3,
		messages: [{ role: 'user', content: 'again' }] }).then(() => null, (e) => e);
	await waitFor(async () => (await again())?.status === 404, 1000, 'the node out of the pool');
	const served = (await m.stats()).requests;
	assert.equal((await again())?.status, 404);
	const after_ = (await m.stats()).requests;
	assert.equal(after_, served, 'the mock saw no new request');
	await sup.goto('/nodes');
	assert.match(await sup.locator('.problems').first().textContent(), /browser test: token counts off/);

	// --- readable on a phone: the dashboard does not scroll sideways.
	const phone = await session({ width: 375, height: 740 });
	await phone.goto('/login');
	await shot(phone, 'phone-login');
	await phone.getByLabel('Email').fill(conEmail);
	await phone.getByLabel('Password').fill(PW);
	await Promise.all([phone.waitForURL('**/account'), phone.getByRole('button', { name: 'Log in' }).click()]);
	let width;
	for (const p of ['/account', '/usage', '/models', '/quickstart']) {
		await phone.goto(p);
		width = await phone.evaluate(() => document.documentElement.scrollWidth);
		assert.ok(width <= 375, `${p}: no sideways scroll at 375 px (${width})`);
		await shot(phone, `phone-${p.slice(1)}`);
	}
	for (const p of [sup, con, adm, phone])
		assert.deepEqual(p.jsErrors ?? [], [], 'no script errors, nothing refused (CSP included)');
	// The 404 page (whose own status the console reports) in the same style.
	const res = await phone.goto('/no/such/page');
	assert.equal(res.status(), 404);
	assert.equal(await phone.locator('.status-code').textContent(), '404');
	width = await phone.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(width <= 375, `no sideways scroll at 375 px (${width})`);
	await shot(phone, 'phone-404');
});

test('a top-up in Chromium: Billing, the fake Stripe checkout, back with the credits', async () => {
	const page = await session();
	await signup(page, uniqueEmail('btopup'));
	const before = micro(await page.locator('#credit').textContent());
	await page.goto('/billing');
	await page.getByLabel('Amount in US dollars').fill('12.50');
	await Promise.all([page.waitForURL(`${fake.url}/c/pay/**`),
		page.getByRole('button', { name: 'Continue to payment' }).click()]);
	await shot(page, 'stripe-checkout');
	await Promise.all([page.waitForURL('**/billing/success?session_id=cs_test_*'),
		page.getByRole('button', { name: 'Pay', exact: true }).click()]);
	// What the fake's own page asked of its server (a favicon) is not ours to judge.
	page.jsErrors = [];
	// The webhook may land just after the redirect: the page says so until it has.
	await waitFor(async () => {
		await page.reload();
		return /is received/.test(await page.locator('#topup-status').textContent());
	}, 10000, 'the credits on the success page');
	await page.goto('/account');
	assert.equal(micro(await page.locator('#credit').textContent()), before + 12500000);
	await page.goto('/billing');
	assert.match(await page.locator('#topups tbody tr').first().textContent(), /\$12\.50\s*paid/);
	await shot(page, 'billing');
	assert.deepEqual(page.jsErrors ?? [], []);
});
