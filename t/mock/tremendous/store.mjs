// store.mjs: the fake Tremendous's account in memory: one balance funding
// source, one campaign and a few products; orders of one reward each; the
// fraud reviews of flagged rewards; and what happens to a reward when it is
// delivered, bounces, is resent, cancelled, flagged, released or blocked.
// Every change emits the webhook event Tremendous would, through
// emit(type, resource, meta).
import { ApiError, notFound, newId, now, dollars } from './wire.mjs';

// The products of the fake catalogue (ids fixed, so a config can list them).
const PRODUCTS = [
	['VISAPREPAID1', 'Virtual Visa prepaid card', 'cash_out'],
	['PAYPALUSD001', 'PayPal', 'cash_out'],
	['ACHBANKUSD01', 'Bank transfer (ACH)', 'cash_out'],
	['AMAZONCOMUSA', 'Amazon.com gift card', 'merchant_card'],
	['CHARITYUSD01', 'Donation to charity', 'charity'],
].map(([id, name, category]) => ({ id, name, description: `${name} (fake Tremendous)`, category,
	disclosure: '', currency_codes: ['USD'], countries: [{ abbr: 'US' }], images: [],
	skus: [{ min: 1, max: 2000 }] }));

export class Store {
	// o: fundingSourceId, campaignId, balanceCents; emit(type, resource, meta).
	constructor(o, emit) {
		this.emit = emit;
		this.funding = { id: o.fundingSourceId, method: 'balance', usage_permissions: ['api_orders', 'dashboard_orders'],
			status: 'active', meta: { available_cents: o.balanceCents, pending_cents: 0 } };
		this.products = new Map(PRODUCTS.map((p) => [p.id, p]));
		this.campaign = { id: o.campaignId, name: 'Supplier payouts', description: 'infrpool demo: cash-out products',
			products: PRODUCTS.filter((p) => p.category === 'cash_out').map((p) => p.id),
			fee_charged_to: 'SENDER' };
		this.orders = new Map();	// id → { obj (without rewards), rewardId, fingerprint }
		this.byExternal = new Map();	// external_id → order id
		this.rewards = new Map();	// id → { obj, orderId, cents, review, canceled }
		this.onScheduled = () => {};	// (reward record) → void: auto-delivery's hook
	}

	// A funding source by id ("balance" names the balance, as in the API).
	fundingSource(id) {
		return id === this.funding.id || id === 'balance' ? this.funding : null;
	}

	// A new order of one reward from a checked request; debits the balance
	// (402 when it is short). fingerprint: the request, for idempotency.
	createOrder(p, fingerprint) {
		const c = p.cents;
		if (c > this.funding.meta.available_cents)
			throw new ApiError(402, 'Insufficient funds: the funding source cannot pay for this order',
				{ payment: { funding_source_id: 'Not enough funds available' } });
		this.funding.meta.available_cents -= c;
		const id = newId();
		const rid = newId();
		const created = now();
		const obj = { id, external_id: p.external_id ?? null, campaign_id: p.reward.campaign_id ?? null,
			created_at: created, status: 'EXECUTED', channel: 'API',
			payment: { subtotal: dollars(c), total: dollars(c), fees: 0, discount: 0, currency_code: 'USD' } };
		const reward = { id: rid, order_id: id, created_at: created, expires_at: null,
			value: { denomination: dollars(c), currency_code: 'USD' },
			recipient: { name: p.reward.recipient.name, email: p.reward.recipient.email },
			...(p.reward.deliver_at ? { deliver_at: p.reward.deliver_at } : {}),
			custom_fields: [], delivery: { method: 'EMAIL', status: 'SCHEDULED' } };
		if (p.reward.products) reward.products = p.reward.products;
		this.orders.set(id, { obj, rewardId: rid, fingerprint });
		if (typeof p.external_id === 'string') this.byExternal.set(p.external_id, id);
		const r = { obj: reward, orderId: id, cents: c, review: null, canceled: false };
		this.rewards.set(rid, r);
		this.onScheduled(r);
		return this.orderOut(this.orders.get(id));
	}

	// An order record by its id or external_id, or null.
	order(id) {
		return this.orders.get(id) ?? this.orders.get(this.byExternal.get(id)) ?? null;
	}

	// Order record o as the API sends it, its reward inside.
	orderOut(o) {
		return { ...structuredClone(o.obj), rewards: [structuredClone(this.rewards.get(o.rewardId).obj)] };
	}

	// A reward record, or the API's 404.
	reward(id) {
		const r = this.rewards.get(id);
		if (!r) throw notFound('Reward');
		return r;
	}

	// Refuse unless reward r is still live: not cancelled, not under review.
	live(r, what) {
		if (r.canceled) throw new ApiError(422, `Reward ${r.obj.id} was canceled; it cannot be ${what}`);
		if (r.review?.status === 'flagged')
			throw new ApiError(422, `Reward ${r.obj.id} is flagged for fraud review; release or block it first`);
	}

	// The email reached the recipient: SUCCEEDED, REWARDS.DELIVERY.SUCCEEDED.
	deliver(r) {
		this.live(r, 'delivered');
		if (!['SCHEDULED', 'PENDING'].includes(r.obj.delivery.status))
			throw new ApiError(422, `Reward ${r.obj.id} is not waiting for delivery (${r.obj.delivery.status})`);
		r.obj.delivery.status = 'SUCCEEDED';
		this.emit('REWARDS.DELIVERY.SUCCEEDED', { id: r.obj.id, type: 'rewards' });
		return r.obj;
	}

	// The email bounced: FAILED, REWARDS.DELIVERY.FAILED with the failure
	// reason and whether a resend may help in payload.meta.
	fail(r, reason = 'invalid_email', retryable = false) {
		this.live(r, 'failed');
		if (!['SCHEDULED', 'PENDING'].includes(r.obj.delivery.status))
			throw new ApiError(422, `Reward ${r.obj.id} is not waiting for delivery (${r.obj.delivery.status})`);
		r.obj.delivery.status = 'FAILED';
		this.emit('REWARDS.DELIVERY.FAILED', { id: r.obj.id, type: 'rewards' },
			{ failure_reason: reason, retryable });
		return r.obj;
	}

	// POST /rewards/{id}/resend: only after a delivery failure; scheduled
	// again, to a new address if one is given.
	resend(r, email) {
		this.live(r, 'resent');
		if (r.obj.delivery.status !== 'FAILED')
			throw new ApiError(422, 'Only rewards with a previous delivery failure can be resent');
		if (email) r.obj.recipient.email = email;
		r.obj.delivery.status = 'SCHEDULED';
		this.onScheduled(r);
		return {};
	}

	// Cancel reward r: its order CANCELED, the amount back on the balance
	// (order.payment.refund), REWARDS.CANCELED. fromApi: POST
	// /rewards/{id}/cancel, which takes only rewards whose delivery failed;
	// the controls cancel any live one, as the dashboard does.
	cancel(r, fromApi = false) {
		this.live(r, 'canceled');
		if (fromApi && r.obj.delivery.status !== 'FAILED')
			throw new ApiError(422, 'Only non-expired rewards with a delivery failure can be canceled');
		this.refund(r);
		this.emit('REWARDS.CANCELED', { id: r.obj.id, type: 'rewards' });
		return fromApi ? {} : r.obj;
	}

	// Mark r canceled and give its amount back.
	refund(r) {
		r.canceled = true;
		const o = this.orders.get(r.orderId).obj;
		o.status = 'CANCELED';
		o.payment.refund = { total: dollars(r.cents), currency_code: 'USD' };
		this.funding.meta.available_cents += r.cents;
	}

	// Fraud review: r waits for release or block; REWARDS.FLAGGED. Works
	// before delivery (delivery waits for the review) and after it (as when
	// the recipient redeems).
	flag(r, reasons = ['Over reward amount limit']) {
		this.live(r, 'flagged');
		if (r.review) throw new ApiError(422, `Reward ${r.obj.id} was already reviewed (${r.review.status})`);
		r.review = { status: 'flagged', reasons, created_at: now(), redeemed_at: now() };
		this.emit('REWARDS.FLAGGED', { id: r.obj.id, type: 'rewards' });
		return this.reviewOut(r, true);
	}

	// A fraud review's reward record, or the API's 404.
	reviewed(id) {
		const r = this.rewards.get(id);
		if (!r?.review) throw notFound('Fraud review');
		return r;
	}

	// Release: the reward goes on to its recipient; one not yet delivered is
	// delivered now (REWARDS.DELIVERY.SUCCEEDED).
	release(r, by = 'Fake Reviewer') {
		this.close(r, 'released', by);
		if (['SCHEDULED', 'PENDING'].includes(r.obj.delivery.status)) this.deliver(r);
		return this.reviewOut(r, true);
	}

	// Block: the reward is canceled and refunded (REWARDS.CANCELED).
	block(r, by = 'Fake Reviewer') {
		this.close(r, 'blocked', by);
		this.refund(r);
		this.emit('REWARDS.CANCELED', { id: r.obj.id, type: 'rewards' });
		return this.reviewOut(r, true);
	}

	// End r's open review with status.
	close(r, status, by) {
		if (r.review?.status !== 'flagged')
			throw new ApiError(422, `Reward ${r.obj.id} has no fraud review waiting${r.review ? ` (it was ${r.review.status})` : ''}`);
		Object.assign(r.review, { status, reviewed_by: by, reviewed_at: now() });
	}

	// r's fraud review as the API lists it (full: as GET /fraud_reviews/{id}).
	reviewOut(r, full = false) {
		const v = r.review;
		const out = { status: v.status, reasons: v.reasons, redemption_method: 'Visa prepaid card',
			redeemed_at: v.redeemed_at, geo: { ip: '192.0.2.1', country: 'US' },
			reward: structuredClone(r.obj),
			...(v.status !== 'flagged' ? { reviewed_by: v.reviewed_by, reviewed_at: v.reviewed_at } : {}) };
		if (full) Object.assign(out, { risk: 'medium', related_rewards: { ids: [], count: 0, blocked_count: 0,
			aggregated_value: 0, currency_code: 'USD' } });
		return out;
	}
}
