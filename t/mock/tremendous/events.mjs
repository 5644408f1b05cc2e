// events.mjs: the fake Tremendous's webhooks. An event is Tremendous's
// envelope ({"event","uuid","created_utc","payload":{"resource":{"id",
// "type"},"meta"}}) naming the resource, not a copy of it; it is POSTed to
// the webhook URL as compact JSON with the header
// Tremendous-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body,
// keyed with the webhook's private key>, and retried after each entry of
// retryDelays (ms) on a non-2xx answer, a timeout or a connection error.
// Events with the same key (a reward's id) go out one at a time in the
// order they happened; other keys do not wait for them.
import { createHmac } from 'node:crypto';
import { createdUtc } from './wire.mjs';
import { WebhookQueue } from '../webhooks.mjs';

// The Tremendous-Webhook-Signature value for body (a string or Buffer).
export function sign(body, secret) {
	return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export class Events extends WebhookQueue {
	// opts: webhookUrl, webhookSecret, retryDelays, timeoutMs, log(line).

	// Record event type about resource ({ id, type }) with meta, queue it;
	// key (default: the resource's id) keeps one resource's events in order.
	emit(type, resource, meta = {}, key = resource.id) {
		const event = { event: type, uuid: crypto.randomUUID(), created_utc: createdUtc(),
			payload: { resource: { id: resource.id, type: resource.type }, meta } };
		return this.add(event, event.uuid, key);
	}

	headers(body) {
		return {
			'Content-Type': 'application/json',
			'User-Agent': 'Tremendous-Webhooks (fake)',
			'Tremendous-Webhook-Signature': sign(body, this.o.webhookSecret),
		};
	}

	describe(rec) {
		return `${rec.event.uuid} ${rec.event.event} ${rec.event.payload.resource.id}`;
	}
}

// A record as the controls and tests see it.
export const view = (rec) => ({ uuid: rec.event.uuid, event: rec.event.event,
	reward_id: rec.event.payload.resource.id, state: rec.state, attempts: rec.attempts, body: rec.event });
