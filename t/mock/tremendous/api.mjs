// api.mjs: the fake Tremendous's /api/v2: orders (created, listed, read by
// id or external_id, idempotent by external_id), rewards (read, resend,
// cancel), funding sources, campaigns, products, fraud reviews (list,
// read, release, block) and the webhook endpoint. Bearer auth with the API
// key, JSON bodies, errors as {"errors":{"message","payload"}}.
import { ApiError, notFound, Problems, cents, isEmail, canonical } from './wire.mjs';

const BASE = '/api/v2';

export class Api {
	// store: a Store; o: apiKey, webhookUrl, webhookSecret, webhookId.
	constructor(store, o) {
		this.store = store;
		this.o = o;
		const s = store;
		this.routes = [
			['POST', /^\/orders$/, (q, b) => this.createOrder(b)],
			['GET', /^\/orders$/, (q) => this.listOrders(q)],
			['GET', /^\/orders\/([^/]+)$/, (q, b, id) => ({ order: this.orderOut(id) })],
			['GET', /^\/rewards$/, (q) => page(q, [...s.rewards.values()].map((r) => r.obj), 'rewards', 100)],
			['GET', /^\/rewards\/([^/]+)$/, (q, b, id) => ({ reward: s.reward(id).obj })],
			['POST', /^\/rewards\/([^/]+)\/resend$/, (q, b, id) => s.resend(s.reward(id), resendTo(b))],
			['POST', /^\/rewards\/([^/]+)\/cancel$/, (q, b, id) => s.cancel(s.reward(id), true)],
			['GET', /^\/funding_sources$/, () => ({ funding_sources: [s.funding] })],
			['GET', /^\/funding_sources\/([^/]+)$/, (q, b, id) => ({ funding_source: s.fundingSource(id) ?? nf('Funding source') })],
			['GET', /^\/campaigns$/, () => ({ campaigns: [s.campaign] })],
			['GET', /^\/campaigns\/([^/]+)$/, (q, b, id) => ({ campaign: id === s.campaign.id ? s.campaign : nf('Campaign') })],
			['GET', /^\/products$/, () => ({ products: [...s.products.values()] })],
			['GET', /^\/products\/([^/]+)$/, (q, b, id) => ({ product: s.products.get(id) ?? nf('Product') })],
			['GET', /^\/fraud_reviews$/, (q) => this.listReviews(q)],
			['GET', /^\/fraud_reviews\/([^/]+)$/, (q, b, id) => ({ fraud_review: s.reviewOut(s.reviewed(id), true) })],
			['PUT', /^\/fraud_reviews\/([^/]+)\/release$/, (q, b, id) => ({ fraud_review: s.release(s.reviewed(id)) })],
			['PUT', /^\/fraud_reviews\/([^/]+)\/block$/, (q, b, id) => ({ fraud_review: s.block(s.reviewed(id)) })],
			['GET', /^\/webhooks$/, () => ({ webhooks: this.o.webhookUrl ? [this.webhook()] : [] })],
			['GET', /^\/webhooks\/([^/]+)$/, (q, b, id) => ({ webhook: id === this.o.webhookId && this.o.webhookUrl ? this.webhook() : nf('Webhook') })],
			['POST', /^\/webhooks$/, (q, b) => this.setWebhook(b)],
		];
	}

	// Answer one /api/v2 request: { status, body (an object), replayed }.
	// req: method, path, query (URLSearchParams), headers (lower-case
	// names), raw (the body as sent).
	handle(req) {
		try {
			this.auth(req.headers.authorization);
			const path = req.path.slice(BASE.length) || '/';
			for (const [method, re, fn] of this.routes) {
				const m = re.exec(path);
				if (!m || method !== req.method) continue;
				const body = method === 'GET' ? undefined : json(req.raw, req.headers['content-type']);
				const out = fn(req.query, body, m[1] && decodeURIComponent(m[1]));
				if (out?.replayed) return { status: 201, body: out.body, replayed: true };
				return { status: 200, body: out };
			}
			throw new ApiError(404, `No route matches ${req.method} ${req.path}`);
		} catch (e) {
			if (!(e instanceof ApiError)) throw e;
			return { status: e.status, body: { errors: e.errors } };
		}
	}

	// Throws the 401 unless the Authorization header is "Bearer <API key>".
	auth(h) {
		const m = /^Bearer +(\S+)$/i.exec(h ?? '');
		if (!m) throw new ApiError(401, 'Unauthorized: provide your API key as "Authorization: Bearer YOUR-API-KEY"');
		if (m[1] !== this.o.apiKey) throw new ApiError(401, 'Unauthorized: the API key is invalid');
	}

	// POST /orders. A repeat of an earlier request under the same
	// external_id answers that order again (201, nothing created); another
	// request under it is refused (409); anything else is checked, then
	// paid from the balance.
	createOrder(b) {
		const fingerprint = canonical(b);
		if (typeof b?.external_id === 'string') {
			const id = this.store.byExternal.get(b.external_id);
			if (id) {
				const o = this.store.orders.get(id);
				if (o.fingerprint !== fingerprint)
					throw new ApiError(409, `An order with external_id ${b.external_id} already exists with different parameters`,
						{ external_id: 'has already been used for an order with different parameters' });
				return { replayed: true, body: { order: this.store.orderOut(o) } };
			}
		}
		const p = this.checkOrder(b);
		return { order: this.store.createOrder(p, fingerprint) };
	}

	// The checked order request, with the reward's value in cents; throws
	// the 400/422 with every problem in payload otherwise.
	checkOrder(b) {
		const e = new Problems();
		const obj = (v) => v && typeof v === 'object' && !Array.isArray(v);
		if (!obj(b)) throw new ApiError(400, 'The request body must be a JSON object');
		if (b.external_id !== undefined && b.external_id !== null &&
		    (typeof b.external_id !== 'string' || !b.external_id || b.external_id.length > 255))
			e.add(['external_id'], 'must be a string of 1 to 255 characters');
		const fs = b.payment?.funding_source_id;
		if (!obj(b.payment) || fs === undefined)
			e.add(['payment', 'funding_source_id'], 'Your request was missing a funding_source_id. Tremendous requires this to determine how to pay for your order.', true);
		else if (!this.store.fundingSource(fs))
			e.add(['payment', 'funding_source_id'], `Funding source ${fs} not found`, true);
		const r = b.reward;
		if (!obj(r)) {
			e.add(['reward'], 'is missing', true);
			e.check();
		}
		this.checkProducts(r, e);
		const v = r.value;
		if (!obj(v) || v.denomination === undefined) e.add(['reward', 'value', 'denomination'], 'is missing', true);
		else if (cents(v.denomination) === null)
			e.add(['reward', 'value', 'denomination'], 'must be a number greater than 0 with at most 2 decimal places');
		if (obj(v) && v.currency_code !== undefined && v.currency_code !== 'USD')
			e.add(['reward', 'value', 'currency_code'], /^[A-Z]{3}$/.test(v.currency_code)
				? `${v.currency_code} is not available: this fake account pays in USD only`
				: 'is not a valid currency code');
		const to = r.recipient;
		if (!obj(to)) e.add(['reward', 'recipient'], 'is missing', true);
		else {
			if (typeof to.name !== 'string' || !to.name.trim()) e.add(['reward', 'recipient', 'name'], 'is missing', true);
			if (to.email === undefined) e.add(['reward', 'recipient', 'email'], 'is missing', true);
			else if (!isEmail(to.email)) e.add(['reward', 'recipient', 'email'], 'is not a valid email address');
		}
		const how = r.delivery?.method;
		if (how === undefined) e.add(['reward', 'delivery', 'method'], 'is missing', true);
		else if (how !== 'EMAIL')
			e.add(['reward', 'delivery', 'method'], ['LINK', 'PHONE'].includes(how)
				? `${how} delivery is not offered by this fake: use EMAIL` : 'must be one of EMAIL, LINK, PHONE');
		if (r.deliver_at !== undefined && (typeof r.deliver_at !== 'string' || Number.isNaN(Date.parse(r.deliver_at))))
			e.add(['reward', 'deliver_at'], 'must be a date (YYYY-MM-DD)');
		e.check();
		return { ...b, cents: cents(v.denomination) };
	}

	// Either campaign_id or products, each naming what exists.
	checkProducts(r, e) {
		if (r.campaign_id === undefined && r.products === undefined)
			e.add(['reward', 'campaign_id'], 'Either products or campaign_id must be specified', true);
		if (r.campaign_id !== undefined && r.campaign_id !== this.store.campaign.id)
			e.add(['reward', 'campaign_id'], `Campaign ${r.campaign_id} not found`, true);
		if (r.products === undefined) return;
		if (!Array.isArray(r.products) || (!r.products.length && r.campaign_id === undefined))
			e.add(['reward', 'products'], 'must be a list of product ids');
		else {
			const bad = r.products.filter((id) => !this.store.products.has(id));
			if (bad.length) e.add(['reward', 'products'], `Products not found: ${bad.join(', ')}`, true);
		}
	}

	// An order by id or external_id, as sent; or the 404.
	orderOut(id) {
		const o = this.store.order(id);
		if (!o) throw notFound('Order');
		return this.store.orderOut(o);
	}

	// GET /orders: newest first, filtered by external_id or campaign_id.
	listOrders(q) {
		let list = [...this.store.orders.values()].reverse();
		if (q.has('external_id')) list = list.filter((o) => o.obj.external_id === q.get('external_id'));
		if (q.has('campaign_id')) list = list.filter((o) => o.obj.campaign_id === q.get('campaign_id'));
		return page(q, list.map((o) => this.store.orderOut(o)), 'orders', 10);
	}

	// GET /fraud_reviews: newest first, filtered by status.
	listReviews(q) {
		const status = q.get('status');
		if (status && !['flagged', 'blocked', 'released'].includes(status))
			throw new ApiError(400, 'Invalid status', { status: 'must be one of flagged, blocked, released' });
		const list = [...this.store.rewards.values()].filter((r) => r.review && (!status || r.review.status === status))
			.reverse().map((r) => this.store.reviewOut(r));
		return page(q, list, 'fraud_reviews', 10);
	}

	// The organization's one webhook.
	webhook() {
		return { id: this.o.webhookId, url: this.o.webhookUrl, private_key: this.o.webhookSecret };
	}

	// POST /webhooks {url}: the one webhook now points there.
	setWebhook(b) {
		if (typeof b?.url !== 'string' || !/^https?:\/\/\S+$/.test(b.url))
			throw new ApiError(422, 'Webhook failed: validation failure', { url: 'must be a valid URL' });
		this.o.webhookUrl = b.url;
		return { webhook: this.webhook() };
	}
}

// JSON body raw as an object (an empty body is {}); 400 if it is not JSON
// or not sent as JSON (type: its Content-Type).
function json(raw, type) {
	if (!raw) return {};
	if (!/^application\/json\s*(;|$)/i.test(type ?? ''))
		throw new ApiError(400, 'The request body must be sent as Content-Type: application/json');
	try { return JSON.parse(raw); } catch { throw new ApiError(400, 'The request body is not valid JSON'); }
}

// A list page as the API answers one: { [key]: items, total_count }.
function page(q, items, key, limit) {
	const off = Math.max(0, Number.parseInt(q.get('offset') ?? '0', 10) || 0);
	const n = Math.min(500, Math.max(1, Number.parseInt(q.get('limit') ?? String(limit), 10) || limit));
	return { [key]: items.slice(off, off + n), total_count: items.length };
}

// The new address a resend asks for, if any.
function resendTo(b) {
	if (b?.updated_email !== undefined && !isEmail(b.updated_email))
		throw new ApiError(422, 'Reward failed: validation failure', { updated_email: 'is not a valid email address' });
	return b?.updated_email;
}

const nf = (what) => { throw notFound(what); };
