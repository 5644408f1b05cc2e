// webhooks.mjs: what the fakes of outside services (Stripe, Tremendous)
// share in delivering their webhooks: each event is a record kept for the
// tests, POSTed to the webhook URL and tried again after each entry of
// retryDelays (ms) on a non-2xx answer, a timeout or a connection error.
// Events with the same key go out one at a time in the order they
// happened; other keys do not wait for them. A subclass says how an event
// is written (body), signed and sent (headers), and named in the log.
export class WebhookQueue {
	// opts: webhookUrl, webhookSecret, retryDelays, timeoutMs, log(line),
	// and what the subclass needs.
	constructor(opts) {
		this.o = opts;
		this.list = [];		// records, oldest first
		this.byId = new Map();	// the event's id → record
		this.queues = new Map();	// key → records waiting, head in flight
		this.enabled = true;
		this.waiters = new Set();
		this.timers = new Set();
		this.stopped = false;
	}

	// The subclass's: the body of rec's POST, its headers, a log name.
	body(rec) { return JSON.stringify(rec.event); }
	headers() { return { 'Content-Type': 'application/json' }; }
	describe(rec) { return rec.id; }

	// Keep event (its id, its key) and queue it; the event.
	add(event, id, key) {
		const rec = { event, id, key: key ?? id, state: 'pending', attempts: [] };
		this.list.push(rec);
		this.byId.set(id, rec);
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
			this.o.log(`${this.describe(rec)} attempt ${rec.attempts.length}: ${a.status || a.error}`);
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
		const body = this.body(rec);
		try {
			const res = await fetch(this.o.webhookUrl, {
				method: 'POST', body, signal: AbortSignal.timeout(this.o.timeoutMs), headers: this.headers(body),
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
