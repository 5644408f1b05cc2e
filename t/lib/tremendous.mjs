// tremendous.mjs: the fake Tremendous (t/mock/tremendous/) in the test's
// own process, and the official tremendous client pointed at it.
//
//   const fake = await startFakeTremendous({ webhookUrl: `${s.url}/hooks/tremendous` });
//   const conf = fake.conf;	// the [tremendous] section for infrpool.conf
//   const { orders, rewards } = fake.client();	// OrdersApi, RewardsApi, … of the SDK
//
// The handle: url, port, apiBase (url/api/v2), apiKey, webhookSecret,
// fundingSourceId, campaignId, conf, client() ({ orders, rewards,
// fundingSources, campaigns, products, fraudReviews, webhooks }: the SDK's
// API classes, configured), sign(body) (the Tremendous-Webhook-Signature
// value for a body, to forge or check one), events(type?) (records { uuid,
// event, reward_id, state: pending|delivered|failed|not_sent, attempts:
// [{ at, status, error }], body }, oldest first), waitForEvent(type,
// { state, match(body), timeoutMs }), setWebhookUrl(url),
// setDelivery(enabled), redeliver(uuid), orders() (every order as the API
// shows it, oldest first), reward(id) ({ reward, order, canceled,
// fraud_review }), and the actions, each answering reward(id) afterwards:
// deliver(id), fail(id, { reason, retryable }), cancel(id), flag(id,
// { reasons }), release(id), block(id); id is a reward's id, or its order's
// id or external_id (our payout id). fault({ mode: 'timeout' | 'reset' |
// '500' | '502' | '503', when: 'before' | 'after', count = 1, ms = 60000 })
// makes the next count POST /orders fail so, before or after the order is
// recorded (timeout: no answer for ms, then the connection is closed);
// clearFaults(); setBalance(cents); stop(). The same controls answer over
// HTTP under /_fake (docs/operations.md); the handle's are plain calls.
import { createFakeTremendous, rewardOf, rewardView, addFault } from '../mock/tremendous/server.mjs';
import { view, sign } from '../mock/tremendous/events.mjs';
import { requirePeer } from './peers.mjs';

// Start a fake Tremendous on a loopback port. opts as createFakeTremendous's
// (webhookUrl, apiKey, webhookSecret, fundingSourceId, campaignId,
// balanceCents, retryDelays, timeoutMs, autoDeliverMs, log); retries here
// are fast: 50 ms doubling, 6 tries.
export async function startFakeTremendous(opts = {}) {
	const f = await createFakeTremendous({ retryDelays: [50, 100, 200, 400, 800], timeoutMs: 5000, ...opts });
	const { o, store, events } = f;
	// Run a store action as the controls do: API-shaped errors thrown as Errors.
	const call = (fn) => {
		try { return fn(); } catch (e) {
			if (e.errors) throw Object.assign(new Error(e.message), { status: e.status, errors: e.errors });
			throw e;
		}
	};
	const act = (id, fn) => call(() => {
		const r = rewardOf(store, id);
		fn(r);
		return structuredClone(rewardView(store, r));
	});
	const apiBase = `${f.url}/api/v2`;
	return {
		url: f.url, port: f.port, apiBase, apiKey: o.apiKey, webhookSecret: o.webhookSecret,
		fundingSourceId: o.fundingSourceId, campaignId: o.campaignId,
		conf: `[tremendous]\napi_base = ${apiBase}\napi_key = ${o.apiKey}\nwebhook_secret = ${o.webhookSecret}\n` +
			`funding_source_id = ${o.fundingSourceId}\ncampaign_id = ${o.campaignId}\n`,
		client() {
			const t = requirePeer('tremendous');
			const cfg = new t.Configuration({ basePath: apiBase, accessToken: o.apiKey });
			return { orders: new t.OrdersApi(cfg), rewards: new t.RewardsApi(cfg),
				fundingSources: new t.FundingSourcesApi(cfg), campaigns: new t.CampaignsApi(cfg),
				products: new t.ProductsApi(cfg), fraudReviews: new t.FraudReviewsApi(cfg),
				webhooks: new t.WebhooksApi(cfg) };
		},
		sign: (body) => sign(body, o.webhookSecret),
		events: (type) => events.list.filter((r) => !type || r.event.event === type).map(view),
		async waitForEvent(type, { state = 'delivered', match = () => true, timeoutMs = 10000 } = {}) {
			return view(await events.waitFor((r) => r.event.event === type && (!state || r.state === state) &&
				match(r.event), timeoutMs));
		},
		setWebhookUrl(url) { o.webhookUrl = url; },
		setDelivery(enabled) { events.enabled = enabled; },
		redeliver(uuid) {
			const r = events.redeliver(uuid);
			if (!r) throw new Error(`no such event: ${uuid}`);
			return view(r);
		},
		orders: () => [...store.orders.values()].map((x) => store.orderOut(x)),
		reward: (id) => call(() => structuredClone(rewardView(store, rewardOf(store, id)))),
		deliver: (id) => act(id, (r) => store.deliver(r)),
		fail: (id, { reason, retryable } = {}) => act(id, (r) => store.fail(r, reason, retryable)),
		cancel: (id) => act(id, (r) => store.cancel(r)),
		flag: (id, { reasons } = {}) => act(id, (r) => store.flag(r, reasons)),
		release: (id) => act(id, (r) => store.release(store.reviewed(r.obj.id))),
		block: (id) => act(id, (r) => store.block(store.reviewed(r.obj.id))),
		fault: (spec) => call(() => structuredClone(addFault({ faults: f.faults }, spec))),
		clearFaults() { f.faults.length = 0; },
		setBalance(cents) { store.funding.meta.available_cents = cents; },
		stop: () => f.stop(),
	};
}
