// stripe.mjs: the fake Stripe (t/mock/stripe/) in the test's own process,
// and the official stripe client pointed at it.
//
//   const fake = await startFakeStripe({ webhookUrl: `${s.url}/hooks/stripe` });
//   const stripe = fake.client();	// new Stripe(fake.secretKey, { host, port, protocol: 'http' })
//
// The handle: url, port, secretKey, webhookSecret, apiVersion, conf (the
// [stripe] section for infrpool.conf), client(), events(type?) (records
// { id, type, state: pending|delivered|failed|not_sent, attempts: [{ at,
// status, error }], event }, oldest first), waitForEvent(type, { state,
// match(event), timeoutMs }), setWebhookUrl(url), setDelivery(enabled),
// redeliver(eventId), pay(sessionId, action = 'pay', card) (action: pay,
// bank, bank_fail, decline, cancel; → { outcome, redirect, session }),
// settle(sessionId, 'succeeded'|'failed'), dispute({ charge |
// payment_intent, amount?, reason? }), closeDispute(id, 'won'|'lost'),
// session(id), stop(). The same controls answer over HTTP under /_fake
// (docs/operations.md); the handle's are plain calls.
import { createFakeStripe } from '../mock/stripe/server.mjs';
import { view } from '../mock/stripe/events.mjs';
import { requirePeer } from './peers.mjs';

// Start a fake Stripe on a loopback port. opts as createFakeStripe's
// (webhookUrl, secretKey, webhookSecret, publicUrl, retryDelays, timeoutMs,
// autoSettleMs, log); retries here are fast: 50 ms doubling, 6 tries.
export async function startFakeStripe(opts = {}) {
	const f = await createFakeStripe({ retryDelays: [50, 100, 200, 400, 800], timeoutMs: 5000, ...opts });
	const { o, store, events } = f;
	const sessionOf = (id) => {
		const s = store.session(id);
		if (!s) throw new Error(`no such Checkout Session: ${id}`);
		return s;
	};
	// Run a store action the way the controls do: Stripe-shaped errors thrown as Errors.
	const call = (fn) => {
		try { return fn(); } catch (e) { if (e.error) throw Object.assign(new Error(e.message), { status: e.status, error: e.error }); throw e; }
	};
	return {
		url: f.url, port: f.port, secretKey: o.secretKey, webhookSecret: o.webhookSecret, apiVersion: o.apiVersion,
		conf: `[stripe]\nsecret_key = ${o.secretKey}\nwebhook_secret = ${o.webhookSecret}\napi_base = ${f.url}\ncurrency = usd\n`,
		client(extra = {}) {
			const Stripe = requirePeer('stripe');
			return new Stripe(o.secretKey, { host: '127.0.0.1', port: f.port, protocol: 'http', maxNetworkRetries: 0, ...extra });
		},
		events: (type) => events.list.filter((r) => !type || r.event.type === type).map(view),
		async waitForEvent(type, { state = 'delivered', match = () => true, timeoutMs = 10000 } = {}) {
			return view(await events.waitFor((r) => r.event.type === type && (!state || r.state === state) &&
				match(r.event), timeoutMs));
		},
		setWebhookUrl(url) { o.webhookUrl = url; },
		setDelivery(enabled) { events.enabled = enabled; },
		redeliver(id) {
			const r = events.redeliver(id);
			if (!r) throw new Error(`no such event: ${id}`);
			return view(r);
		},
		pay(id, action = 'pay', card) {
			const s = sessionOf(id);
			if (s.obj.status !== 'open') throw new Error(`Checkout Session ${id} is ${s.obj.status}, not open`);
			const r = call(() => (f.checkout(s, action, card)));
			if (!r) throw new Error(`unknown action ${action}`);
			return { ...r, session: structuredClone(s.obj) };
		},
		settle: (id, outcome) => call(() => { store.settle(sessionOf(id), outcome); return structuredClone(sessionOf(id).obj); }),
		dispute: (b) => call(() => structuredClone(store.dispute(b))),
		closeDispute: (id, outcome) => call(() => structuredClone(store.closeDispute(id, outcome))),
		session: (id) => structuredClone(sessionOf(id).obj),
		stop: () => f.stop(),
	};
}
