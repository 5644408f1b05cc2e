// stripe.mjs: the demo's fake Stripe (./dev up). It speaks Stripe's v1 wire
// format for the calls infrpool makes, serves a hosted checkout page where a
// person pays, pays by bank debit, has the card declined or cancels, and
// delivers signed webhooks to the app. Files under t/mock/stripe/; the
// controls and the test handle are described in t/lib/stripe.mjs.
//
//   node t/mock/stripe.mjs --listen 127.0.0.1:0 [--public-url URL]
//       [--webhook-url URL] [--auto-settle SECONDS] [--retry-delays MS,MS,...]
//       [--pidfile FILE] [--port-file FILE]
//
// The secret key and the webhook secret come from FAKE_STRIPE_SECRET_KEY
// and FAKE_STRIPE_WEBHOOK_SECRET (or --secret-key, --webhook-secret; the
// environment keeps them off ps); absent, they are made up and printed.
import { unlinkSync } from 'node:fs';
import { writeAtomic } from './atomic.mjs';
import { parseArgs } from 'node:util';
import { createFakeStripe } from './stripe/server.mjs';

const { values: o } = parseArgs({ options: {
	listen: { type: 'string' }, 'public-url': { type: 'string' }, 'webhook-url': { type: 'string' },
	'webhook-secret': { type: 'string' }, 'secret-key': { type: 'string' },
	'auto-settle': { type: 'string' }, 'retry-delays': { type: 'string' },
	pidfile: { type: 'string' }, 'port-file': { type: 'string' }, quiet: { type: 'boolean' } } });
const m = /^(\[[\d:a-fA-F]+\]|[\w.-]+):(\d+)$/.exec(o.listen ?? '');
const secretKey = o['secret-key'] ?? process.env.FAKE_STRIPE_SECRET_KEY;
const webhookSecret = o['webhook-secret'] ?? process.env.FAKE_STRIPE_WEBHOOK_SECRET;
const settle = Number(o['auto-settle'] ?? 0);
const delays = o['retry-delays']?.split(',').map(Number);
if (!m || !(settle >= 0) || (delays && !delays.every((d) => d >= 0)) ||
    (secretKey && !/^sk_test_\w+$/.test(secretKey)) || (webhookSecret && !/^whsec_\w+$/.test(webhookSecret))) {
	console.error('usage: node t/mock/stripe.mjs --listen HOST:PORT [--public-url URL] [--webhook-url URL]\n' +
		'  [--secret-key sk_test_…] [--webhook-secret whsec_…] [--auto-settle SECONDS]\n' +
		'  [--retry-delays MS,MS,…] [--pidfile FILE] [--port-file FILE] [--quiet]');
	process.exit(2);
}
const log = o.quiet ? () => {} : (line) => console.log(`${new Date().toISOString()} ${line}`);
const fake = await createFakeStripe({
	host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]), publicUrl: o['public-url']?.replace(/\/+$/, ''),
	webhookUrl: o['webhook-url'], secretKey, webhookSecret, autoSettleMs: settle * 1000,
	retryDelays: delays, log,
});
if (o['port-file']) writeAtomic(o['port-file'], `${fake.port}\n`);
if (o.pidfile) writeAtomic(o.pidfile, `${process.pid}\n`);
console.log(`listening on ${fake.url}, checkout pages at ${fake.o.publicUrl}/c/pay/…, ` +
	`webhooks to ${fake.o.webhookUrl ?? '(nowhere)'}`);
if (!secretKey) console.log(`secret key ${fake.o.secretKey}`);
if (!webhookSecret) console.log(`webhook secret ${fake.o.webhookSecret}`);
const stop = async () => {
	await fake.stop();
	if (o.pidfile) try { unlinkSync(o.pidfile); } catch { /* gone */ }
	process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
