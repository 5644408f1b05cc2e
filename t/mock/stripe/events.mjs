// events.mjs: the fake Stripe's events and webhook deliveries. An event
// is Stripe's envelope around a snapshot of the object; it is POSTed to the
// webhook URL as Stripe does (pretty JSON, a Stripe-Signature header made by
// the official stripe package over "t.payload" with the endpoint secret,
// signed afresh at every attempt), retried after each entry of
// retryDelays (ms) on a non-2xx answer, a timeout or a connection error.
// Events with the same key (a Checkout Session's id) go out one at a time
// in the order they happened; other keys do not wait for them.
import { newId, now } from './form.mjs';

export class Events {
	// opts: webhookUrl, webhookSecret, apiVersion, retryDelays, timeoutMs,
	// sign(payload, secret) → header, log(line).
	constructor(opts) {
		this.o = opts;
		this.list = [];		// records, oldest first
		this.byId = new Map();
		this.queues = new Map();	// key → records waiting, head in flight
		this.enabled = true;
		this.waiters = new Set();
		this.timers = new Set();
		this.stopped = false;
	}

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
		const rec = { event, key: key ?? event.id, state: 'pending', attempts: [] };
		this.list.push(rec);
		this.byId.set(event.id, rec);
		if (!this.o.webhookUrl) rec.state = 'not_sent';
		else this.queue(rec);
		this.changed();
		return event;
	}

	// Deliver rec (again) after what its key already waits for.
	queue(rec) {
		rec.state = 'pending';
		const q = this.queues.get(rec.key);
		if (q) return q.push(rec);
		this.queues.set(rec.key, [rec]);
		this.drain(rec.key);
	}

	// Deliver the key's queue head by head until it is empty.
	async drain(key) {
		const q = this.queues.get(key);
		while (q.length && !this.stopped) {
			await this.deliver(q[0]);
			q.shift();
		}
		this.queues.delete(key);
	}

	// Try rec until it is answered 2xx or the retries run out.
	async deliver(rec) {
		const delays = this.o.retryDelays;
		for (let i = 0; i <= delays.length && !this.stopped; i++) {
			if (i) await this.sleep(delays[i - 1]);
			if (this.stopped) return;
			const a = await this.attempt(rec);
			rec.attempts.push(a);
			this.o.log(`${rec.event.id} ${rec.event.type} attempt ${rec.attempts.length}: ${a.status || a.error}`);
			if (a.status >= 200 && a.status < 300) {
				rec.state = 'delivered';
				this.changed();
				return;
			}
			this.changed();
		}
		if (!this.stopped) rec.state = 'failed';
		this.changed();
	}

	// One POST of rec to the webhook URL: { at, status, error }.
	async attempt(rec) {
		const at = new Date().toISOString();
		if (!this.enabled) return { at, status: 0, error: 'delivery switched off' };
		const payload = JSON.stringify(rec.event, null, 2);
		try {
			const res = await fetch(this.o.webhookUrl, {
				method: 'POST', body: payload, signal: AbortSignal.timeout(this.o.timeoutMs),
				headers: {
					'Content-Type': 'application/json; charset=utf-8',
					'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
					'Cache-Control': 'no-cache', 'Accept': '*/*; q=0.5, application/xml',
					'Stripe-Signature': this.o.sign(payload, this.o.webhookSecret),
				},
			});
			await res.arrayBuffer().catch(() => {});
			return { at, status: res.status, error: res.ok ? null : `HTTP ${res.status}` };
		} catch (e) {
			return { at, status: 0, error: e.cause?.code ?? e.name ?? String(e) };
		}
	}

	// Wait ms, or less when stop() comes first.
	sleep(ms) {
		return new Promise((res) => {
			const t = setTimeout(() => { this.timers.delete(t); res(); }, ms);
			this.timers.add(t);
			t.resolve = res;
		});
	}

	// Deliver event id once more, after its key's queue; its record or null.
	redeliver(id) {
		const rec = this.byId.get(id);
		if (!rec) return null;
		if (!this.o.webhookUrl) return rec;
		if (rec.state !== 'pending') this.queue(rec);
		return rec;
	}

	// Resolves with the first record pred accepts, now or when one comes;
	// rejects after timeoutMs.
	waitFor(pred, timeoutMs) {
		const hit = this.list.find(pred);
		if (hit) return Promise.resolve(hit);
		return new Promise((res, rej) => {
			const w = { pred, res, t: setTimeout(() => { this.waiters.delete(w); rej(new Error(`no such event within ${timeoutMs} ms`)); }, timeoutMs) };
			this.waiters.add(w);
		});
	}

	// Wake the waiters whose event has come.
	changed() {
		for (const w of this.waiters) {
			const hit = this.list.find(w.pred);
			if (hit) {
				clearTimeout(w.t);
				this.waiters.delete(w);
				w.res(hit);
			}
		}
	}

	// Stop delivering: pending sleeps end, nothing more is sent.
	stop() {
		this.stopped = true;
		for (const t of this.timers) { clearTimeout(t); t.resolve(); }
		this.timers.clear();
	}
}

// A record as the controls and tests see it.
export const view = (rec) => ({ id: rec.event.id, type: rec.event.type, state: rec.state,
	attempts: rec.attempts, event: rec.event });
