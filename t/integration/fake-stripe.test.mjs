// fake-stripe.test.mjs: the fake Stripe of the tests and the demo
// (t/mock/stripe/), driven by the official stripe client as the app's peer
// would be: customers and Checkout Sessions in Stripe's wire format, errors
// as the library's typed errors, idempotent replays; the hosted page's pay,
// bank debit, decline and cancel; refunds, disputes and webhook retries,
// every event checked by stripe.webhooks.constructEvent on a stand-in app.
// No infrpool stack: this tests the fake itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startFakeStripe } from '../lib/stripe.mjs';
import { assertValidHtml } from '../lib/html.mjs';
import { requirePeer } from '../lib/peers.mjs';

const Stripe = requirePeer('stripe');
let fake, stripe, app;

// The stand-in app: verifies each delivery's signature as the real app
// must, keeps the events; fail(n) answers the next n deliveries 500.
function startApp(secret) {
	const got = [];
	let failing = 0;
	const server = createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			if (failing > 0) {
				failing--;
				res.writeHead(500).end();
				return;
			}
			const raw = Buffer.concat(chunks).toString();
			try {
				const event = Stripe.webhooks.constructEvent(raw, req.headers['stripe-signature'], secret);
				got.push({ event, headers: req.headers, raw });
				res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"received":true}');
			} catch (e) {
				got.push({ bad: e.message });
				res.writeHead(400).end();
			}
		});
	});
	return new Promise((res) => server.listen(0, '127.0.0.1', () => res({
		url: `http://127.0.0.1:${server.address().port}/hooks/stripe`, got,
		fail(n) { failing = n; },
		// What came about session s: it, or its payment (same topup_id).
		of: (s) => got.filter((g) => g.event && (g.event.data.object.id === s.id ||
			g.event.data.object.metadata?.topup_id === s.metadata.topup_id)),
		// What came about dispute id.
		ofDispute: (id) => got.filter((g) => g.event?.data.object.id === id),
		stop: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
	})));
}

before(async () => {
	const secret = 'whsec_' + 'a1b2c3'.repeat(6);
	app = await startApp(secret);
	fake = await startFakeStripe({ webhookUrl: app.url, webhookSecret: secret });
	stripe = fake.client();
});
after(async () => {
	await fake?.stop();
	await app?.stop();
});

// A Checkout Session for a top-up of cents, as infrpool makes one; each
// names its own top-up (metadata topup_id N, client_reference_id topup-N).
let topups = 0;
function topup(cents, extra = {}) {
	const id = String(++topups);
	return stripe.checkout.sessions.create({
		mode: 'payment', client_reference_id: `topup-${id}`,
		line_items: [{ price_data: { currency: 'usd', unit_amount: cents, product_data: { name: 'infrpool credit' } }, quantity: 1 }],
		success_url: 'http://app.test/billing/done?session={CHECKOUT_SESSION_ID}', cancel_url: 'http://app.test/billing',
		metadata: { topup_id: id }, payment_intent_data: { metadata: { topup_id: id } }, ...extra,
	});
}

// POST a button of the hosted page; the response, redirects not followed.
const press = (session, action, card) => fetch(session.url, { method: 'POST', redirect: 'manual',
	body: new URLSearchParams({ action, ...(card ? { card } : {}) }) });

const control = async (path, body) => {
	const res = await fetch(`${fake.url}/_fake${path}`, { method: 'POST', body: JSON.stringify(body ?? {}) });
	return { status: res.status, body: await res.json() };
};

test('customers: created and retrieved through the official client', async () => {
	const c = await stripe.customers.create({ email: 'ann@demo.test', name: 'Ann', metadata: { user_id: '42' } });
	assert.match(c.id, /^cus_\w+$/);
	assert.equal(c.object, 'customer');
	assert.deepEqual([c.email, c.name, c.metadata, c.livemode], ['ann@demo.test', 'Ann', { user_id: '42' }, false]);
	assert.match(c.lastResponse.requestId, /^req_\w+$/);
	assert.deepEqual(await stripe.customers.retrieve(c.id), { ...c });
	await assert.rejects(stripe.customers.retrieve('cus_nope'), (e) => e instanceof Stripe.errors.StripeInvalidRequestError &&
		e.statusCode === 404 && e.code === 'resource_missing' && e.message === "No such customer: 'cus_nope'");
});

test('a Checkout Session in Stripe\'s shape; the wire format is bracket notation', async () => {
	const c = await stripe.customers.create({ email: 'bo@demo.test' });
	const s = await topup(1000, { customer: c.id });
	assert.match(s.id, /^cs_test_\w+$/);
	assert.equal(s.url, `${fake.url}/c/pay/${s.id}`);
	assert.deepEqual([s.object, s.mode, s.status, s.payment_status, s.amount_total, s.currency, s.customer,
		s.client_reference_id, s.metadata, s.payment_intent],
	['checkout.session', 'payment', 'open', 'unpaid', 1000, 'usd', c.id, `topup-${s.metadata.topup_id}`, s.metadata, null]);
	assert.ok(s.expires_at > s.created + 3600);
	const again = await stripe.checkout.sessions.retrieve(s.id, { expand: ['line_items'] });
	assert.equal(again.line_items.data[0].description, 'infrpool credit');
	assert.equal(again.line_items.data[0].amount_total, 1000);
	// As libcurl will send it: form-encoded by hand, no client library.
	const body = 'mode=payment&client_reference_id=topup-8&metadata[topup_id]=8' +
		'&line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=2550' +
		'&line_items[0][price_data][product_data][name]=infrpool%20credit&line_items[0][quantity]=1' +
		`&success_url=${encodeURIComponent('http://app.test/ok')}&payment_intent_data[metadata][topup_id]=8`;
	const res = await fetch(`${fake.url}/v1/checkout/sessions`, { method: 'POST', body, headers: {
		Authorization: `Bearer ${fake.secretKey}`, 'Content-Type': 'application/x-www-form-urlencoded',
		'Stripe-Version': '2026-10-28.endive' } });
	assert.equal(res.status, 200);
	assert.equal(res.headers.get('stripe-version'), '2026-10-28.endive');
	const raw = await res.json();
	assert.deepEqual([raw.amount_total, raw.metadata, raw.client_reference_id, raw.cancel_url],
		[2550, { topup_id: '8' }, 'topup-8', null]);
	const json = await fetch(`${fake.url}/v1/customers`, { method: 'POST', body: '{"email":"x@y.z"}',
		headers: { Authorization: `Bearer ${fake.secretKey}`, 'Content-Type': 'application/json' } });
	assert.equal(json.status, 400);
});

test('bad requests come back as the library\'s typed errors', async () => {
	const bad = (p, check) => assert.rejects(p, (e) => {
		assert.ok(e instanceof Stripe.errors.StripeInvalidRequestError, e.constructor.name);
		check(e);
		return true;
	});
	await bad(stripe.checkout.sessions.create({ success_url: 'http://a.test/', line_items: [] }),
		(e) => assert.deepEqual([e.statusCode, e.param, e.code, e.message], [400, 'mode', 'parameter_missing', 'Missing required param: mode.']));
	await bad(stripe.checkout.sessions.create({ mode: 'payment', success_url: 'http://a.test/' }),
		(e) => assert.equal(e.param, 'line_items'));
	await bad(stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ quantity: 1, price_data: { currency: 'usd', unit_amount: 100, product_data: { name: 'x' } } }] }),
		(e) => assert.equal(e.param, 'success_url'));
	await bad(topup(1000, { colour: 'blue' }),
		(e) => assert.deepEqual([e.code, e.param], ['parameter_unknown', 'colour']));
	await bad(topup(1000, { line_items: [{ price_data: { currency: 'usd', unit_amount: 100, product_data: { name: 'x' } } }] }),
		(e) => assert.equal(e.param, 'line_items[0][quantity]'));
	await bad(topup(10), (e) => assert.match(e.message, /at least \$0\.50 usd/));
	await bad(topup(1000, { customer: 'cus_missing' }), (e) => assert.equal(e.code, 'resource_missing'));
	await bad(topup(1000, { success_url: 'not a url' }), (e) => assert.equal(e.param, 'success_url'));
	await assert.rejects(new Stripe('sk_test_wrongwrongwrong', { host: '127.0.0.1', port: fake.port, protocol: 'http' })
		.customers.create({ email: 'x@y.z' }), (e) => e instanceof Stripe.errors.StripeAuthenticationError &&
		e.statusCode === 401 && /^Invalid API Key provided: sk_test_\*+rong$/.test(e.message));
	const anon = await fetch(`${fake.url}/v1/customers`, { method: 'POST', body: 'email=x@y.z' });
	assert.equal(anon.status, 401);
	assert.equal((await anon.json()).error.type, 'invalid_request_error');
	const lost = await fetch(`${fake.url}/v1/nothing`, { headers: { Authorization: `Bearer ${fake.secretKey}` } });
	assert.equal(lost.status, 404);
	assert.match((await lost.json()).error.message, /^Unrecognized request URL \(GET: \/v1\/nothing\)/);
});

test('an Idempotency-Key replays the first answer; another body with it is refused', async () => {
	const key = `topup-${Date.now()}`;
	const a = await stripe.customers.create({ email: 'idem@demo.test' }, { idempotencyKey: key });
	const b = await stripe.customers.create({ email: 'idem@demo.test' }, { idempotencyKey: key });
	assert.equal(b.id, a.id);
	assert.equal(b.lastResponse.headers['idempotent-replayed'], 'true');
	assert.equal(a.lastResponse.headers['idempotent-replayed'], undefined);
	await assert.rejects(stripe.customers.create({ email: 'other@demo.test' }, { idempotencyKey: key }),
		(e) => e instanceof Stripe.errors.StripeIdempotencyError && e.statusCode === 400 &&
			e.type === 'StripeIdempotencyError');
	// A refusal of validation is not kept: the key still works once fixed.
	const k2 = `${key}-b`;
	await assert.rejects(stripe.checkout.sessions.create({ mode: 'payment' }, { idempotencyKey: k2 }));
	const ok = await stripe.checkout.sessions.create({ mode: 'payment', success_url: 'http://a.test/',
		line_items: [{ quantity: 1, price_data: { currency: 'usd', unit_amount: 500, product_data: { name: 'c' } } }] },
	{ idempotencyKey: k2 });
	assert.equal(ok.status, 'open');
});

test('pay on the hosted page: redirect, a paid session and signed events, in order', async () => {
	const s = await topup(1000);
	const page = await fetch(s.url);
	assert.equal(page.status, 200);
	const html = await page.text();
	await assertValidHtml(html, 'the fake checkout page');
	assert.match(html, /infrpool credit/);
	assert.match(html, /\$10\.00/);
	assert.match(html, /<label for="card">/);
	const res = await press(s, 'pay');
	assert.equal(res.status, 303);
	assert.equal(res.headers.get('location'), `http://app.test/billing/done?session=${s.id}`);
	const rec = await fake.waitForEvent('checkout.session.completed', { match: (e) => e.data.object.id === s.id });
	assert.deepEqual(rec.attempts.map((a) => a.status), [200]);
	const got = app.of(s);
	assert.deepEqual(got.map((g) => g.event.type), ['charge.succeeded', 'payment_intent.succeeded', 'checkout.session.completed']);
	const { event, headers, raw } = got[2];
	assert.equal(event.id, rec.id);
	assert.match(event.id, /^evt_\w+$/);
	assert.deepEqual([event.object, event.livemode, event.api_version, event.pending_webhooks],
		['event', false, fake.apiVersion, 1]);
	const cs = event.data.object;
	assert.deepEqual([cs.status, cs.payment_status, cs.amount_total, cs.currency, cs.client_reference_id, cs.metadata],
		['complete', 'paid', 1000, 'usd', s.client_reference_id, s.metadata]);
	assert.match(cs.payment_intent, /^pi_\w+$/);
	assert.match(headers['content-type'], /^application\/json/);
	assert.match(headers['stripe-signature'], /^t=\d+,v1=[0-9a-f]{64}$/);
	assert.throws(() => Stripe.webhooks.constructEvent(raw, headers['stripe-signature'], 'whsec_other'),
		Stripe.errors.StripeSignatureVerificationError);
	const charge = got[0].event.data.object;
	assert.deepEqual([charge.status, charge.paid, charge.amount, charge.payment_intent, charge.metadata],
		['succeeded', true, 1000, cs.payment_intent, s.metadata]);
	const now = await stripe.checkout.sessions.retrieve(s.id);
	assert.deepEqual([now.status, now.payment_status, now.payment_intent], ['complete', 'paid', cs.payment_intent]);
	// Paid once: the page says so, and a second press changes nothing.
	const donePage = await (await fetch(s.url)).text();
	assert.match(donePage, /This payment is complete/);
	await assertValidHtml(donePage, 'the page of a paid session');
	assert.equal((await press(s, 'pay')).status, 409);
	assert.equal(fake.events('checkout.session.completed').filter((r) => r.event.data.object.id === s.id).length, 1);
});

test('bank debit: completed unpaid, then async_payment_succeeded or _failed', async () => {
	for (const outcome of ['succeeded', 'failed']) {
		const s = await topup(2000);
		assert.equal((await press(s, 'bank')).status, 303);
		const done = await fake.waitForEvent('checkout.session.completed', { match: (e) => e.data.object.id === s.id });
		assert.deepEqual([done.event.data.object.status, done.event.data.object.payment_status], ['complete', 'unpaid']);
		assert.equal((await control(`/checkout/sessions/${s.id}/settle`, { outcome: 'sideways' })).status, 400);
		const r = await control(`/checkout/sessions/${s.id}/settle`, { outcome });
		assert.equal(r.status, 200);
		const ev = await fake.waitForEvent(`checkout.session.async_payment_${outcome}`, { match: (e) => e.data.object.id === s.id });
		assert.equal(ev.event.data.object.payment_status, outcome === 'succeeded' ? 'paid' : 'unpaid');
		assert.deepEqual(app.of(s).map((g) => g.event.type).slice(-3), [outcome === 'succeeded' ? 'charge.succeeded' : 'charge.failed',
			outcome === 'succeeded' ? 'payment_intent.succeeded' : 'payment_intent.payment_failed',
			`checkout.session.async_payment_${outcome}`]);
		assert.equal((await control(`/checkout/sessions/${s.id}/settle`, { outcome })).status, 400);
	}
});

test('a declined card and a cancel leave the session open and send nothing', async () => {
	const s = await topup(1500);
	const before = fake.events().length;
	for (const [action, card] of [['decline'], ['pay', '4000 0000 0000 0002']]) {
		const res = await press(s, action, card);
		assert.equal(res.status, 402);
		const html = await res.text();
		assert.match(html, /role="alert">Your card has been declined\./);
		await assertValidHtml(html, 'the declined page');
	}
	const res = await press(s, 'cancel');
	assert.equal(res.status, 303);
	assert.equal(res.headers.get('location'), 'http://app.test/billing');
	const now = await stripe.checkout.sessions.retrieve(s.id);
	assert.deepEqual([now.status, now.payment_status], ['open', 'unpaid']);
	assert.equal(fake.events().length, before);
	assert.equal((await press(s, 'pay')).status, 303);	// and it can still be paid
});

test('refunds add up on the charge; more than remains is refused', async () => {
	const s = await topup(1000);
	const { session } = fake.pay(s.id);
	const pi = session.payment_intent;
	const r1 = await stripe.refunds.create({ payment_intent: pi, amount: 300 });
	assert.match(r1.id, /^re_\w+$/);
	assert.deepEqual([r1.object, r1.amount, r1.status, r1.payment_intent], ['refund', 300, 'succeeded', pi]);
	let ev = await fake.waitForEvent('charge.refunded', { match: (e) => e.data.object.payment_intent === pi });
	const ch = ev.event.data.object;
	assert.deepEqual([ch.amount, ch.amount_refunded, ch.refunded, ch.currency, ch.metadata],
		[1000, 300, false, 'usd', s.metadata]);
	assert.equal(ev.event.request.id, r1.lastResponse.requestId);
	await assert.rejects(stripe.refunds.create({ charge: ch.id, amount: 800 }), (e) =>
		e instanceof Stripe.errors.StripeInvalidRequestError && e.code === 'amount_too_large' && e.param === 'amount' &&
		e.message === 'Refund amount ($8.00) is greater than unrefunded amount on charge ($7.00)');
	const r2 = await stripe.refunds.create({ charge: ch.id });
	assert.equal(r2.amount, 700);
	ev = await fake.waitForEvent('charge.refunded', { match: (e) => e.data.object.id === ch.id && e.data.object.refunded });
	assert.equal(ev.event.data.object.amount_refunded, 1000);
	assert.deepEqual(ev.event.data.previous_attributes, { amount_refunded: 300, refunded: false });
	await assert.rejects(stripe.refunds.create({ charge: ch.id, amount: 1 }), (e) => e.code === 'charge_already_refunded');
	assert.deepEqual((await stripe.charges.retrieve(ch.id)).amount_refunded, 1000);
	await assert.rejects(stripe.refunds.create({ amount: 1 }), Stripe.errors.StripeInvalidRequestError);
});

test('disputes: created, then closed lost or won (funds reinstated)', async () => {
	for (const outcome of ['lost', 'won']) {
		const s = await topup(1200);
		const pi = fake.pay(s.id).session.payment_intent;
		const d = await control('/disputes', { payment_intent: pi, reason: 'fraudulent' });
		assert.equal(d.status, 200);
		assert.match(d.body.id, /^dp_\w+$/);
		const created = await fake.waitForEvent('charge.dispute.created', { match: (e) => e.data.object.id === d.body.id });
		const dp = created.event.data.object;
		assert.deepEqual([dp.object, dp.amount, dp.currency, dp.payment_intent, dp.status, dp.reason],
			['dispute', 1200, 'usd', pi, 'needs_response', 'fraudulent']);
		assert.match(dp.charge, /^ch_\w+$/);
		await assert.rejects(stripe.refunds.create({ payment_intent: pi }), (e) => e.code === 'charge_disputed');
		assert.equal((await control('/disputes', { payment_intent: pi })).status, 400);
		const c = await control(`/disputes/${dp.id}/close`, { outcome });
		assert.equal(c.body.status, outcome);
		const closed = await fake.waitForEvent('charge.dispute.closed', { match: (e) => e.data.object.id === dp.id });
		assert.equal(closed.event.data.object.status, outcome);
		if (outcome === 'won') await fake.waitForEvent('charge.dispute.funds_reinstated', { match: (e) => e.data.object.id === dp.id });
		assert.deepEqual(app.ofDispute(dp.id).map((g) => g.event.type), ['charge.dispute.created', 'charge.dispute.funds_withdrawn',
			'charge.dispute.closed', ...(outcome === 'won' ? ['charge.dispute.funds_reinstated'] : [])]);
		assert.equal((await control(`/disputes/${dp.id}/close`, { outcome })).status, 400);
	}
});

test('deliveries are retried after failures; delivery can be switched off and events redelivered', async () => {
	// Nothing else in flight, so the two failures fall on this payment.
	for (let i = 0; i < 100 && fake.events().some((r) => r.state === 'pending'); i++)
		await new Promise((r) => setTimeout(r, 20));
	app.fail(2);
	let s = await topup(900);
	fake.pay(s.id);
	let rec = await fake.waitForEvent('checkout.session.completed', { match: (e) => e.data.object.id === s.id });
	// The two earlier events of the session took the failures, in order.
	const first = fake.events('charge.succeeded').find((r) => r.event.data.object.payment_intent === rec.event.data.object.payment_intent);
	assert.deepEqual(first.attempts.map((a) => a.status), [500, 500, 200]);
	assert.deepEqual(rec.attempts.map((a) => a.status), [200]);

	assert.deepEqual((await control('/delivery', { enabled: false })).body, { enabled: false });
	s = await topup(800);
	fake.pay(s.id);
	await new Promise((r) => setTimeout(r, 200));
	const waiting = fake.events('charge.succeeded').at(-1);
	assert.equal(waiting.state, 'pending');
	assert.ok(waiting.attempts.length >= 2, JSON.stringify(waiting.attempts));
	assert.equal(waiting.attempts[0].error, 'delivery switched off');
	assert.equal(app.of(s).length, 0);
	await control('/delivery', { enabled: true });
	rec = await fake.waitForEvent('checkout.session.completed', { match: (e) => e.data.object.id === s.id });
	assert.deepEqual(app.of(s).map((g) => g.event.type), ['charge.succeeded', 'payment_intent.succeeded', 'checkout.session.completed']);

	const r = await control(`/events/${rec.id}/redeliver`);
	assert.equal(r.status, 200);
	await fake.waitForEvent('checkout.session.completed', { match: (e) => e.id === rec.id && rec.attempts.length === 2 });
	for (let i = 0; i < 50 && app.of(s).length < 4; i++) await new Promise((res) => setTimeout(res, 20));
	assert.deepEqual(app.of(s).filter((g) => g.event.id === rec.id).length, 2);
	const listed = await (await fetch(`${fake.url}/_fake/events?type=checkout.session.completed`)).json();
	assert.ok(listed.some((l) => l.id === rec.id && l.state === 'delivered' && l.attempts.length === 2));
	assert.equal(app.got.filter((g) => g.bad).length, 0);
});

test('a bank debit settles by itself in demo mode', async () => {
	const demo = await startFakeStripe({ webhookUrl: app.url, webhookSecret: fake.webhookSecret, autoSettleMs: 100 });
	try {
		const s = await demo.client().checkout.sessions.create({ mode: 'payment', success_url: 'http://a.test/',
			line_items: [{ quantity: 2, price_data: { currency: 'usd', unit_amount: 500, product_data: { name: 'credit' } } }] });
		const html = await (await fetch(s.url)).text();
		assert.match(html, /Pay by bank debit that will fail/);
		await assertValidHtml(html, 'the demo checkout page');
		assert.equal((await press(s, 'bank_fail')).status, 303);
		const ev = await demo.waitForEvent('checkout.session.async_payment_failed', { match: (e) => e.data.object.id === s.id });
		assert.equal(ev.event.data.object.amount_total, 1000);
	} finally {
		await demo.stop();
	}
});

test('events kept unsent can be delivered later in any order (a refund before its payment)', async () => {
	fake.setWebhookUrl(null);
	const s = await topup(1100);
	const pi = fake.pay(s.id).session.payment_intent;
	await stripe.refunds.create({ payment_intent: pi });
	const done = fake.events('checkout.session.completed').find((r) => r.event.data.object.id === s.id);
	const refunded = fake.events('charge.refunded').find((r) => r.event.data.object.payment_intent === pi);
	assert.deepEqual([done.state, refunded.state, done.event.pending_webhooks], ['not_sent', 'not_sent', 0]);
	fake.setWebhookUrl(app.url);
	fake.redeliver(refunded.id);
	fake.redeliver(done.id);
	await fake.waitForEvent('checkout.session.completed', { match: (e) => e.id === done.id });
	assert.deepEqual(app.of(s).map((g) => g.event.type), ['charge.refunded', 'checkout.session.completed']);
});
