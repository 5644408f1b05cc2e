// store.mjs: the fake Stripe's objects (customers, Checkout Sessions,
// PaymentIntents, charges, refunds, disputes) in memory, and what happens
// to them when someone pays, a bank debit settles, a refund or a dispute
// comes. Every change emits the events Stripe would, through emit(type,
// object, opts); opts.key keeps the events of one session in order.
import { ApiError, invalid, noSuch, newId, now, money } from './form.mjs';

export class Store {
	constructor(emit) {
		this.emit = emit;
		this.customers = new Map();
		this.sessions = new Map();	// id → { obj, lineItems }
		this.intents = new Map();	// id → { obj, session }
		this.charges = new Map();	// id → { obj, session }
		this.refunds = new Map();
		this.disputes = new Map();	// id → { obj, session }
	}

	// A new customer from checked params.
	createCustomer(p) {
		const obj = {
			id: newId('cus_', 14), object: 'customer', address: null, balance: 0, created: now(),
			currency: null, default_source: null, delinquent: false, description: p.description ?? null,
			discount: null, email: p.email ?? null, invoice_prefix: newId('', 8).toUpperCase(),
			invoice_settings: { custom_fields: null, default_payment_method: null, footer: null,
				rendering_options: null },
			livemode: false, metadata: p.metadata ?? {}, name: p.name ?? null, next_invoice_sequence: 1,
			phone: p.phone ?? null, preferred_locales: [], shipping: null, tax_exempt: 'none', test_clock: null,
		};
		this.customers.set(obj.id, obj);
		this.emit('customer.created', obj);
		return obj;
	}

	// A session record, expired first if its time ran out; null if unknown.
	session(id) {
		const s = this.sessions.get(id);
		if (s && s.obj.status === 'open' && s.obj.expires_at <= now()) this.expire(s);
		return s ?? null;
	}

	// End an open session unpaid: status expired, checkout.session.expired.
	expire(s) {
		s.obj.status = 'expired';
		s.obj.url = null;
		this.emit('checkout.session.expired', s.obj, { key: s.obj.id });
	}

	// Card payment on the hosted page: a succeeded PaymentIntent and charge,
	// the session complete and paid, and its events.
	payCard(s, last4 = '4242') {
		const { pi, ch } = this.newPayment(s, 'card', last4);
		pi.status = 'succeeded';
		pi.amount_received = pi.amount;
		this.succeedCharge(ch);
		this.complete(s, pi, 'paid');
		this.emit('charge.succeeded', ch, { key: s.obj.id });
		this.emit('payment_intent.succeeded', pi, { key: s.obj.id });
		this.emit('checkout.session.completed', s.obj, { key: s.obj.id });
	}

	// Bank debit (delayed notification): the session completes unpaid and
	// the payment is processing until settle() says how it ended.
	payBank(s) {
		const { pi, ch } = this.newPayment(s, 'us_bank_account', '6789');
		pi.status = 'processing';
		ch.status = 'pending';
		this.complete(s, pi, 'unpaid');
		this.emit('charge.pending', ch, { key: s.obj.id });
		this.emit('payment_intent.processing', pi, { key: s.obj.id });
		this.emit('checkout.session.completed', s.obj, { key: s.obj.id });
	}

	// The end of a bank debit: outcome 'succeeded' or 'failed'. Throws
	// ApiError unless the session waits for one.
	settle(s, outcome) {
		const pi = s.obj.payment_intent && this.intents.get(s.obj.payment_intent)?.obj;
		if (!pi || pi.status !== 'processing')
			throw invalid(`Checkout Session ${s.obj.id} has no bank debit waiting to settle`, 'id');
		const ch = this.charges.get(pi.latest_charge).obj;
		const key = { key: s.obj.id };
		if (outcome === 'succeeded') {
			pi.status = 'succeeded';
			pi.amount_received = pi.amount;
			this.succeedCharge(ch);
			s.obj.payment_status = 'paid';
			this.emit('charge.succeeded', ch, key);
			this.emit('payment_intent.succeeded', pi, key);
			this.emit('checkout.session.async_payment_succeeded', s.obj, key);
		} else if (outcome === 'failed') {
			pi.status = 'requires_payment_method';
			pi.last_payment_error = { type: 'invalid_request_error', code: 'payment_method_insufficient_funds',
				message: 'The account has insufficient funds.' };
			Object.assign(ch, { status: 'failed', failure_code: 'insufficient_funds',
				failure_message: 'The account has insufficient funds to cover this payment.' });
			this.emit('charge.failed', ch, key);
			this.emit('payment_intent.payment_failed', pi, key);
			this.emit('checkout.session.async_payment_failed', s.obj, key);
		} else {
			throw invalid('outcome must be succeeded or failed', 'outcome');
		}
	}

	// A PaymentIntent and its (not yet succeeded) charge for session s.
	newPayment(s, type, last4) {
		const o = s.obj, created = now();
		const pi = {
			id: newId('pi_'), object: 'payment_intent', amount: o.amount_total, amount_capturable: 0,
			amount_received: 0, capture_method: 'automatic_async', client_secret: null,
			confirmation_method: 'automatic', created, currency: o.currency, customer: o.customer,
			description: s.piData.description ?? null, last_payment_error: null, latest_charge: null,
			livemode: false, metadata: { ...(s.piData.metadata ?? {}) }, payment_method: newId('pm_'),
			payment_method_types: [type], status: 'requires_payment_method',
		};
		pi.client_secret = `${pi.id}_secret_${newId('', 25)}`;
		const details = type === 'card'
			? { type, card: { brand: 'visa', country: 'US', exp_month: 12, exp_year: 2034, funding: 'credit', last4 } }
			: { type, us_bank_account: { account_type: 'checking', bank_name: 'STRIPE TEST BANK', last4 } };
		const ch = {
			id: newId('ch_'), object: 'charge', amount: pi.amount, amount_captured: 0, amount_refunded: 0,
			balance_transaction: null, billing_details: { address: null, email: o.customer_details?.email ?? null,
				name: null, phone: null },
			captured: false, created, currency: pi.currency, customer: pi.customer, description: pi.description,
			disputed: false, failure_code: null, failure_message: null, livemode: false,
			metadata: { ...pi.metadata }, outcome: null, paid: false, payment_intent: pi.id,
			payment_method: pi.payment_method, payment_method_details: details, receipt_url: null,
			refunded: false, status: 'pending',
		};
		pi.latest_charge = ch.id;
		this.intents.set(pi.id, { obj: pi, session: o.id });
		this.charges.set(ch.id, { obj: ch, session: o.id });
		return { pi, ch };
	}

	// Mark charge ch paid in full.
	succeedCharge(ch) {
		Object.assign(ch, { status: 'succeeded', paid: true, captured: true, amount_captured: ch.amount,
			balance_transaction: newId('txn_'),
			outcome: { network_status: 'approved_by_network', reason: null, risk_level: 'normal',
				seller_message: 'Payment complete.', type: 'authorized' } });
	}

	// Close session s with PaymentIntent pi and payment status ps.
	complete(s, pi, ps) {
		Object.assign(s.obj, { status: 'complete', payment_status: ps, payment_intent: pi.id, url: null });
	}

	// Refund (checked params): the charge named, or the PaymentIntent's.
	// Refuses more than remains unrefunded, as Stripe does.
	refund(p, request) {
		if (!p.charge && !p.payment_intent)
			throw invalid('One of the following params should be provided for this request: payment_intent or charge.');
		let ch;
		if (p.charge) {
			ch = this.charges.get(p.charge)?.obj;
			if (!ch) throw noSuch('charge', p.charge, 'charge');
		} else {
			const pi = this.intents.get(p.payment_intent)?.obj;
			if (!pi) throw noSuch('payment_intent', p.payment_intent, 'payment_intent');
			if (pi.status !== 'succeeded')
				throw invalid(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`,
					'payment_intent');
			ch = this.charges.get(pi.latest_charge).obj;
		}
		if (ch.status !== 'succeeded')
			throw invalid(`Charge ${ch.id} has not succeeded and cannot be refunded.`, 'charge');
		if (this.openDispute(ch.id))
			throw new ApiError(400, { code: 'charge_disputed', message: `Charge ${ch.id} has been charged back; cannot issue a refund.` }, true);
		const left = ch.amount - ch.amount_refunded;
		if (left === 0)
			throw new ApiError(400, { code: 'charge_already_refunded', message: `Charge ${ch.id} has already been refunded.` }, true);
		const amount = p.amount ?? left;
		if (amount <= 0) throw invalid('Invalid positive integer', 'amount', 'parameter_invalid_integer');
		if (amount > left)
			throw new ApiError(400, { code: 'amount_too_large', param: 'amount',
				message: `Refund amount (${money(amount, ch.currency)}) is greater than unrefunded amount on charge (${money(left, ch.currency)})` }, true);
		const re = {
			id: newId('re_'), object: 'refund', amount, balance_transaction: newId('txn_'), charge: ch.id,
			created: now(), currency: ch.currency, destination_details: null, metadata: p.metadata ?? {},
			payment_intent: ch.payment_intent, reason: p.reason ?? null, receipt_number: null,
			source_transfer_reversal: null, status: 'succeeded', transfer_reversal: null,
		};
		this.refunds.set(re.id, re);
		const previous = { amount_refunded: ch.amount_refunded, refunded: ch.refunded };
		ch.amount_refunded += amount;
		ch.refunded = ch.amount_refunded === ch.amount;
		const key = this.charges.get(ch.id).session;
		this.emit('charge.refunded', ch, { key, request, previous });
		this.emit('refund.created', re, { key, request });
		return re;
	}

	// The open dispute of charge id, or undefined.
	openDispute(id) {
		return [...this.disputes.values()].find((d) => d.obj.charge === id &&
			!['won', 'lost'].includes(d.obj.status));
	}

	// A chargeback (a test control): the charge (or PaymentIntent's charge)
	// disputed for amount (default: all of it); charge.dispute.created and
	// charge.dispute.funds_withdrawn.
	dispute({ charge, payment_intent, amount, reason = 'fraudulent' }) {
		const id = charge ?? this.intents.get(payment_intent)?.obj.latest_charge;
		const rec = id && this.charges.get(id);
		if (!rec) throw noSuch(charge ? 'charge' : 'payment_intent', charge ?? payment_intent, charge ? 'charge' : 'payment_intent', 404);
		const ch = rec.obj;
		if (ch.status !== 'succeeded') throw invalid(`Charge ${ch.id} has not succeeded; nothing to dispute`, 'charge');
		if (this.openDispute(ch.id)) throw invalid(`Charge ${ch.id} already has an open dispute`, 'charge');
		amount = amount ?? ch.amount;
		if (!Number.isInteger(amount) || amount <= 0 || amount > ch.amount)
			throw invalid(`amount must be a whole number from 1 to ${ch.amount}`, 'amount');
		const created = now();
		const dp = {
			id: newId('dp_'), object: 'dispute', amount, balance_transactions: [], charge: ch.id, created,
			currency: ch.currency, evidence: { customer_email_address: null, product_description: null,
				uncategorized_text: null },
			evidence_details: { due_by: created + 7 * 86400, has_evidence: false, past_due: false,
				submission_count: 0 },
			is_charge_refundable: false, livemode: false, metadata: {}, payment_intent: ch.payment_intent,
			payment_method_details: ch.payment_method_details.type === 'card'
				? { type: 'card', card: { brand: 'visa', network_reason_code: '10.4' } }
				: { type: ch.payment_method_details.type },
			reason, status: 'needs_response',
		};
		ch.disputed = true;
		this.disputes.set(dp.id, { obj: dp, session: rec.session });
		this.emit('charge.dispute.created', dp, { key: rec.session });
		this.emit('charge.dispute.funds_withdrawn', dp, { key: rec.session });
		return dp;
	}

	// Close dispute id as 'won' or 'lost': charge.dispute.closed, and when
	// won charge.dispute.funds_reinstated.
	closeDispute(id, outcome) {
		const rec = this.disputes.get(id);
		if (!rec) throw noSuch('dispute', id, 'id', 404);
		if (!['won', 'lost'].includes(outcome)) throw invalid('outcome must be won or lost', 'outcome');
		if (['won', 'lost'].includes(rec.obj.status)) throw invalid(`Dispute ${id} is already closed (${rec.obj.status})`, 'id');
		const previous = { status: rec.obj.status };
		rec.obj.status = outcome;
		this.emit('charge.dispute.closed', rec.obj, { key: rec.session, previous });
		if (outcome === 'won') this.emit('charge.dispute.funds_reinstated', rec.obj, { key: rec.session });
		return rec.obj;
	}
}
