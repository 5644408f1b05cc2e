// tremendous.mjs: the demo's and the tests' fake Tremendous (./dev up). It
// speaks Tremendous's API v2 for the calls infrpool makes to pay a supplier
// out (orders of one reward, delivered by email), answers the reads a
// reconciling job needs, keeps fraud reviews, and delivers webhooks signed
// the real way. Files under t/mock/tremendous/; the controls and the test
// handle are described in t/lib/tremendous.mjs and docs/operations.md.
//
//   node t/mock/tremendous.mjs --listen 127.0.0.1:0 [--webhook-url URL]
//       [--auto-deliver SECONDS] [--retry-delays MS,MS,...]
//       [--funding-source-id ID] [--campaign-id ID]
//       [--pidfile FILE] [--port-file FILE] [--quiet]
//
// The API key and the webhook's private key come from
// FAKE_TREMENDOUS_API_KEY and FAKE_TREMENDOUS_WEBHOOK_SECRET (or --api-key,
// --webhook-secret; the environment keeps them off ps); absent, they are
// made up and printed, as are the funding source's and campaign's ids.
//
// What the fake copies, and where it was checked (July 2026):
// - Requests, answers, enums: the official SDK's OpenAPI-generated types,
//   npm tremendous@4.12.0 (dist/api.d.ts, "version of the OpenAPI
//   document: 2"): POST /orders takes external_id, payment.funding_source_id
//   ("balance" also names the balance), reward.{campaign_id | products[],
//   value.{denomination (a number), currency_code (defaults to the
//   organization's)}, recipient.{name, email}, deliver_at, delivery.method
//   (EMAIL, LINK, PHONE)}. An order: id, external_id, campaign_id,
//   created_at, status (CANCELED, OPEN, EXECUTED, FAILED, PENDING APPROVAL,
//   ...), channel, payment.{subtotal, total, fees, discount, currency_code,
//   refund.{total, currency_code}} in dollars, rewards[]. A reward: id,
//   order_id, created_at, expires_at, value, recipient, deliver_at,
//   custom_fields, delivery.{method, status: SCHEDULED, PENDING, SUCCEEDED,
//   FAILED}. GET /orders/{id} takes an external_id too. Lists answer
//   {<things>, total_count} with offset and limit, newest first. Funding
//   source {id, method, usage_permissions, status, meta.available_cents};
//   campaign {id, name, description, products}. Fraud reviews: GET
//   /fraud_reviews (?status=flagged|blocked|released), GET
//   /fraud_reviews/{id}, PUT /fraud_reviews/{id}/release and .../block,
//   where id is the reward's; block "cancels the reward and refunds the
//   amount". POST /rewards/{id}/cancel takes "only non-expired rewards with
//   a delivery failure"; POST /rewards/{id}/resend only rewards whose
//   delivery failed. POST /webhooks {url} answers {webhook: {id, url,
//   private_key}}. Auth: Bearer access token (the SDK's Configuration).
// - Idempotency, same SDK's createOrder text: a repeat of an order's
//   request under its external_id creates nothing and answers the order
//   with 201; another request under a used external_id is 409. A new order
//   is 200 (not 201: the SDK's CreateOrder200Response, and the Ruby SDK
//   has a separate CreateOrder201Response).
// - Errors: developers.tremendous.com/docs/error-handling: body
//   {"errors":{"message","payload"}} (payload mirrors the request, with a
//   message at the faulty field; the docs' example message "Order failed:
//   validation failure" is used for every validation error here); 200 ok,
//   201 duplicate external_id, 400 validation, 401 missing or bad key, 402
//   not enough funds, 404 unknown id, 422 missing parameter, 429, 500.
//   tremendous-ruby spec/integration/orders_spec.rb: a bad funding source
//   with an empty reward is 422.
// - Webhooks: developers.tremendous.com/docs/webhooks-1: one endpoint per
//   organization; body {"event","uuid","created_utc","payload":{"resource":
//   {"id","type"},"meta":{}}}; events REWARDS.DELIVERY.SUCCEEDED,
//   REWARDS.DELIVERY.FAILED, REWARDS.CANCELED ("usually via UI"),
//   REWARDS.FLAGGED ("flagged for fraud review"; changelog "Update: new
//   webhook event"). docs/delivery-failure-payload: FAILED has
//   payload.meta {failure_reason (invalid_email, invalid_domain, ...),
//   retryable}. The signature: Tremendous's own sample app
//   (tremendous-for-platforms-sample-app, controllers/webhooks_controller.rb)
//   splits the Tremendous-Webhook-Signature header at the first "=" and
//   compares the rest with the hex HMAC-SHA256 of the body keyed with the
//   webhook's private key; the "sha256=" prefix is as integrations in the
//   wild read it. That sample re-serializes the parsed body to check it, so
//   the body is compact JSON, as sent here.
// Assumed (no doc found): the wording of messages; 400 for a present but
// wrong value and 422 for a missing one or an unknown id; 409's payload;
// the webhook retry schedule (here 1 s, 2 s, 5 s, 10 s, 30 s, 60 s) and
// User-Agent; a JSON body sent as another Content-Type is refused (400);
// created_utc in UTC ("+00:00"); fees 0; a canceled reward
// keeps its delivery status while its order becomes CANCELED with a
// payment.refund; release of a review before delivery delivers the reward
// (REWARDS.DELIVERY.SUCCEEDED), after delivery sends nothing; block sends
// REWARDS.CANCELED; cancel and resend answer {}; the key's TEST_ prefix.
// In the real service a reward is flagged when its recipient redeems it,
// which is usually after REWARDS.DELIVERY.SUCCEEDED; the fake can flag
// before delivery (delivery then waits) or after it.
import { unlinkSync } from 'node:fs';
import { writeAtomic } from './atomic.mjs';
import { parseArgs } from 'node:util';
import { createFakeTremendous } from './tremendous/server.mjs';

const { values: o } = parseArgs({ options: {
	listen: { type: 'string' }, 'webhook-url': { type: 'string' },
	'api-key': { type: 'string' }, 'webhook-secret': { type: 'string' },
	'funding-source-id': { type: 'string' }, 'campaign-id': { type: 'string' },
	'auto-deliver': { type: 'string' }, 'retry-delays': { type: 'string' },
	pidfile: { type: 'string' }, 'port-file': { type: 'string' }, quiet: { type: 'boolean' } } });
const m = /^(\[[\d:a-fA-F]+\]|[\w.-]+):(\d+)$/.exec(o.listen ?? '');
const apiKey = o['api-key'] ?? process.env.FAKE_TREMENDOUS_API_KEY;
const webhookSecret = o['webhook-secret'] ?? process.env.FAKE_TREMENDOUS_WEBHOOK_SECRET;
const deliver = Number(o['auto-deliver'] ?? 0);
const delays = o['retry-delays']?.split(',').map(Number);
const id = (s) => s === undefined || /^[A-Z0-9]{4,40}$/.test(s);
if (!m || !(deliver >= 0) || (delays && !delays.every((d) => d >= 0)) ||
    (apiKey && !/^TEST_\w+$/.test(apiKey)) || (webhookSecret && !/^\w{16,}$/.test(webhookSecret)) ||
    !id(o['funding-source-id']) || !id(o['campaign-id'])) {
	console.error('usage: node t/mock/tremendous.mjs --listen HOST:PORT [--webhook-url URL]\n' +
		'  [--api-key TEST_…] [--webhook-secret KEY (16+ word characters)] [--auto-deliver SECONDS]\n' +
		'  [--funding-source-id ID] [--campaign-id ID] (ids: A-Z and 0-9)\n' +
		'  [--retry-delays MS,MS,…] [--pidfile FILE] [--port-file FILE] [--quiet]');
	process.exit(2);
}
const log = o.quiet ? () => {} : (line) => console.log(`${new Date().toISOString()} ${line}`);
const fake = await createFakeTremendous({
	host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]), webhookUrl: o['webhook-url'], apiKey, webhookSecret,
	fundingSourceId: o['funding-source-id'], campaignId: o['campaign-id'], autoDeliverMs: deliver * 1000,
	retryDelays: delays, log,
});
if (o['port-file']) writeAtomic(o['port-file'], `${fake.port}\n`);
if (o.pidfile) writeAtomic(o.pidfile, `${process.pid}\n`);
console.log(`listening on ${fake.url}, API at ${fake.url}/api/v2, webhooks to ${fake.o.webhookUrl ?? '(nowhere)'}`);
console.log(`funding source ${fake.o.fundingSourceId}, campaign ${fake.o.campaignId}` +
	`${deliver ? `, rewards delivered after ${deliver} s` : ''}`);
if (!apiKey) console.log(`API key ${fake.o.apiKey}`);
if (!webhookSecret) console.log(`webhook private key ${fake.o.webhookSecret}`);
const stop = async () => {
	await fake.stop();
	if (o.pidfile) try { unlinkSync(o.pidfile); } catch { /* gone */ }
	process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
