// fake-tremendous.test.mjs: the fake Tremendous of the tests and the demo
// (t/mock/tremendous/), driven by the official tremendous client (and by
// hand-made JSON, as libcurl will send it): funding sources and campaigns,
// orders in Tremendous's wire format, idempotency by external_id, errors
// in Tremendous's shape; rewards delivered, bounced and resent, cancelled,
// flagged then released or blocked; faults on POST /orders and the retry
// that finds the order; webhooks signed and checked as the app must check
// them, retried in order. No infrpool stack: this tests the fake itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeTremendous } from '../lib/tremendous.mjs';

let fake, api, app;
const SECRET = 'a1b2c3d4e5f6'.repeat(4);

// The stand-in app: checks each delivery's Tremendous-Webhook-Signature
// as the real app must (HMAC-SHA256 of the raw body, constant time),
// keeps the events; fail(n) answers the next n deliveries 500.
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
			const raw = Buffer.concat(chunks);
			const want = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
			const sig = Buffer.from(req.headers['tremendous-webhook-signature'] ?? '');
			if (sig.length !== want.length || !timingSafeEqual(sig, want)) {
				got.push({ bad: true, headers: req.headers });
				res.writeHead(401).end();
				return;
			}
			got.push({ event: JSON.parse(raw), headers: req.headers, raw: raw.toString() });
			res.writeHead(200).end();
		});
	});
	return new Promise((res) => server.listen(0, '127.0.0.1', () => res({
		url: `http://127.0.0.1:${server.address().port}/hooks/tremendous`, got,
		fail(n) { failing = n; },
		// The events that came about reward id, in order.
		of: (id) => got.filter((g) => g.event?.payload.resource.id === id).map((g) => g.event.event),
		stop: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
	})));
}

before(async () => {
	app = await startApp(SECRET);
	fake = await startFakeTremendous({ webhookUrl: app.url, webhookSecret: SECRET });
	api = fake.client();
});
after(async () => {
	await fake?.stop();
	await app?.stop();
});

// An order as infrpool makes one: payout n of dollars to Ann.
let payouts = 0;
function order(dollars, extra = {}, reward = {}) {
	return { external_id: `payout-${++payouts}`, payment: { funding_source_id: fake.fundingSourceId },
		reward: { campaign_id: fake.campaignId, value: { denomination: dollars, currency_code: 'USD' },
			recipient: { name: 'Ann Supplier', email: 'ann@demo.test' }, delivery: { method: 'EMAIL' }, ...reward },
		...extra };
}

// POST body (an object, or a string sent as is) to path by hand, as libcurl will.
async function post(path, body, key = fake.apiKey) {
	const res = await fetch(`${fake.apiBase}${path}`, { method: 'POST',
		body: typeof body === 'string' ? body : JSON.stringify(body),
		headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) } });
	return { status: res.status, body: await res.json() };
}

// The SDK's error for p: { status, errors }.
async function refused(p) {
	try {
		await p;
	} catch (e) {
		assert.ok(e.response, `not an HTTP error: ${e}`);
		return { status: e.response.status, errors: e.response.data.errors };
	}
	assert.fail('the request succeeded');
}

test('the account: one balance funding source, one campaign, products', async () => {
	const fs = (await api.fundingSources.listFundingSources()).data.funding_sources;
	assert.equal(fs.length, 1);
	assert.deepEqual([fs[0].id, fs[0].method, fs[0].status, fs[0].usage_permissions.includes('api_orders')],
		[fake.fundingSourceId, 'balance', 'active', true]);
	assert.equal(typeof fs[0].meta.available_cents, 'number');
	assert.match(fake.fundingSourceId, /^[A-Z0-9]{12}$/);
	const c = (await api.campaigns.listCampaigns()).data.campaigns;
	assert.deepEqual(c.map((x) => x.id), [fake.campaignId]);
	const products = (await api.products.listProducts()).data.products.map((p) => p.id);
	assert.ok(c[0].products.length && c[0].products.every((id) => products.includes(id)));
	assert.equal((await api.campaigns.getCampaign(fake.campaignId)).data.campaign.name, c[0].name);
	assert.equal((await refused(api.campaigns.getCampaign('NOPE00000000'))).status, 404);
	assert.match(fake.conf, new RegExp(`^\\[tremendous\\]\\napi_base = ${fake.url}/api/v2\\napi_key = TEST_\\w+\\n` +
		`webhook_secret = ${SECRET}\\nfunding_source_id = ${fake.fundingSourceId}\\ncampaign_id = ${fake.campaignId}\\n$`));
});

test('an order in Tremendous\'s shape, found again by id, by external_id and in the list', async () => {
	const req = order(12.34);
	const res = await api.orders.createOrder(req);
	assert.equal(res.status, 200);
	const o = res.data.order;
	assert.match(o.id, /^[A-Z0-9]{12}$/);
	assert.deepEqual([o.external_id, o.campaign_id, o.status, o.channel], [req.external_id, fake.campaignId, 'EXECUTED', 'API']);
	assert.deepEqual(o.payment, { subtotal: 12.34, total: 12.34, fees: 0, discount: 0, currency_code: 'USD' });
	assert.ok(!Number.isNaN(Date.parse(o.created_at)));
	assert.equal(o.rewards.length, 1);
	const r = o.rewards[0];
	assert.match(r.id, /^[A-Z0-9]{12}$/);
	assert.deepEqual([r.order_id, r.value, r.recipient, r.delivery],
		[o.id, { denomination: 12.34, currency_code: 'USD' }, { name: 'Ann Supplier', email: 'ann@demo.test' },
			{ method: 'EMAIL', status: 'SCHEDULED' }]);
	assert.deepEqual((await api.orders.getOrder(o.id)).data.order, o);
	assert.deepEqual((await api.orders.getOrder(req.external_id)).data.order, o);
	assert.deepEqual((await api.rewards.getReward(r.id)).data.reward, r);
	const listed = (await api.orders.listOrders(undefined, undefined, req.external_id)).data;
	assert.deepEqual([listed.total_count, listed.orders[0].id], [1, o.id]);
	assert.equal((await refused(api.orders.getOrder('NOSUCHORDER1'))).status, 404);
	const missing = await refused(api.rewards.getReward('NOSUCHREWARD'));
	assert.equal(missing.status, 404);
	assert.equal(typeof missing.errors.message, 'string');
	// Products instead of a campaign, and the balance by its alias.
	const p = await api.orders.createOrder(order(1, { payment: { funding_source_id: 'balance' } },
		{ campaign_id: undefined, products: ['PAYPALUSD001'] }));
	assert.deepEqual([p.status, p.data.order.campaign_id, p.data.order.rewards[0].products], [200, null, ['PAYPALUSD001']]);
});

test('idempotency: the same request again is the same order (201), another under its external_id is 409', async () => {
	const req = order(20);
	const first = await api.orders.createOrder(req);
	const n = fake.orders().length;
	const again = await api.orders.createOrder(req);
	assert.equal(again.status, 201);
	assert.deepEqual(again.data, first.data);
	// The same request with its keys in another order, sent by hand.
	const { external_id, ...rest } = req;
	const byHand = await post('/orders', { reward: rest.reward, payment: rest.payment, external_id });
	assert.deepEqual([byHand.status, byHand.body.order.id], [201, first.data.order.id]);
	assert.equal(fake.orders().length, n, 'no second order');
	for (const other of [{ ...req, reward: { ...req.reward, value: { denomination: 20.01, currency_code: 'USD' } } },
		{ ...req, reward: { ...req.reward, recipient: { name: 'Ann Supplier', email: 'bob@demo.test' } } }]) {
		const e = await refused(api.orders.createOrder(other));
		assert.equal(e.status, 409);
		assert.match(e.errors.message, new RegExp(req.external_id));
		assert.ok(e.errors.payload.external_id);
	}
	assert.equal(fake.orders().length, n);
	// A refused request uses nothing up: the external_id is still free.
	const bad = order(5, {}, { recipient: { name: 'Ann' } });
	assert.equal((await post('/orders', bad)).status, 422);
	const ok = await post('/orders', { ...bad, reward: order(5).reward });
	assert.equal(ok.status, 200);
});

test('bad requests: Tremendous\'s error object, 400 for wrong values, 422 for missing ones, 401, 402', async () => {
	const cases = [
		[order(0), 400, ['reward', 'value', 'denomination']],
		[order(-5), 400, ['reward', 'value', 'denomination']],
		[order(1.005), 400, ['reward', 'value', 'denomination']],
		[order('12.00'), 400, ['reward', 'value', 'denomination']],
		[order(5, {}, { value: { denomination: 5, currency_code: 'EUR' } }), 400, ['reward', 'value', 'currency_code']],
		[order(5, {}, { recipient: { name: 'Ann', email: 'not an email' } }), 400, ['reward', 'recipient', 'email']],
		[order(5, {}, { delivery: { method: 'LINK' } }), 400, ['reward', 'delivery', 'method']],
		[order(5, {}, { recipient: { name: 'Ann' } }), 422, ['reward', 'recipient', 'email']],
		[order(5, {}, { recipient: { email: 'ann@demo.test' } }), 422, ['reward', 'recipient', 'name']],
		[order(5, {}, { delivery: undefined }), 422, ['reward', 'delivery', 'method']],
		[order(5, { payment: {} }), 422, ['payment', 'funding_source_id']],
		[order(5, { payment: { funding_source_id: 'WRONGSOURCE1' } }), 422, ['payment', 'funding_source_id']],
		[order(5, {}, { campaign_id: 'WRONGCAMPAIG' }), 422, ['reward', 'campaign_id']],
		[order(5, {}, { campaign_id: undefined }), 422, ['reward', 'campaign_id']],
		[order(5, {}, { campaign_id: undefined, products: ['NOSUCHPRODUC'] }), 422, ['reward', 'products']],
	];
	for (const [body, status, path] of cases) {
		const r = await post('/orders', body);
		const at = path.reduce((n, k) => n?.[k], r.body.errors?.payload);
		assert.equal(r.status, status, `${path.join('.')}: ${JSON.stringify(r.body)}`);
		assert.equal(r.body.errors.message, 'Order failed: validation failure');
		assert.equal(typeof at, 'string', `${path.join('.')} in ${JSON.stringify(r.body.errors.payload)}`);
	}
	// The docs' own example, and the SDK's view of a 422.
	const e = await refused(api.orders.createOrder({ payment: { funding_source_id: 'WRONG ID' }, reward: {} }));
	assert.equal(e.status, 422);
	assert.ok(e.errors.message && e.errors.payload.payment.funding_source_id);
	assert.equal((await post('/orders', '{"external_id":')).status, 400);
	const form = await fetch(`${fake.apiBase}/orders`, { method: 'POST', body: JSON.stringify(order(5)),
		headers: { Authorization: `Bearer ${fake.apiKey}`, 'Content-Type': 'application/x-www-form-urlencoded' } });
	assert.deepEqual([form.status, (await form.json()).errors.message],
		[400, 'The request body must be sent as Content-Type: application/json']);
	assert.equal((await post('/orders', order(5), null)).status, 401);
	assert.equal((await post('/orders', order(5), 'TEST_wrong')).status, 401);
	const t = (await import('../lib/peers.mjs')).requirePeer('tremendous');
	const stranger = new t.OrdersApi(new t.Configuration({ basePath: fake.apiBase, accessToken: 'TEST_someone_else' }));
	const u = await refused(stranger.listOrders());
	assert.deepEqual([u.status, typeof u.errors.message], [401, 'string']);
	assert.equal((await post('/nothing/here', {})).status, 404);
	// Not enough money: 402, nothing ordered, the external_id still free.
	const n = fake.orders().length;
	fake.setBalance(999);
	const poor = order(10);
	const r = await post('/orders', poor);
	assert.deepEqual([r.status, fake.orders().length], [402, n]);
	fake.setBalance(500000);
	assert.equal((await post('/orders', poor)).status, 200);
});

test('delivered: REWARDS.DELIVERY.SUCCEEDED, signed, reaches the app; the reward says SUCCEEDED', async () => {
	const o = (await api.orders.createOrder(order(7.5))).data.order;
	const rid = o.rewards[0].id;
	const v = fake.deliver(o.external_id);
	assert.equal(v.reward.delivery.status, 'SUCCEEDED');
	const rec = await fake.waitForEvent('REWARDS.DELIVERY.SUCCEEDED', { match: (b) => b.payload.resource.id === rid });
	assert.deepEqual(rec.attempts.map((a) => a.status), [200]);
	const g = app.got.find((x) => x.event?.uuid === rec.uuid);
	assert.deepEqual(Object.keys(g.event), ['event', 'uuid', 'created_utc', 'payload']);
	assert.deepEqual(g.event.payload, { resource: { id: rid, type: 'rewards' }, meta: {} });
	assert.match(g.event.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
	assert.match(g.event.created_utc, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
	assert.match(g.headers['tremendous-webhook-signature'], /^sha256=[0-9a-f]{64}$/);
	assert.equal(g.headers['tremendous-webhook-signature'], fake.sign(g.raw));
	assert.equal(g.raw, JSON.stringify(g.event), 'compact JSON');
	assert.match(g.headers['content-type'], /^application\/json/);
	assert.equal((await api.rewards.getReward(rid)).data.reward.delivery.status, 'SUCCEEDED');
	assert.equal((await api.orders.getOrder(o.id)).data.order.status, 'EXECUTED');
	assert.throws(() => fake.deliver(rid), (e) => e.status === 422);
	assert.throws(() => fake.fail(rid), (e) => e.status === 422);
});

test('bounced: REWARDS.DELIVERY.FAILED with its reason; resent; cancelled with the money back', async () => {
	const o = (await api.orders.createOrder(order(30))).data.order;
	const rid = o.rewards[0].id;
	const balance = async () => (await api.fundingSources.listFundingSources()).data.funding_sources[0].meta.available_cents;
	const before = await balance();
	// Cancelling through the API takes only a reward whose delivery failed.
	assert.equal((await refused(api.rewards.cancelReward(rid))).status, 422);
	fake.fail(rid, { reason: 'mailbox_unavailable', retryable: true });
	const failed = await fake.waitForEvent('REWARDS.DELIVERY.FAILED', { match: (b) => b.payload.resource.id === rid });
	assert.deepEqual(failed.body.payload.meta, { failure_reason: 'mailbox_unavailable', retryable: true });
	assert.equal((await api.rewards.getReward(rid)).data.reward.delivery.status, 'FAILED');
	await api.rewards.resendReward(rid, { updated_email: 'ann@elsewhere.test' });
	const r = (await api.rewards.getReward(rid)).data.reward;
	assert.deepEqual([r.delivery.status, r.recipient.email], ['SCHEDULED', 'ann@elsewhere.test']);
	assert.equal((await refused(api.rewards.resendReward(rid))).status, 422);
	fake.fail(rid);
	await fake.waitForEvent('REWARDS.DELIVERY.FAILED', { match: (b) => b.payload.resource.id === rid && b.payload.meta.failure_reason === 'invalid_email' });
	assert.equal((await api.rewards.cancelReward(rid)).status, 200);
	await fake.waitForEvent('REWARDS.CANCELED', { match: (b) => b.payload.resource.id === rid });
	const after = (await api.orders.getOrder(o.id)).data.order;
	assert.deepEqual([after.status, after.payment.refund], ['CANCELED', { total: 30, currency_code: 'USD' }]);
	assert.equal(await balance(), before + 3000);
	assert.deepEqual(app.of(rid), ['REWARDS.DELIVERY.FAILED', 'REWARDS.DELIVERY.FAILED', 'REWARDS.CANCELED']);
	assert.throws(() => fake.cancel(rid), (e) => e.status === 422);
	// The dashboard's cancel (a control) takes a reward not yet delivered.
	const o2 = (await api.orders.createOrder(order(4))).data.order;
	assert.equal(fake.cancel(o2.id).order.status, 'CANCELED');
	await fake.waitForEvent('REWARDS.CANCELED', { match: (b) => b.payload.resource.id === o2.rewards[0].id });
});

test('flagged: a fraud review until released (then delivered) or blocked (then cancelled)', async () => {
	const a = (await api.orders.createOrder(order(50))).data.order.rewards[0].id;
	const b = (await api.orders.createOrder(order(60))).data.order.rewards[0].id;
	for (const id of [a, b]) assert.equal(fake.flag(id).fraud_review.status, 'flagged');
	await fake.waitForEvent('REWARDS.FLAGGED', { match: (e) => e.payload.resource.id === b });
	const flagged = (await api.fraudReviews.listFraudReviews(undefined, undefined, 'flagged')).data;
	assert.ok(flagged.total_count >= 2);
	const ra = flagged.fraud_reviews.find((x) => x.reward.id === a);
	assert.deepEqual([ra.status, ra.reasons, ra.reviewed_by], ['flagged', ['Over reward amount limit'], undefined]);
	assert.throws(() => fake.deliver(a), (e) => e.status === 422 && /fraud review/.test(e.message));
	assert.equal((await api.fraudReviews.getFraudReview(a)).data.fraud_review.risk, 'medium');
	const rel = (await api.fraudReviews.releaseFraudReview(a)).data.fraud_review;
	assert.deepEqual([rel.status, rel.reward.delivery.status, typeof rel.reviewed_at], ['released', 'SUCCEEDED', 'string']);
	await fake.waitForEvent('REWARDS.DELIVERY.SUCCEEDED', { match: (e) => e.payload.resource.id === a });
	assert.equal((await refused(api.fraudReviews.releaseFraudReview(a))).status, 422);
	const blk = (await api.fraudReviews.blockFraudReview(b)).data.fraud_review;
	assert.equal(blk.status, 'blocked');
	await fake.waitForEvent('REWARDS.CANCELED', { match: (e) => e.payload.resource.id === b });
	assert.equal((await api.orders.getOrder(blk.reward.order_id)).data.order.status, 'CANCELED');
	assert.deepEqual(app.of(a), ['REWARDS.FLAGGED', 'REWARDS.DELIVERY.SUCCEEDED']);
	assert.deepEqual(app.of(b), ['REWARDS.FLAGGED', 'REWARDS.CANCELED']);
	assert.equal((await refused(api.fraudReviews.getFraudReview('NOREVIEW0000'))).status, 404);
	// Flagged after delivery, as when the recipient redeems: release sends nothing more.
	const c = (await api.orders.createOrder(order(8))).data.order.rewards[0].id;
	fake.deliver(c);
	fake.flag(c);
	fake.release(c);
	await fake.waitForEvent('REWARDS.FLAGGED', { match: (e) => e.payload.resource.id === c });
	assert.deepEqual(app.of(c), ['REWARDS.DELIVERY.SUCCEEDED', 'REWARDS.FLAGGED']);
});

test('webhooks: retried on failure with the same uuid, one reward\'s events in order; redelivery; delivery off', async () => {
	const o = (await api.orders.createOrder(order(9))).data.order;
	const rid = o.rewards[0].id;
	app.fail(2);
	fake.flag(rid);
	fake.release(rid);
	const done = await fake.waitForEvent('REWARDS.DELIVERY.SUCCEEDED', { match: (e) => e.payload.resource.id === rid });
	const flagged = fake.events('REWARDS.FLAGGED').find((r) => r.reward_id === rid);
	assert.deepEqual(flagged.attempts.map((a) => a.status), [500, 500, 200]);
	assert.deepEqual(done.attempts.map((a) => a.status), [200]);
	assert.deepEqual(app.of(rid), ['REWARDS.FLAGGED', 'REWARDS.DELIVERY.SUCCEEDED'], 'in order, though the first waited');
	fake.redeliver(done.uuid);
	await waitUntil(() => app.got.filter((g) => g.event?.uuid === done.uuid).length === 2);
	// A forged or altered body does not pass the app's check.
	const forged = JSON.stringify({ ...done.body, event: 'REWARDS.CANCELED' });
	const res = await fetch(app.url, { method: 'POST', body: forged,
		headers: { 'Tremendous-Webhook-Signature': fake.sign(JSON.stringify(done.body)) } });
	assert.equal(res.status, 401);
	fake.setDelivery(false);
	const o2 = (await api.orders.createOrder(order(3))).data.order;
	fake.deliver(o2.id);
	const off = await fake.waitForEvent('REWARDS.DELIVERY.SUCCEEDED', { state: 'failed',
		match: (e) => e.payload.resource.id === o2.rewards[0].id });
	assert.ok(off.attempts.length === 6 && off.attempts.every((a) => a.error === 'delivery switched off'));
	fake.setDelivery(true);
	fake.redeliver(off.uuid);
	await fake.waitForEvent('REWARDS.DELIVERY.SUCCEEDED', { match: (e) => e.uuid === off.uuid });
	// Nowhere to send: kept as not_sent.
	fake.setWebhookUrl(null);
	const o3 = (await api.orders.createOrder(order(2))).data.order;
	fake.deliver(o3.id);
	assert.equal(fake.events('REWARDS.DELIVERY.SUCCEEDED').at(-1).state, 'not_sent');
	fake.setWebhookUrl(app.url);
});

test('faults on POST /orders: a timeout after the order is recorded, then a retry: one order at Tremendous', async () => {
	const req = order(25);
	const n = fake.orders().length;
	fake.fault({ mode: 'timeout', when: 'after', ms: 5000 });
	await assert.rejects(fetch(`${fake.apiBase}/orders`, { method: 'POST', body: JSON.stringify(req),
		headers: { Authorization: `Bearer ${fake.apiKey}`, 'Content-Type': 'application/json' },
		signal: AbortSignal.timeout(300) }), /TimeoutError|aborted/);
	assert.equal(fake.orders().length, n + 1, 'the order was made though no answer came');
	const retry = await post('/orders', req);
	assert.deepEqual([retry.status, retry.body.order.external_id], [201, req.external_id]);
	assert.equal(fake.orders().length, n + 1);
	// 503 before recording: nothing made; the retry makes it (200).
	const r2 = order(26);
	fake.fault({ mode: '503', count: 2 });
	assert.equal((await post('/orders', r2)).status, 503);
	assert.equal((await post('/orders', r2)).status, 503);
	assert.equal(fake.orders().length, n + 1);
	assert.equal((await post('/orders', r2)).status, 200);
	// 500 after recording, and a reset connection after it: the order is there.
	const r3 = order(27);
	fake.fault({ mode: '500', when: 'after' });
	fake.fault({ mode: 'reset', when: 'after' });
	const e = await post('/orders', r3);
	assert.deepEqual([e.status, typeof e.body.errors.message], [500, 'string']);
	await assert.rejects(post('/orders', r3), /fetch failed/);
	assert.equal((await post('/orders', r3)).status, 201);
	assert.equal(fake.orders().filter((o) => o.external_id === r3.external_id).length, 1);
	// Only POST /orders is affected; a bad fault is refused.
	fake.fault({ mode: '500' });
	assert.equal((await api.fundingSources.listFundingSources()).status, 200);
	fake.clearFaults();
	assert.throws(() => fake.fault({ mode: 'explode' }), (x) => x.status === 400);
});

test('the controls over HTTP: loopback JSON, payout ids accepted', async () => {
	const o = (await api.orders.createOrder(order(11))).data.order;
	const ctl = async (method, path, body) => {
		const res = await fetch(`${fake.url}/_fake${path}`, { method, ...(body ? { body: JSON.stringify(body) } : {}) });
		return { status: res.status, body: await res.json() };
	};
	const all = await ctl('GET', '/orders');
	assert.ok(all.body.some((x) => x.id === o.id));
	const f = await ctl('POST', `/rewards/${o.external_id}/fail`, { reason: 'spam_report' });
	assert.deepEqual([f.status, f.body.reward.delivery.status, f.body.order.id], [200, 'FAILED', o.id]);
	const ev = await ctl('GET', '/events?event=REWARDS.DELIVERY.FAILED');
	assert.ok(ev.body.some((x) => x.reward_id === o.rewards[0].id && x.body.payload.meta.failure_reason === 'spam_report'));
	assert.equal((await ctl('POST', `/rewards/${o.id}/cancel`)).body.canceled, true);
	assert.equal((await ctl('POST', '/rewards/NOSUCHREWARD/deliver')).status, 404);
	assert.equal((await ctl('POST', `/fraud_reviews/${o.id}/release`)).status, 404);
	assert.equal((await ctl('POST', '/faults', { mode: '503', count: 0 })).status, 400);
	assert.deepEqual((await ctl('POST', '/faults', { mode: '503' })).body, [{ mode: '503', when: 'before', count: 1, ms: 60000 }]);
	assert.deepEqual((await ctl('DELETE', '/faults')).body, []);
	assert.equal((await ctl('POST', '/delivery', { enabled: 'yes' })).status, 400);
	assert.equal((await ctl('POST', '/balance', { available_cents: 500000 })).body.meta.available_cents, 500000);
	assert.equal((await ctl('GET', '/nothing')).status, 404);
	const wh = await api.webhooks.createWebhook({ url: app.url });
	assert.deepEqual([wh.data.webhook.url, wh.data.webhook.private_key], [app.url, SECRET]);
});

test('the demo\'s auto-delivery: rewards are delivered by themselves, unless flagged', async () => {
	const got = await startApp(SECRET);
	const demo = await startFakeTremendous({ webhookUrl: got.url, webhookSecret: SECRET, autoDeliverMs: 100 });
	try {
		const c = demo.client();
		const req = order(5, { payment: { funding_source_id: demo.fundingSourceId } }, { campaign_id: demo.campaignId });
		const o = (await c.orders.createOrder(req)).data.order;
		const held = (await c.orders.createOrder({ ...req, external_id: 'held' })).data.order;
		demo.flag(held.id);
		await demo.waitForEvent('REWARDS.DELIVERY.SUCCEEDED', { match: (e) => e.payload.resource.id === o.rewards[0].id });
		await new Promise((r) => setTimeout(r, 200));
		assert.equal(demo.reward(held.id).reward.delivery.status, 'SCHEDULED');
		demo.release(held.id);
		assert.equal(demo.reward(held.id).reward.delivery.status, 'SUCCEEDED');
	} finally {
		await demo.stop();
		await got.stop();
	}
});

test('the CLI: key and private key from the environment, ids from flags, pidfile and port file', async () => {
	const dir = mkdtempSync(join(tmpdir(), 'fake-tremendous-'));
	const key = 'TEST_clikey0123456789';
	const child = spawn(process.execPath, [new URL('../mock/tremendous.mjs', import.meta.url).pathname,
		'--listen', '127.0.0.1:0', '--pidfile', join(dir, 'pid'), '--port-file', join(dir, 'port'),
		'--funding-source-id', 'DEMOFUNDING1', '--campaign-id', 'DEMOCAMPAIGN', '--auto-deliver', '1'],
	{ env: { ...process.env, FAKE_TREMENDOUS_API_KEY: key, FAKE_TREMENDOUS_WEBHOOK_SECRET: SECRET } });
	let out = '';
	child.stdout.on('data', (c) => { out += c; });
	try {
		await waitUntil(() => existsSync(join(dir, 'pid')), 5000);
		assert.equal(readFileSync(join(dir, 'pid'), 'utf8').trim(), String(child.pid));
		const port = readFileSync(join(dir, 'port'), 'utf8').trim();
		const res = await fetch(`http://127.0.0.1:${port}/api/v2/funding_sources`, { headers: { Authorization: `Bearer ${key}` } });
		assert.equal((await res.json()).funding_sources[0].id, 'DEMOFUNDING1');
		assert.match(out, /funding source DEMOFUNDING1, campaign DEMOCAMPAIGN, rewards delivered after 1 s/);
		assert.doesNotMatch(out, new RegExp(`${key}|${SECRET}`), 'secrets given are not printed');
	} finally {
		child.kill('SIGTERM');
		await new Promise((r) => child.once('exit', r));
	}
	assert.equal(existsSync(join(dir, 'pid')), false);
	rmSync(dir, { recursive: true });
	const bad = spawn(process.execPath, [new URL('../mock/tremendous.mjs', import.meta.url).pathname,
		'--listen', '127.0.0.1:0', '--api-key', 'sk_live_nope']);
	assert.equal(await new Promise((r) => bad.once('exit', r)), 2);
});

// Wait until cond() holds (checked every 20 ms), at most ms.
async function waitUntil(cond, ms = 5000) {
	const end = Date.now() + ms;
	while (!cond()) {
		if (Date.now() > end) assert.fail('timed out waiting');
		await new Promise((r) => setTimeout(r, 20));
	}
}
