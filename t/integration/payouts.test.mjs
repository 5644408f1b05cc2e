// payouts.test.mjs: suppliers paid out through a fake Tremendous that speaks
// its wire format (t/mock/tremendous/). Earnings come the honest way: a
// consumer's requests to the supplier's node. Refusals move nothing; a
// payout delivered, failed, cancelled, flagged then approved or cancelled;
// a timeout then a retry makes one order; the monthly job pays once however
// often it runs on the 1st; a forged webhook is 401; a supplier's own
// requests earn nothing. The ledger checker runs at the end (stop()).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, bin, runProgram, waitFor } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { OpenAI } from '../lib/peers.mjs';
import { startFakeTremendous } from '../lib/tremendous.mjs';
import { assertValidHtml } from '../lib/html.mjs';

const PW = 'correct horse battery', DAY = 86400e3;
let s, fake, m, Cls;

before(async () => {
	fake = await startFakeTremendous();
	s = await startStack({ conf: `${fake.conf}timeout = 2s\n[credits]\nsignup_grant = 100000000\n` +
		'[auth]\nsignup_per_ip = 1000\n[gateway]\nlease_budget = 100000000\n[relay]\nlease_budget = 100000000\n' });
	fake.setWebhookUrl(`${s.url}/hooks/tremendous`);
	m = await startMock();
	Cls = await OpenAI();
});
after(async () => {
	await m?.stop();
	await fake?.stop();
	if (s) await s.stop();
});

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
async function account(tag) {
	const c = new Client(s.url), email = uniqueEmail(tag);
	await c.signup(email, PW);
	return { c, email, id: Number(await s.sql(`SELECT id FROM users WHERE email = '${email}'`)), csrf: await c.csrf() };
}
const earnings = async (u) => Number(await s.sql(`SELECT balance FROM ledger_accounts WHERE user_id = ${u.id}
	AND kind = 'earnings'`));
const platform = async (kind) => Number(await s.sql(`SELECT balance FROM ledger_accounts WHERE kind = '${kind}'
	AND user_id IS NULL`));
const ask = (u, amount_usd) => u.c.post('/v1/me/payouts', { headers: { 'x-csrf-token': u.csrf }, json: { amount_usd } });
const payout = async (id) => JSON.parse(await s.sql(`SELECT row_to_json(p) FROM payouts p WHERE id = ${id}`));
const mails = async (u) => (await s.sql(`SELECT coalesce(string_agg(template, ',' ORDER BY id), '') FROM outbox
	WHERE user_id = ${u.id} AND template LIKE 'payout%'`)).split(',').filter(Boolean);

// A supplier with earnings from consumers' calls to its node (one call each:
// a call's worst case is a large hold), old enough, with a display name.
async function supplier(tag, { calls = 6, age = 8 } = {}) {
	const sup = await account(tag);
	const model = `pay/${tag}-${sup.id}`;
	const res = await sup.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sup.csrf }, json: {
		name: 'n', supply_type: 'cloud', connection: 'endpoint', max_concurrency: 4, context_length: 4096,
		base_url: m.base, models: [{ model, upstream_model: 'mock', price_in: 400000000000, price_out: 400000000000 }] } });
	assert.equal(res.status, 201, res.text_);
	let client;
	for (let i = 0; i < calls; i++) {
		const con = await account(`${tag}-con`);
		const key = JSON.parse((await con.c.post('/v1/keys', { json: { name: 'k' },
			headers: { 'x-csrf-token': con.csrf } })).text_).key;
		client = new Cls({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
		await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'pay me' }], max_tokens: 4 });
	}
	await waitFor(async () => await s.sql(`SELECT count(*) FROM requests WHERE model = '${model}'
		AND status <> 'admitted'`) === String(calls), 10000, 'the calls settled');
	await s.sql(`UPDATE users SET created_at = now() - interval '${age} days', display_name = 'Sup ${tag}'
		WHERE id = ${sup.id}`);
	return { ...sup, model, client };
}
const ctl = (args) => runProgram(bin('infrpoolctl'), ['-c', s.env.INFRPOOL_CONFIG, ...args]);

test('refusals move nothing: below the minimum, too young, suspended, too much, no recipient, two at once', async () => {
	const u = await supplier('refuse');
	const before = await earnings(u);
	assert.ok(before > 10000000, `earned ${before}`);
	const refused = async (amount, status, code) => {
		const res = await ask(u, amount);
		assert.equal(res.status, status, `${amount}: ${res.text_}`);
		assert.equal(JSON.parse(res.text_).error.code, code, amount);
	};
	await refused('0.99', 400, 'amount_invalid');
	await refused('1.005', 400, 'amount_invalid');
	await refused('ten', 400, 'amount_invalid');
	await refused('9999.00', 400, 'insufficient_earnings');
	await s.sql(`UPDATE users SET created_at = now() - interval '6 days' WHERE id = ${u.id}`);
	await refused('5.00', 403, 'account_too_new');
	await s.sql(`UPDATE users SET created_at = now() - interval '8 days', status = 'suspended',
		status_reason = 'test', status_at = now() WHERE id = ${u.id}`);
	// The account's standing answers first (a suspended account is read-only); the monthly job checks it too.
	await refused('5.00', 403, 'account_suspended');
	await s.sql(`UPDATE users SET status = 'active', status_reason = NULL, display_name = NULL WHERE id = ${u.id}`);
	await refused('5.00', 400, 'no_recipient');
	// A key is no session: payouts are asked for in the browser or with a session.
	const key = JSON.parse((await u.c.post('/v1/keys', { json: { name: 'k' },
		headers: { 'x-csrf-token': u.csrf } })).text_).key;
	const viaKey = await fetch(`${s.url}/v1/me/payouts`, { method: 'POST', headers: { authorization: `Bearer ${key}`,
		'content-type': 'application/json' }, body: JSON.stringify({ amount_usd: '5.00' }) });
	assert.equal(viaKey.status, 401);
	assert.equal(await earnings(u), before);
	assert.equal(await s.sql(`SELECT count(*) FROM payouts WHERE user_id = ${u.id}`), '0');
	// Recipient set: two at once, one goes, the other is 409.
	let res = await u.c.request('PUT', '/v1/me/payout_settings', { headers: { 'x-csrf-token': u.csrf },
		json: { recipient_name: 'Ada Recipient', recipient_email: 'ADA@Example.test', mode: 'manual' } });
	assert.equal(res.status, 200, res.text_);
	assert.equal(JSON.parse(res.text_).recipient_email, 'ada@example.test');
	res = await u.c.request('PUT', '/v1/me/payout_settings', { headers: { 'x-csrf-token': u.csrf },
		json: { mode: 'weekly' } });
	assert.equal(res.status, 400);
	assert.equal(JSON.parse(res.text_).error.param, 'mode');
	const both = await Promise.all([ask(u, '3.00'), ask(u, '4.00')]);
	assert.deepEqual(both.map((r) => r.status).sort(), [201, 409]);
	assert.equal(JSON.parse(both.find((r) => r.status === 409).text_).error.code, 'payout_in_flight');
	const made = JSON.parse(both.find((r) => r.status === 201).text_);
	assert.equal(made.status, 'sent');
	assert.equal(await earnings(u), before - Number(made.amount_usd.replace('.', '')) * 10000);
	const order = fake.orders().find((o) => o.external_id === `payout-${made.id}`);
	assert.equal(order.rewards[0].recipient.email, 'ada@example.test');
	assert.equal(order.rewards[0].recipient.name, 'Ada Recipient');
	assert.equal(order.rewards[0].value.denomination, Number(made.amount_usd) - 0.5);
	await refused('2.00', 409, 'payout_in_flight');
	fake.deliver(`payout-${made.id}`);
	await waitFor(async () => (await payout(made.id)).status === 'delivered', 5000, 'delivered');
});

test('delivered, failed, cancelled: the money goes on or comes back, and the supplier hears each', async () => {
	const u = await supplier('flow', { calls: 12 });
	const start = await earnings(u), trem = await platform('tremendous'), fees = await platform('payout_fees');
	let res = await ask(u, '12.34');
	assert.equal(res.status, 201, res.text_);
	const p1 = JSON.parse(res.text_);
	assert.deepEqual([p1.amount_usd, p1.fee_usd, p1.value_usd, p1.status], ['12.34', '0.50', '11.84', 'sent']);
	assert.equal(await platform('payouts'), 12340000);
	fake.deliver(`payout-${p1.id}`);
	await waitFor(async () => (await payout(p1.id)).status === 'delivered', 5000, 'delivered');
	assert.equal(await platform('tremendous'), trem + 11840000);
	assert.equal(await platform('payout_fees'), fees + 500000);
	assert.equal(await platform('payouts'), 0);
	assert.equal(await earnings(u), start - 12340000);
	// Failed: all of it back, fee included.
	res = await ask(u, '5.00');
	const p2 = JSON.parse(res.text_);
	fake.fail(`payout-${p2.id}`, { reason: 'email bounced', retryable: false });
	await waitFor(async () => (await payout(p2.id)).status === 'failed', 5000, 'failed');
	assert.equal(await earnings(u), start - 12340000);
	// Cancelled at Tremendous: back too.
	res = await ask(u, '2.00');
	const p3 = JSON.parse(res.text_);
	fake.cancel(`payout-${p3.id}`);
	await waitFor(async () => (await payout(p3.id)).status === 'cancelled', 5000, 'cancelled');
	assert.equal(await earnings(u), start - 12340000);
	assert.deepEqual(await mails(u), ['payout_sent', 'payout_delivered', 'payout_sent', 'payout_failed', 'payout_sent',
		'payout_failed']);
	const html = (await u.c.get('/payouts')).text_;
	await assertValidHtml(html, 'payouts');
	assert.match(html, new RegExp(`id="payable">\\$${((Math.floor((start - 12340000) / 10000)) / 100).toFixed(2)}<`));
	assert.match(html, /Every month on the 1st: the next is \d{4}-\d\d-01/);
	// The form asks too, and says why it refuses.
	let form = await u.c.submit('/payouts', '/payouts/request', { amount_usd: '0.10' });
	assert.equal(form.status, 400);
	assert.match(form.text_, /A payout is whole cents, at least \$1\.00/);
	form = await u.c.submit('/payouts', '/payouts/settings', { mode: 'monthly', recipient_email: 'not an email' });
	assert.equal(form.status, 400);
	assert.match(form.text_, /recipient_email: an email address/);
	const list = JSON.parse((await u.c.get('/v1/me/payouts')).text_);
	assert.deepEqual(list.data.map((p) => [p.id, p.status]), [[p3.id, 'cancelled'], [p2.id, 'failed'], [p1.id, 'delivered']]);
	assert.equal(list.payable_usd, ((Math.floor((start - 12340000) / 10000)) / 100).toFixed(2));
	// A delivery told twice is applied once.
	const ev = fake.events('REWARDS.DELIVERY.SUCCEEDED').find((e) => e.reward_id === fake.reward(`payout-${p1.id}`).reward.id);
	fake.redeliver(ev.uuid);
	await waitFor(async () => (await s.sql(`SELECT outcome FROM tremendous_events WHERE id = '${ev.uuid}'`)) === 'delivered');
	await new Promise((r) => setTimeout(r, 300));
	assert.equal(await platform('tremendous'), trem + 11840000);
});

test('flagged: held for the operator, who approves one and cancels another', async () => {
	const u = await supplier('flag'), op = await account('flag-op');
	await s.sql(`UPDATE users SET role = 'admin' WHERE id = ${op.id}`);
	const start = await earnings(u);
	const p1 = JSON.parse((await ask(u, '6.00')).text_);
	fake.flag(`payout-${p1.id}`, { reasons: ['suspicious'] });
	await waitFor(async () => (await payout(p1.id)).status === 'flagged', 5000, 'flagged');
	const page = (await op.c.get('/admin/payouts')).text_;
	assert.match(page, new RegExp(`action="/admin/payouts/${p1.id}/approve"`));
	await assertValidHtml(page, 'admin payouts');
	let res = await op.c.submit('/admin/payouts', `/admin/payouts/${p1.id}/approve`, {});
	assert.equal(res.status, 303, res.text_);
	// Released, Tremendous delivers it.
	assert.equal(fake.reward(`payout-${p1.id}`).fraud_review.status, 'released');
	await waitFor(async () => (await payout(p1.id)).status === 'delivered', 5000, 'delivered after approval');
	const p2 = JSON.parse((await ask(u, '3.00')).text_);
	fake.flag(`payout-${p2.id}`, { reasons: ['suspicious'] });
	await waitFor(async () => (await payout(p2.id)).status === 'flagged', 5000, 'flagged');
	res = await op.c.submit('/admin/payouts', `/admin/payouts/${p2.id}/cancel`, {});
	assert.equal(res.status, 303, res.text_);
	assert.equal((await payout(p2.id)).status, 'cancelled');
	assert.equal(await earnings(u), start - 6000000);
	res = await op.c.submit('/admin/payouts', `/admin/payouts/${p2.id}/cancel`, {});
	assert.equal(res.status, 409, 'only a held payout is decided');
	assert.ok((await mails(u)).includes('payout_held'));
	assert.equal(await s.sql(`SELECT string_agg(action, ',' ORDER BY id) FROM admin_actions WHERE payout_id IN
		(${p1.id}, ${p2.id})`), 'payout_approve,payout_cancel');
});

test('a timeout on POST /orders, then the retry: one order at Tremendous', async () => {
	const u = await supplier('timeout');
	// The order is recorded, the answer never comes; the second try gets the same order.
	fake.fault({ mode: 'timeout', when: 'after', count: 1, ms: 4000 });
	let res = await ask(u, '4.00');
	assert.equal(res.status, 201, res.text_);
	const p1 = JSON.parse(res.text_);
	assert.equal(p1.status, 'sent');
	assert.equal(fake.orders().filter((o) => o.external_id === `payout-${p1.id}`).length, 1);
	fake.deliver(`payout-${p1.id}`);
	await waitFor(async () => (await payout(p1.id)).status === 'delivered', 5000, 'delivered');
	// Both tries fail (503 before recording): pending; the retry job orders it once.
	fake.fault({ mode: '503', when: 'before', count: 2 });
	res = await ask(u, '3.00');
	const p2 = JSON.parse(res.text_);
	assert.equal(p2.status, 'pending');
	assert.equal(fake.orders().filter((o) => o.external_id === `payout-${p2.id}`).length, 0);
	const r = await ctl(['tick', '--now', iso(Date.now() + 5 * 60e3), 'payouts-retry']);
	assert.equal(r.code, 0, r.stderr);
	assert.equal((await payout(p2.id)).status, 'sent');
	assert.equal(fake.orders().filter((o) => o.external_id === `payout-${p2.id}`).length, 1);
	fake.deliver(`payout-${p2.id}`);
	await waitFor(async () => (await payout(p2.id)).status === 'delivered', 5000, 'delivered');
	// The order reached Tremendous but both answers were lost: its delivery is told before we know
	// its reward, is asked to come again (503), and lands once the retry job has learned the reward.
	fake.fault({ mode: '503', when: 'after', count: 2 });
	res = await ask(u, '1.50');
	const p4 = JSON.parse(res.text_);
	assert.equal(p4.status, 'pending');
	assert.equal(fake.orders().filter((o) => o.external_id === `payout-${p4.id}`).length, 1);
	fake.deliver(`payout-${p4.id}`);
	await waitFor(() => fake.events('REWARDS.DELIVERY.SUCCEEDED').some((e) => e.attempts.some((t) => t.status === 503)),
		5000, 'the early delivery refused for now');
	assert.equal((await ctl(['tick', '--now', iso(Date.now() + 10 * 60e3), 'payouts-retry'])).code, 0);
	await waitFor(async () => (await payout(p4.id)).status === 'delivered', 10000, 'delivered on a later try');
	assert.equal(fake.orders().filter((o) => o.external_id === `payout-${p4.id}`).length, 1);
	// A definite refusal (not enough on the operator's balance) brings the money back at once.
	const before = await earnings(u);
	fake.setBalance(0);
	res = await ask(u, '2.00');
	const p3 = JSON.parse(res.text_);
	assert.equal(p3.status, 'failed');
	assert.match(p3.reason, /Tremendous answered 4\d\d/);
	assert.equal(await earnings(u), before);
	fake.setBalance(500000);
});

test('monthly: paid once on the 1st however often the job runs, manual suppliers not at all', async () => {
	const mon = await supplier('monthly'), man = await supplier('manual');
	let res = await mon.c.request('PUT', '/v1/me/payout_settings', { headers: { 'x-csrf-token': mon.csrf },
		json: { mode: 'monthly' } });
	assert.equal(res.status, 200, res.text_);
	const payable = Math.floor((await earnings(mon)) / 10000) * 10000;
	const now = new Date();
	const first = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1, 5, 5);
	// Not on the 2nd of the month before.
	let r = await ctl(['tick', '--now', iso(first - 30 * DAY), 'payouts-monthly']);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(await s.sql(`SELECT count(*) FROM payouts WHERE user_id = ${mon.id}`), '0');
	// The 1st: three hours, and two ticks at once.
	for (const at of [first, first + 3600e3])
		assert.equal((await ctl(['tick', '--now', iso(at), 'payouts-monthly'])).code, 0);
	const both = await Promise.all([ctl(['tick', '--now', iso(first + 7200e3), 'payouts-monthly']),
		ctl(['tick', '--now', iso(first + 7200e3), 'payouts-monthly'])]);
	assert.equal(both[0].code + both[1].code, 0);
	assert.equal(await s.sql(`SELECT count(*) || ' ' || sum(amount) || ' ' || min(mode) || ' ' || min(month)::text
		FROM payouts WHERE user_id = ${mon.id}`), `1 ${payable} monthly ${iso(first).slice(0, 8)}01`);
	assert.equal(await s.sql(`SELECT count(*) FROM payouts WHERE user_id = ${man.id}`), '0');
	// Delivered, the month's payout does not come again even with earnings left.
	const p = JSON.parse(await s.sql(`SELECT row_to_json(p) FROM payouts p WHERE user_id = ${mon.id}`));
	fake.deliver(`payout-${p.id}`);
	await waitFor(async () => (await payout(p.id)).status === 'delivered', 5000, 'delivered');
	await mon.client.chat.completions.create({ model: man.model, messages: [{ role: 'user', content: 'x' }], max_tokens: 2 })
		.catch(() => {});
	r = await ctl(['tick', '--now', iso(first + 3 * 3600e3), 'payouts-monthly']);
	assert.equal(r.code, 0);
	assert.equal(await s.sql(`SELECT count(*) FROM payouts WHERE user_id = ${mon.id}`), '1');
});

test('a webhook with a wrong signature is 401 and moves nothing; an unknown reward is recorded', async () => {
	const body = JSON.stringify({ event: 'REWARDS.DELIVERY.SUCCEEDED', uuid: `u-${Date.now()}`,
		created_utc: new Date().toISOString(), payload: { resource: { id: 'NOSUCHREWARD', type: 'rewards' }, meta: {} } });
	const post = (sig) => fetch(`${s.url}/hooks/tremendous`, { method: 'POST', body,
		headers: { 'content-type': 'application/json', ...(sig ? { 'tremendous-webhook-signature': sig } : {}) } });
	const trem = await platform('tremendous');
	for (const sig of [null, 'sha256=00', `sha256=${'0'.repeat(64)}`, fake.sign(`${body} `), fake.sign(body).replace('sha256=', 'md5=')]) {
		const res = await post(sig);
		assert.equal(res.status, 401, String(sig));
	}
	assert.equal(await platform('tremendous'), trem);
	const ok = await post(fake.sign(body));
	assert.equal(ok.status, 200);
	assert.equal((await ok.json()).outcome, 'unknown_reward');
});

test('a supplier\'s own requests earn nothing and count for nothing', async () => {
	const u = await supplier('self', { calls: 1 });
	const before = await earnings(u);
	const credit = Number(await s.sql(`SELECT balance FROM ledger_accounts WHERE user_id = ${u.id} AND kind = 'credit'`));
	const key = JSON.parse((await u.c.post('/v1/keys', { json: { name: 'self' },
		headers: { 'x-csrf-token': u.csrf } })).text_).key;
	const own = new Cls({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
	await own.chat.completions.create({ model: u.model, messages: [{ role: 'user', content: 'my own' }], max_tokens: 4 });
	await waitFor(async () => await s.sql(`SELECT count(*) FROM requests WHERE user_id = ${u.id}`) === '1', 10000,
		'settled');
	await waitFor(async () => await s.sql(`SELECT count(*) FROM holds WHERE user_id = ${u.id} AND status = 'held'`)
		=== '0', 10000, 'the lease closed');
	assert.equal(await s.sql(`SELECT cost || ' ' || earning || ' ' || outcome || ' ' || (tokens_out > 0) FROM requests
		WHERE user_id = ${u.id}`), '0 0 neutral true');
	assert.equal(await earnings(u), before);
	assert.equal(Number(await s.sql(`SELECT balance FROM ledger_accounts WHERE user_id = ${u.id} AND kind = 'credit'`)),
		credit);
});
