// events.mjs: the fake Stripe's events and webhook deliveries. An event
// is Stripe's envelope around a snapshot of the object; it is POSTed to the
// webhook URL as Stripe does (pretty JSON, a Stripe-Signature header made by
// the official stripe package over "t.payload" with the endpoint secret,
// signed afresh at every attempt), retried after each entry of
// retryDelays (ms) on a non-2xx answer, a timeout or a connection error.
// Events with the same key (a Checkout Session's id) go out one at a time
// in the order they happened; other keys do not wait for them.
import { newId, now } from './form.mjs';
import { WebhookQueue } from '../webhooks.mjs';

export class Events extends WebhookQueue {
	// opts: webhookUrl, webhookSecret, apiVersion, retryDelays, timeoutMs,
	// sign(payload, secret) → header, log(line).

	// Record an event of type about object (snapshot now) and queue it.
	// opts: key (order), request ({ id, idempotency_key } of the API call),
	// previous (data.previous_attributes).
	emit(type, object, { key, request, previous } = {}) {
		const event = {
			id: newId('evt_'), object: 'event', api_version: this.o.apiVersion, created: now(),
			data: { object: structuredClone(object), ...(previous ? { previous_attributes: previous } : {}) },
			livemode: false, pending_webhooks: this.o.webhookUrl ? 1 : 0,
			request: request ?? { id: null, idempotency_key: null }, type,
		};
		return this.add(event, event.id, key);
	}

	body(rec) { return JSON.stringify(rec.event, null, 2); }

	headers(payload) {
		return {
			'Content-Type': 'application/json; charset=utf-8',
			'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
			'Cache-Control': 'no-cache', 'Accept': '*/*; q=0.5, application/xml',
			'Stripe-Signature': this.o.sign(payload, this.o.webhookSecret),
		};
	}

	describe(rec) { return `${rec.event.id} ${rec.event.type}`; }
}

// A record as the controls and tests see it.
export const view = (rec) => ({ id: rec.event.id, type: rec.event.type, state: rec.state,
	attempts: rec.attempts, event: rec.event });
