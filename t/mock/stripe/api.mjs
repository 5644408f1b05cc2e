// api.mjs: the fake Stripe's /v1 API, the calls infrpool makes and a few
// reads: customers, Checkout Sessions, refunds, and GETs of the objects
// they make. Bearer (or Basic) auth with the secret key, form bodies,
// Idempotency-Key replays, Stripe-Version, errors as Stripe sends them.
import { ApiError, invalid, missing, noSuch, check, newId, now, money } from './form.mjs';

const CUSTOMER = { email: 'string', name: 'string', description: 'string', phone: 'string',
	metadata: 'metadata', expand: ['string'] };
const LINE_ITEM = { price: 'string', quantity: 'integer', price_data: { currency: 'string',
	unit_amount: 'integer', product: 'string', tax_behavior: 'string',
	product_data: { name: 'string', description: 'string', images: ['string'], metadata: 'metadata' } } };
const SESSION = { mode: 'string', customer: 'string', customer_email: 'string', client_reference_id: 'string',
	line_items: [LINE_ITEM], success_url: 'string', cancel_url: 'string', metadata: 'metadata',
	payment_intent_data: { metadata: 'metadata', description: 'string', statement_descriptor: 'string',
		statement_descriptor_suffix: 'string', receipt_email: 'string' },
	payment_method_types: ['string'], expires_at: 'integer', locale: 'string', submit_type: 'string',
	customer_creation: 'string', expand: ['string'], ui_mode: 'string' };
const REFUND = { charge: 'string', payment_intent: 'string', amount: 'integer', metadata: 'metadata',
	reason: 'string', expand: ['string'] };
const EXPIRE = { expand: ['string'] };
const GET = { expand: ['string'] };

// Minimum totals Stripe accepts for Checkout, in the smallest unit.
const MINIMUM = { usd: 50, eur: 50, gbp: 30, cad: 50, aud: 50, chf: 50 };

export class Api {
	// store: a Store; o: secretKey, publicUrl, apiVersion.
	constructor(store, o) {
		this.store = store;
		this.o = o;
		this.idem = new Map();	// Idempotency-Key → { fingerprint, status, body, requestId }
		this.routes = [
			['POST', /^\/v1\/customers$/, CUSTOMER, (p) => this.store.createCustomer(p)],
			['GET', /^\/v1\/customers\/([^/]+)$/, GET, (p, id) => this.get('customers', 'customer', id)],
			['POST', /^\/v1\/checkout\/sessions$/, SESSION, (p, _, rq) => this.createSession(p, rq)],
			['GET', /^\/v1\/checkout\/sessions\/([^/]+)$/, GET, (p, id) => this.sessionOut(this.session(id), p)],
			['POST', /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/, EXPIRE, (p, id) => this.expire(id, p)],
			['GET', /^\/v1\/checkout\/sessions\/([^/]+)\/line_items$/, GET, (p, id) => this.lineItems(this.session(id))],
			['POST', /^\/v1\/refunds$/, REFUND, (p, _, rq) => this.store.refund(p, rq)],
			['GET', /^\/v1\/refunds\/([^/]+)$/, GET, (p, id) => this.get('refunds', 'refund', id)],
			['GET', /^\/v1\/payment_intents\/([^/]+)$/, GET, (p, id) => this.get('intents', 'payment_intent', id)],
			['GET', /^\/v1\/charges\/([^/]+)$/, GET, (p, id) => this.get('charges', 'charge', id)],
			['GET', /^\/v1\/disputes\/([^/]+)$/, GET, (p, id) => this.get('disputes', 'dispute', id)],
		];
	}

	// Answer one /v1 request: { status, headers, body (an object) }.
	// req: method, path, query, headers (lower-case names), params (parsed
	// form, or an ApiError the parser threw), raw (the body as sent).
	handle(req) {
		const requestId = newId('req_', 14);
		const headers = { 'Request-Id': requestId, 'Stripe-Version': req.headers['stripe-version'] ?? this.o.apiVersion };
		const key = req.method === 'POST' ? req.headers['idempotency-key'] : undefined;
		if (key !== undefined) headers['Idempotency-Key'] = key;
		try {
			this.auth(req.headers.authorization);
			const version = req.headers['stripe-version'];
			if (version !== undefined && !/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/.test(version))
				throw invalid(`Invalid Stripe API version: ${version}`);
			if (req.method === 'POST' && /^application\/json/i.test(req.headers['content-type'] ?? ''))
				throw invalid('Invalid request: Stripe\'s v1 API takes application/x-www-form-urlencoded bodies, not JSON.');
			if (key !== undefined) {
				const replay = this.replay(key, req);
				if (replay) return { status: replay.status, body: replay.body,
					headers: { ...headers, 'Idempotent-Replayed': 'true', 'Original-Request': replay.requestId } };
			}
			const out = this.run(req, { id: requestId, idempotency_key: key ?? null });
			if (key !== undefined) this.remember(key, req, 200, out, requestId);
			return { status: 200, headers, body: out };
		} catch (e) {
			if (!(e instanceof ApiError)) throw e;
			if (key !== undefined && e.replay) this.remember(key, req, e.status, { error: e.error }, requestId);
			if (e.status === 401) headers['WWW-Authenticate'] = 'Bearer realm="Stripe"';
			return { status: e.status, headers, body: { error: e.error } };
		}
	}

	// Throws Stripe's 401 unless the Authorization header carries the key.
	auth(h) {
		let key = null;
		const m = /^(Bearer|Basic) +(\S+)$/i.exec(h ?? '');
		if (m && m[1].toLowerCase() === 'bearer') key = m[2];
		else if (m) key = Buffer.from(m[2], 'base64').toString().replace(/:.*$/s, '');
		if (!key)
			throw new ApiError(401, { message: 'You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. \'Authorization: Bearer YOUR_SECRET_KEY\'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.' });
		if (key !== this.o.secretKey)
			throw new ApiError(401, { message: `Invalid API Key provided: ${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}` });
	}

	// The response saved under key for this very request, or null; throws
	// Stripe's idempotency_error when the key was used for another.
	replay(key, req) {
		if (key.length > 255) throw invalid('Idempotency-Key is too long (maximum is 255 characters)', 'Idempotency-Key');
		const saved = this.idem.get(key);
		if (!saved) return null;
		if (saved.fingerprint !== `${req.method} ${req.path} ${req.raw}`)
			throw new ApiError(400, { type: 'idempotency_error', message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.` });
		return saved;
	}

	// Keep the answer to req under key, for replays.
	remember(key, req, status, body, requestId) {
		this.idem.set(key, { fingerprint: `${req.method} ${req.path} ${req.raw}`, status,
			body: structuredClone(body), requestId });
	}

	// Route req, check its params, run the handler; the object to send.
	run(req, request) {
		for (const [method, re, spec, fn] of this.routes) {
			const m = re.exec(req.path);
			if (!m || method !== req.method) continue;
			if (req.params instanceof ApiError) throw req.params;
			const p = check(req.method === 'GET' ? req.query : req.params, spec, []);
			return fn(p, m[1] && decodeURIComponent(m[1]), request);
		}
		throw new ApiError(404, { message: `Unrecognized request URL (${req.method}: ${req.path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.` });
	}

	// The object id from map, or Stripe's 404.
	get(map, what, id) {
		const v = this.store[map].get(id);
		if (!v) throw noSuch(what, id, 'id', 404);
		return v.obj ?? v;
	}

	// Session record id, or Stripe's 404.
	session(id) {
		const s = this.store.session(id);
		if (!s) throw noSuch('checkout.session', id, 'session', 404);
		return s;
	}

	// A Checkout Session from checked params, checked as Stripe does.
	createSession(p, request) {
		for (const k of ['mode', 'success_url', 'line_items']) if (p[k] === undefined || p[k] === '') throw missing(k);
		if (!['payment', 'setup', 'subscription'].includes(p.mode))
			throw invalid('Invalid mode: must be one of payment, setup, or subscription', 'mode', 'parameter_invalid_string');
		if (p.mode !== 'payment') throw invalid(`This fake Stripe takes mode=payment only, not ${p.mode}`, 'mode');
		for (const k of ['success_url', 'cancel_url']) if (p[k] !== undefined && !url(p[k])) throw invalid('Not a valid URL', k, 'url_invalid');
		if (p.customer && p.customer_email)
			throw invalid('You may only specify one of these parameters: customer, customer_email.', 'customer');
		if (p.customer && !this.store.customers.has(p.customer)) throw noSuch('customer', p.customer, 'customer');
		const items = p.line_items.map((li, i) => lineItem(li, i));
		if (!items.length) throw missing('line_items');
		const currency = items[0].currency;
		if (items.some((li) => li.currency !== currency))
			throw invalid('All line items must use the same currency.', 'line_items');
		const total = items.reduce((a, li) => a + li.amount_total, 0);
		if (total < (MINIMUM[currency] ?? 50))
			throw invalid(`The Checkout Session's total amount due must add up to at least ${money(MINIMUM[currency] ?? 50, currency)} ${currency}`, 'line_items', 'amount_too_small');
		if (total > 99999999) throw invalid(`The Checkout Session's total amount due must be no more than ${money(99999999, currency)}`, 'line_items', 'amount_too_large');
		const created = now();
		if (p.expires_at !== undefined && (p.expires_at < created + 1800 - 5 || p.expires_at > created + 86400))
			throw invalid('The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.', 'expires_at');
		const id = newId('cs_test_', 58);
		const email = p.customer ? this.store.customers.get(p.customer).email : p.customer_email;
		const obj = {
			id, object: 'checkout.session', after_expiration: null, allow_promotion_codes: null,
			amount_subtotal: total, amount_total: total, cancel_url: p.cancel_url ?? null,
			client_reference_id: p.client_reference_id ?? null, created, currency,
			customer: p.customer ?? null, customer_creation: p.customer ? null : 'if_required',
			customer_details: email ? { email, name: null, phone: null, tax_exempt: 'none', tax_ids: [] } : null,
			customer_email: p.customer_email ?? null, expires_at: p.expires_at ?? created + 86400,
			livemode: false, locale: p.locale ?? null, metadata: p.metadata ?? {}, mode: 'payment',
			payment_intent: null, payment_method_types: p.payment_method_types ?? ['card', 'us_bank_account'],
			payment_status: 'unpaid', status: 'open', submit_type: p.submit_type ?? null,
			success_url: p.success_url, total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
			ui_mode: 'hosted', url: `${this.o.publicUrl}/c/pay/${id}`,
		};
		const s = { obj, items, piData: p.payment_intent_data ?? {} };
		this.store.sessions.set(id, s);
		return this.sessionOut(s, p);
	}

	// POST …/expire: an open session ends; Stripe refuses any other.
	expire(id, p) {
		const s = this.session(id);
		if (s.obj.status !== 'open')
			throw new ApiError(400, { message: `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${s.obj.status}".` }, true);
		this.store.expire(s);
		return this.sessionOut(s, p);
	}

	// Session s as sent, with expand[]=line_items (or payment_intent).
	sessionOut(s, p) {
		const out = structuredClone(s.obj);
		for (const e of p.expand ?? []) {
			if (e === 'line_items') out.line_items = this.lineItems(s);
			else if (e === 'payment_intent') out.payment_intent = out.payment_intent && this.store.intents.get(out.payment_intent).obj;
			else if (e === 'customer') out.customer = out.customer && this.store.customers.get(out.customer);
			else throw invalid(`This property cannot be expanded (${e}).`, 'expand');
		}
		return out;
	}

	// The list object of session s's line items.
	lineItems(s) {
		return { object: 'list', data: s.items, has_more: false, url: `/v1/checkout/sessions/${s.obj.id}/line_items` };
	}
}

// Is u an absolute http(s) URL?
function url(u) {
	try { return ['http:', 'https:'].includes(new URL(u).protocol); } catch { return false; }
}

// A Checkout line item from checked params li (the i-th), as Stripe lists it.
function lineItem(li, i) {
	const at = (k) => `line_items[${i}][${k}]`;
	if (li.price) throw noSuch('price', li.price, at('price'));
	const pd = li.price_data;
	if (!pd) throw invalid(`You must specify either \`price\` or \`price_data\` in line_items[${i}].`, at('price_data'));
	if (!pd.currency) throw missing(`${at('price_data')}[currency]`);
	if (!/^[a-z]{3}$/.test(pd.currency)) throw invalid(`Invalid currency: ${pd.currency}`, `${at('price_data')}[currency]`);
	if (pd.unit_amount === undefined) throw missing(`${at('price_data')}[unit_amount]`);
	if (pd.unit_amount < 0) throw invalid('This value must be greater than or equal to 0.', `${at('price_data')}[unit_amount]`);
	if (!pd.product && !pd.product_data?.name) throw missing(`${at('price_data')}[product_data][name]`);
	if (li.quantity === undefined) throw missing(at('quantity'));
	if (li.quantity < 1) throw invalid('This value must be greater than or equal to 1.', at('quantity'));
	const amount = pd.unit_amount * li.quantity;
	return {
		id: newId('li_'), object: 'item', amount_discount: 0, amount_subtotal: amount, amount_tax: 0,
		amount_total: amount, currency: pd.currency, description: pd.product_data?.name ?? null,
		price: { id: newId('price_'), object: 'price', active: false, currency: pd.currency,
			product: pd.product ?? newId('prod_', 14), type: 'one_time', unit_amount: pd.unit_amount,
			metadata: {}, livemode: false },
		quantity: li.quantity,
	};
}
