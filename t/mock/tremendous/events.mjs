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

// The Tremendous-Webhook-Signature value for body (a string or Buffer).
export function sign(body, secret) {
	return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export class Events {
	// opts: webhookUrl, webhookSecret, retryDelays, timeoutMs, log(line).
	constructor(opts) {
		this.o = opts;
		this.list = [];		// records, oldest first
		this.byId = new Map();	// uuid → record
		this.queues = new Map();	// key → records waiting, head in flight
		this.enabled = true;
		this.waiters = new Set();
		this.timers = new Set();
		this.stopped = false;
	}

	// Record event type about resource ({ id, type }) with meta, queue it;
	// key (default: the resource's id) keeps one resource's events in order.
	emit(type, resource, meta = {}, key = resource.id) {
		const event = { event: type, uuid: crypto.randomUUID(), created_utc: createdUtc(),
			payload: { resource: { id: resource.id, type: resource.type }, meta } };
		const rec = { event, key, state: 'pending', attempts: [] };
		this.list.push(rec);
		this.byId.set(event.uuid, rec);
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
			this.o.log(`${rec.event.uuid} ${rec.event.event} ${rec.event.payload.resource.id} ` +
				`attempt ${rec.attempts.length}: ${a.status || a.error}`);
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

	// One POST of rec to the webhook URL, signed afresh: { at, status, error }.
	async attempt(rec) {
		const at = new Date().toISOString();
		if (!this.enabled) return { at, status: 0, error: 'delivery switched off' };
		const body = JSON.stringify(rec.event);
		try {
			const res = await fetch(this.o.webhookUrl, {
				method: 'POST', body, signal: AbortSignal.timeout(this.o.timeoutMs),
				headers: {
					'Content-Type': 'application/json',
					'User-Agent': 'Tremendous-Webhooks (fake)',
					'Tremendous-Webhook-Signature': sign(body, this.o.webhookSecret),
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

	// Deliver event uuid once more, after its key's queue; its record or null.
	redeliver(uuid) {
		const rec = this.byId.get(uuid);
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
export const view = (rec) => ({ uuid: rec.event.uuid, event: rec.event.event,
	reward_id: rec.event.payload.resource.id, state: rec.state, attempts: rec.attempts, body: rec.event });
