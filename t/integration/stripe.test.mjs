// stripe.test.mjs: money in through Stripe Checkout. The app calls a fake
// Stripe (t/mock/stripe/) that speaks Stripe's wire format; webhooks are
// signed by the official stripe package, either by the fake after a
// checkout or here, to deliver them twice, out of order or forged. Every
// credit, refund and dispute moves money with transfers from the stripe
// account; the ledger checker runs at the end (the stack's stop()).
import { test, before, after } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { startStack, waitFor, bin, runProgram } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';
import { assertValidHtml } from '../lib/html.mjs';
import { requirePeer, OpenAI } from '../lib/peers.mjs';
import { createFakeStripe } from '../mock/stripe/server.mjs';

const stripeLib = requirePeer('stripe');
const PW = 'correct horse battery';
let s, fake, m;

before(async () => {
	fake = await createFakeStripe({ retryDelays: [200, 500, 1000] });
	s = await startStack({ conf: `[stripe]\nsecret_key = ${fake.o.secretKey}\nwebhook_secret = ${fake.o.webhookSecret}\n` +
		`api_base = ${fake.url}\nmin_usd = 5.00\nmax_usd = 500.00\n[credits]\nsignup_grant = 0\n[auth]\nsignup_per_ip = 1000\n` });
	fake.o.webhookUrl = `${s.url}/hooks/stripe`;
	m = await startMock();
});
after(async () => {
	await m?.stop();
	await fake?.stop();
	if (s) await s.stop();
});

let seq = 0;
const rid = (p) => `${p}${Date.now().toString(36)}${(seq += 1)}${Math.random().toString(36).slice(2, 8)}`;

// Deliver an event as Stripe would (signed now, or as told); the response.
async function deliver(type, object, { id = rid('evt_'), header, body, timestamp } = {}) {
	const payload = body ?? JSON.stringify({ id, object: 'event', api_version: '2024-06-20', created: Math.floor(Date.now() / 1000),
		livemode: false, pending_webhooks: 1, type, data: { object } });
	const sig = header !== undefined ? header : stripeLib.webhooks.generateTestHeaderString({ payload, secret: fake.o.webhookSecret, timestamp });
	const res = await fetch(`${s.url}/hooks/stripe`, { method: 'POST', body: payload,
		headers: { 'content-type': 'application/json', ...(sig === null ? {} : { 'stripe-signature': sig }) } });
	return { status: res.status, body: await res.json().catch(() => null), id };
}

async function account(tag) {
	const c = new Client(s.url), email = uniqueEmail(tag);
	await c.signup(email, PW);
	const id = Number(await s.sql(`SELECT id FROM users WHERE email = '${email}'`));
	return { c, email, id, csrf: await c.csrf() };
}
const topup = async (u, amount_usd) => u.c.post('/v1/me/topups', { headers: { 'x-csrf-token': u.csrf }, json: { amount_usd } });
async function started(u, amount_usd) {
	const res = await topup(u, amount_usd);
	assert.equal(res.status, 201, res.text_);
	return JSON.parse(res.text_);
}
const credit = async (u) => Number(await s.sql(`SELECT balance FROM ledger_accounts WHERE user_id = ${u.id} AND kind = 'credit'`));
const owed = async (u) => Number(await s.sql(`SELECT owed FROM users WHERE id = ${u.id}`));
const status = (t) => s.sql(`SELECT status FROM topups WHERE id = ${t.id}`);
// A completed Checkout Session as Stripe sends it for top-up t.
const session = (t, cents, extra = {}) => ({ id: t.stripe_session_id, object: 'checkout.session', mode: 'payment',
	amount_total: cents, currency: 'usd', client_reference_id: String(t.id), metadata: { topup_id: String(t.id) },
	payment_status: 'paid', status: 'complete', payment_intent: extra.pi ?? rid('pi_'), ...extra });
const charge = (pi, cents, refunded) => ({ id: `ch_${pi.slice(3)}`, object: 'charge', amount: cents, amount_refunded: refunded,
	refunded: refunded === cents, currency: 'usd', payment_intent: pi, billing_details: { name: 'Card Holder', email: 'x@y.z' } });
const dispute = (pi, cents, st, id = rid('dp_')) => ({ id, object: 'dispute', amount: cents, charge: `ch_${pi.slice(3)}`,
	payment_intent: pi, currency: 'usd', status: st, reason: 'fraudulent' });

test('a top-up through the fake checkout: the customer once, the session, the webhook credits once', async () => {
	const u = await account('topup');
	const before = await credit(u);
	const t = await started(u, '10.00');
	assert.equal(t.object, 'topup');
	assert.equal(t.amount_usd, '10.00');
	assert.equal(t.status, 'open');
	assert.match(t.stripe_session_id, /^cs_test_/);
	assert.ok(t.checkout_url.startsWith(`${fake.url}/c/pay/`));
	// Stripe saw one customer with the account's email and a session of 1000 cents naming the top-up.
	const cs = fake.store.sessions?.get?.(t.stripe_session_id)?.obj ?? null;
	if (cs) {
		assert.equal(cs.amount_total, 1000);
		assert.equal(cs.client_reference_id, String(t.id));
		assert.equal(cs.metadata.topup_id, String(t.id));
	}
	const cus = await s.sql(`SELECT stripe_customer_id FROM users WHERE id = ${u.id}`);
	assert.match(cus, /^cus_/);
	const t2 = await started(u, '5.00');
	assert.equal(await s.sql(`SELECT stripe_customer_id FROM users WHERE id = ${u.id}`), cus, 'one customer per account');
	// Pay on the hosted page: the fake delivers checkout.session.completed, signed.
	const res = await fetch(t.checkout_url, { method: 'POST', redirect: 'manual',
		body: new URLSearchParams({ action: 'pay' }) });
	assert.equal(res.status, 303);
	assert.equal(res.headers.get('location'), `${s.url}/billing/success?session_id=${t.stripe_session_id}`);
	await waitFor(async () => await status(t) === 'paid', 10000, 'the webhook credits');
	assert.equal(await credit(u), before + 10000000);
	assert.equal(await status(t2), 'open');
	const list = JSON.parse((await u.c.get('/v1/me/topups')).text_).data;
	assert.deepEqual(list.map((x) => [x.id, x.status]), [[t2.id, 'open'], [t.id, 'paid']]);
	const back = await u.c.get(`/billing/success?session_id=${t.stripe_session_id}`);
	assert.match(back.text_, /Your payment of \$10\.00 is received/);
	assert.equal(await s.sql(`SELECT count(*) FROM transfers WHERE idempotency_key = 'stripe:topup:${t.id}'`), '1');
	// The export has the top-ups, and the wallet events the credit.
	const link = JSON.parse((await u.c.get('/v1/me/export')).text_).url;
	const doc = JSON.parse((await u.c.get(link)).text_);
	assert.deepEqual(doc.topups.map((x) => [x.id, x.status, x.amount_usd]), [[t2.id, 'open', '5.00'], [t.id, 'paid', '10.00']]);
	assert.ok(doc.wallet_events.some((e) => e.kind === 'topup' && e.amount.micro_usd === 10000000));
});

test('20 parallel deliveries of one event credit once', async () => {
	const u = await account('parallel');
	const before = await credit(u);
	const t = await started(u, '7.00');
	const obj = session(t, 700), id = rid('evt_');
	const all = await Promise.all(Array.from({ length: 20 }, () => deliver('checkout.session.completed', obj, { id })));
	assert.deepEqual([...new Set(all.map((r) => r.status))], [200]);
	assert.deepEqual(all.map((r) => r.body.outcome).sort(), ['credited', ...Array(19).fill('duplicate')]);
	assert.equal(await credit(u), before + 7000000);
	// Another event for the same session (Stripe may send completed and a retry under a new id): no second credit.
	const again = await deliver('checkout.session.completed', obj);
	assert.equal(again.body.outcome, 'already_credited');
	assert.equal(await credit(u), before + 7000000);
});

test('forged, stale, future, malformed and non-JSON deliveries: 400, nothing changes', async () => {
	const u = await account('forged');
	const t = await started(u, '6.00');
	const obj = session(t, 600);
	const payload = JSON.stringify({ id: rid('evt_'), object: 'event', type: 'checkout.session.completed', data: { object: obj } });
	const now = Math.floor(Date.now() / 1000);
	const wrong = stripeLib.webhooks.generateTestHeaderString({ payload, secret: 'whsec_not_ours' });
	const cases = [
		['wrong secret', { body: payload, header: wrong }, /no signature matches/],
		['old timestamp', { body: payload, timestamp: now - 301 }, /too old/],
		['future timestamp', { body: payload, timestamp: now + 301 }, /future/],
		['no header', { body: payload, header: null }, /no header/],
		['malformed header', { body: payload, header: 't=abc,v1=' }, /malformed/],
		['no v1', { body: payload, header: `t=${now},v0=abcd` }, /no v1/],
		['body changed', { body: payload, header: stripeLib.webhooks.generateTestHeaderString({ payload: `${payload} `,
			secret: fake.o.webhookSecret }) }, /no signature matches/],
		['not JSON', { body: 'not json at all' }, /not a Stripe event/],
		['no id', { body: JSON.stringify({ type: 'x', data: { object: {} } }) }, /not a Stripe event/],
	];
	for (const [what, opts, why] of cases) {
		const r = await deliver('checkout.session.completed', obj, opts);
		assert.equal(r.status, 400, what);
		assert.match(r.body.error.message, why, what);
	}
	assert.equal(await status(t), 'open');
	assert.equal(await s.sql(`SELECT count(*) FROM stripe_events WHERE outcome = 'credited' AND topup_id = ${t.id}`), '0');
	// One log line per refusal, without the payload.
	const log = readFileSync(join(s.dir, 'app.log'), 'utf8');
	assert.ok(log.split('\n').filter((l) => l.includes('stripe webhook refused')).length >= cases.length);
	assert.ok(!log.includes(t.stripe_session_id), 'no payload in the log');
	// Two v1 signatures, one of them right: accepted (Stripe sends one per secret while rolling it).
	const good = stripeLib.webhooks.generateTestHeaderString({ payload, secret: fake.o.webhookSecret });
	const [, tpart, v1] = /^(t=\d+),v1=([0-9a-f]+)/.exec(good);
	const r = await deliver('', null, { body: payload, header: `${tpart},v1=${'0'.repeat(64)},v1=${v1}` });
	assert.equal(r.status, 200);
	assert.equal(r.body.outcome, 'credited');
	// An unknown top-up is acknowledged and recorded for the operator, never credited.
	const unk = await deliver('checkout.session.completed', { ...obj, id: 'cs_test_unknown', metadata: { topup_id: '999999' },
		client_reference_id: '999999' });
	assert.equal(unk.status, 200);
	assert.equal(unk.body.outcome, 'unknown_topup');
	// A wrong amount is not credited either.
	const t2 = await started(u, '8.00');
	const mis = await deliver('checkout.session.completed', session(t2, 100));
	assert.equal(mis.body.outcome, 'mismatch');
	assert.equal(await status(t2), 'open');
});

test('bank debits: one succeeds later, one fails; an unpaid session credits nothing', async () => {
	const u = await account('async');
	const before = await credit(u);
	const ok = await started(u, '20.00'), bad = await started(u, '30.00');
	const pi1 = rid('pi_'), pi2 = rid('pi_');
	assert.equal((await deliver('checkout.session.completed', session(ok, 2000, { pi: pi1, payment_status: 'unpaid' }))).body
		.outcome, 'processing');
	assert.equal((await deliver('checkout.session.completed', session(bad, 3000, { pi: pi2, payment_status: 'unpaid' }))).body
		.outcome, 'processing');
	assert.equal(await credit(u), before);
	assert.equal(await status(ok), 'processing');
	assert.equal((await deliver('checkout.session.async_payment_succeeded', session(ok, 2000, { pi: pi1 }))).body.outcome,
		'credited');
	assert.equal((await deliver('checkout.session.async_payment_failed', session(bad, 3000, { pi: pi2,
		payment_status: 'unpaid' }))).body.outcome, 'payment_failed');
	assert.equal(await credit(u), before + 20000000);
	assert.equal(await status(ok), 'paid');
	assert.equal(await status(bad), 'failed');
});

test('refunds: partial then full, and one delivered before its completion', async () => {
	const u = await account('refund');
	const before = await credit(u);
	const t = await started(u, '10.00'), pi = rid('pi_');
	await deliver('checkout.session.completed', session(t, 1000, { pi }));
	assert.equal((await deliver('charge.refunded', charge(pi, 1000, 300))).body.outcome, 'refunded');
	assert.equal(await credit(u), before + 7000000);
	// The same cumulative amount again (a second event id) takes nothing more.
	assert.equal((await deliver('charge.refunded', charge(pi, 1000, 300))).body.outcome, 'already_refunded');
	assert.equal((await deliver('charge.refunded', charge(pi, 1000, 1000))).body.outcome, 'refunded');
	assert.equal(await credit(u), before);
	assert.equal(await s.sql(`SELECT refunded FROM topups WHERE id = ${t.id}`), '1000');
	// Out of order: the refund comes first and waits; the completion credits, then applies it.
	const t2 = await started(u, '5.00'), pi2 = rid('pi_');
	const early = await deliver('charge.refunded', charge(pi2, 500, 500));
	assert.equal(early.body.outcome, 'deferred');
	assert.equal(await s.sql(`SELECT data->>'billing_details' IS NULL FROM stripe_events WHERE id = '${early.id}'`), 't',
		'a deferred event keeps no personal data');
	assert.equal((await deliver('checkout.session.completed', session(t2, 500, { pi: pi2 }))).body.outcome, 'credited');
	assert.equal(await s.sql(`SELECT outcome FROM stripe_events WHERE id = '${early.id}'`), 'refunded');
	assert.equal(await credit(u), before);
	assert.equal(await owed(u), 0);
	// A refund delivered at the same moment as its completion is never left waiting.
	for (let i = 0; i < 5; i++) {
		const t3 = await started(u, '5.00'), pi3 = rid('pi_');
		const [a, b] = await Promise.all([deliver('checkout.session.completed', session(t3, 500, { pi: pi3 })),
			deliver('charge.refunded', charge(pi3, 500, 500))]);
		assert.equal(a.status + b.status, 400);
		assert.equal(await s.sql(`SELECT count(*) FROM stripe_events WHERE outcome = 'deferred'
			AND payment_intent = '${pi3}'`), '0', `round ${i}`);
		assert.equal(await s.sql(`SELECT refunded FROM topups WHERE id = ${t3.id}`), '500');
	}
	assert.equal(await credit(u), before);
});

test('disputes: one lost takes the money, one won gives it back', async () => {
	const u = await account('dispute');
	const before = await credit(u);
	const t = await started(u, '15.00'), pi = rid('pi_');
	await deliver('checkout.session.completed', session(t, 1500, { pi }));
	const lost = rid('dp_');
	assert.equal((await deliver('charge.dispute.created', dispute(pi, 1500, 'needs_response', lost))).body.outcome,
		'dispute_taken');
	assert.equal(await credit(u), before);
	assert.equal((await deliver('charge.dispute.closed', dispute(pi, 1500, 'lost', lost))).body.outcome, 'dispute_updated');
	assert.equal(await credit(u), before);
	const t2 = await started(u, '12.00'), pi2 = rid('pi_');
	await deliver('checkout.session.completed', session(t2, 1200, { pi: pi2 }));
	const won = rid('dp_');
	await deliver('charge.dispute.created', dispute(pi2, 1200, 'needs_response', won));
	assert.equal(await credit(u), before);
	assert.equal((await deliver('charge.dispute.funds_reinstated', dispute(pi2, 1200, 'won', won))).body.outcome,
		'dispute_won');
	assert.equal((await deliver('charge.dispute.closed', dispute(pi2, 1200, 'won', won))).body.outcome, 'dispute_updated');
	assert.equal(await credit(u), before + 12000000, 'given back once');
	const admin = await s.sql(`SELECT string_agg(id || ' ' || status || ' ' || returned, ', ' ORDER BY created_at)
		FROM disputes WHERE id IN ('${lost}', '${won}')`);
	assert.equal(admin, `${lost} lost false, ${won} won true`);
	// An inquiry takes nothing (Stripe takes nothing for it), and ends taking nothing.
	const t3 = await started(u, '9.00'), pi3 = rid('pi_');
	await deliver('checkout.session.completed', session(t3, 900, { pi: pi3 }));
	const inq = rid('dp_'), withInquiry = await credit(u);
	assert.equal((await deliver('charge.dispute.created', dispute(pi3, 900, 'warning_needs_response', inq))).body.outcome,
		'dispute_updated');
	assert.equal((await deliver('charge.dispute.closed', dispute(pi3, 900, 'warning_closed', inq))).body.outcome,
		'dispute_updated');
	assert.equal(await credit(u), withInquiry);
	// Funds withdrawn after an inquiry turned into a dispute: taken once, whichever event says it.
	const dp4 = rid('dp_');
	await deliver('charge.dispute.created', dispute(pi3, 900, 'needs_response', dp4));
	assert.equal((await deliver('charge.dispute.funds_withdrawn', dispute(pi3, 900, 'needs_response', dp4))).body.outcome,
		'dispute_updated');
	assert.equal(await credit(u), withInquiry - 9000000);
});

test('a refund after the credit was spent: owed, inference refused with 402 until a top-up pays it', async () => {
	const u = await account('debt'), sup = await account('debt-sup');
	const model = `stripe/debt-${u.id}`;
	let res = await sup.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sup.csrf }, json: {
		name: 'n', supply_type: 'cloud', connection: 'endpoint', max_concurrency: 4, context_length: 4096,
		base_url: m.base, models: [{ model, upstream_model: 'mock', price_in: 40000000000, price_out: 40000000000 }] } });
	assert.equal(res.status, 201, res.text_);
	const t = await started(u, '5.00'), pi = rid('pi_');
	await deliver('checkout.session.completed', session(t, 500, { pi }));
	const key = JSON.parse((await u.c.post('/v1/keys', { json: { name: 'k' }, headers: { 'x-csrf-token': u.csrf } })).text_).key;
	const Cls = await OpenAI();
	const client = new Cls({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
	const ask = () => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'spend it' }], max_tokens: 8 });
	await ask();
	await waitFor(async () => await s.sql(`SELECT count(*) FROM holds WHERE user_id = ${u.id} AND status = 'held'`) === '0',
		10000, 'the lease closed');
	const left = Number(await s.sql(`SELECT sum(balance) FROM ledger_accounts WHERE user_id = ${u.id}`));
	assert.ok(left < 5000000, 'some of the top-up was spent (this stack grants nothing at signup)');
	// The whole $5.00 is refunded: what is left goes back, the rest is owed.
	assert.equal((await deliver('charge.refunded', charge(pi, 500, 500))).body.outcome, 'refunded');
	assert.equal(await owed(u), 5000000 - left);
	assert.equal(await s.sql(`SELECT sum(balance) FROM ledger_accounts WHERE user_id = ${u.id}`), '0');
	assert.equal(await s.sql(`SELECT -balance FROM ledger_accounts WHERE kind = 'receivable'`), String(5000000 - left));
	await waitFor(async () => {
		try { await ask(); return false; } catch (e) { return e.status === 402 && e.code === 'account_in_debt'; }
	}, 5000, 'inference refused with 402');
	const billing = (await u.c.get('/billing')).text_;
	assert.match(billing, /id="owed"/);
	await assertValidHtml(billing, 'billing');
	// The operator's Billing page lists the account among those that owe, and the refund.
	const op = await account('debt-op');
	await s.sql(`UPDATE users SET role = 'admin' WHERE id = ${op.id}`);
	const adm = (await op.c.get('/admin/billing')).text_;
	await assertValidHtml(adm, 'admin billing');
	const owing = /<table id="owing">[\s\S]*?<\/table>/.exec(adm)[0];
	assert.ok(owing.includes(u.email), 'the account that owes is listed');
	assert.ok(!owing.includes(sup.email));
	assert.match(adm, /refunded \$\d+\.\d\d/);
	// A new top-up pays the debt first; the account spends again.
	const t2 = await started(u, '5.00');
	assert.equal((await deliver('checkout.session.completed', session(t2, 500))).body.outcome, 'credited');
	assert.equal(await owed(u), 0);
	assert.equal(await credit(u), 5000000 - (5000000 - left));
	assert.equal(await s.sql(`SELECT balance FROM ledger_accounts WHERE kind = 'receivable'`), '0');
	await waitFor(async () => {
		try { await ask(); return true; } catch { return false; }
	}, 5000, 'inference works again');
});

test('top-ups outside the limits, or malformed, are refused before Stripe hears of them', async () => {
	const u = await account('limits');
	const sessions = await s.sql('SELECT count(*) FROM topups');
	for (const [amount, code] of [['4.99', 'amount_out_of_range'], ['500.01', 'amount_out_of_range'],
		['10.001', 'amount_out_of_range'], ['ten', 'amount_out_of_range'], ['-5', 'amount_out_of_range']]) {
		const res = await topup(u, amount);
		assert.equal(res.status, 400, amount);
		assert.equal(JSON.parse(res.text_).error.code, code, amount);
		assert.equal(JSON.parse(res.text_).error.param, 'amount_usd');
	}
	const res = await u.c.post('/v1/me/topups', { headers: { 'x-csrf-token': u.csrf }, json: { amount_usd: 10 } });
	assert.equal(res.status, 400);
	assert.equal(await s.sql('SELECT count(*) FROM topups'), sessions, 'nothing recorded');
	// A top-up left open expires 25 hours after it began; a paid one stays paid.
	const open = await started(u, '6.00'), paid = await started(u, '7.00');
	await deliver('checkout.session.completed', session(paid, 700));
	const began = Number(await s.sql(`SELECT extract(epoch FROM created_at) * 1000 FROM topups WHERE id = ${open.id}`));
	const tick = (at) => runProgram(bin('infrpoolctl'), ['-c', s.env.INFRPOOL_CONFIG, 'tick', '--now',
		new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z'), 'topups-expire']);
	assert.equal((await tick(began + 24 * 3600e3)).code, 0);
	assert.equal(await status(open), 'open');
	assert.equal((await tick(began + 26 * 3600e3)).code, 0);
	assert.deepEqual([await status(open), await status(paid)], ['expired', 'paid']);
	const page = await u.c.submit('/billing', '/billing/topup', { amount_usd: '1.00' });
	assert.equal(page.status, 400);
	assert.match(page.text_, /Enter whole cents from \$5\.00 to \$500\.00/);
});

test('Stripe unreachable: 502, nothing charged, the top-up failed; no secret in any log line', async () => {
	const u = await account('down');
	const keep = fake;
	await keep.stop();
	fake = null;
	const res = await topup(u, '9.00');
	assert.equal(res.status, 502);
	assert.equal(JSON.parse(res.text_).error.code, 'payment_provider');
	assert.equal(await s.sql(`SELECT status || ' ' || (error IS NOT NULL) FROM topups WHERE user_id = ${u.id}`),
		'failed true');
	for (const f of ['app.log', 'relay.log']) {
		const log = readFileSync(join(s.dir, f), 'utf8');
		assert.ok(!log.includes(keep.o.secretKey) && !log.includes(keep.o.webhookSecret), `no secret in ${f}`);
	}
	assert.ok(!(await s.sql('SELECT string_agg(coalesce(error, \'\'), \' \') FROM topups')).includes(keep.o.secretKey));
});
