// server.mjs: the fake Tremendous's HTTP server: /api/v2 (the API) and
// /_fake (test controls, loopback only, JSON in and out), and the faults a
// test can put in front of POST /api/v2/orders. createFakeTremendous() is
// what the CLI (t/mock/tremendous.mjs) and the tests (t/lib/tremendous.mjs)
// both run.
import { createServer } from 'node:http';
import { ApiError, newId } from './wire.mjs';
import { Store } from './store.mjs';
import { Events, view } from './events.mjs';
import { Api } from './api.mjs';

const MAX_BODY = 1 << 20;
const FAULTS = ['timeout', 'reset', '500', '502', '503'];

// Start a fake Tremendous. opts: host ('127.0.0.1'), port (0: any),
// webhookUrl (null: keep events unsent), apiKey (TEST_…), webhookSecret
// (both generated when absent), fundingSourceId, campaignId (generated when
// absent), balanceCents (500000), retryDelays (ms between attempts),
// timeoutMs (per delivery), autoDeliverMs (demo: rewards are delivered by
// themselves after this long; 0: only through the controls), log(line).
// Resolves to the handle described in t/lib/tremendous.mjs.
export async function createFakeTremendous(opts = {}) {
	opts = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
	const o = {
		host: '127.0.0.1', port: 0, webhookUrl: null, retryDelays: [1000, 2000, 5000, 10000, 30000, 60000],
		timeoutMs: 10000, autoDeliverMs: 0, balanceCents: 500000, log: () => {},
		...opts,
		apiKey: opts.apiKey ?? `TEST_${newId(40)}`,
		webhookSecret: opts.webhookSecret ?? newId(32).toLowerCase(),
		fundingSourceId: opts.fundingSourceId ?? newId(),
		campaignId: opts.campaignId ?? newId(),
		webhookId: newId(),
	};
	const events = new Events(o);
	const store = new Store(o, (type, res, meta) => events.emit(type, res, meta));
	const timers = new Set();
	if (o.autoDeliverMs > 0) store.onScheduled = (r) => {
		const t = setTimeout(() => {
			timers.delete(t);
			if (r.obj.delivery.status !== 'SCHEDULED' || r.canceled || r.review?.status === 'flagged') return;
			store.deliver(r);
			o.log(`reward ${r.obj.id} delivered (auto)`);
		}, o.autoDeliverMs);
		timers.add(t);
	};
	const ctx = { o, events, store, api: new Api(store, o), faults: [] };
	const server = createServer((req, res) => serve(ctx, req, res).catch((e) => {
		o.log(`${req.method} ${req.url}: ${e.stack}`);
		if (!res.headersSent) send(res, 500, { errors: { message: 'fake Tremendous: internal error', payload: {} } });
		else res.destroy();
	}));
	await new Promise((res, rej) => { server.once('error', rej); server.listen(o.port, o.host, res); });
	const port = server.address().port;
	const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
	return { server, port, url, o, store, events, faults: ctx.faults,
		async stop() {
			events.stop();
			for (const t of timers) clearTimeout(t);
			server.closeAllConnections();
			await new Promise((res) => server.close(res));
		} };
}

// Read a request body, at most MAX_BODY bytes (null when longer).
async function body(req) {
	const chunks = [];
	let n = 0;
	for await (const c of req) {
		n += c.length;
		if (n > MAX_BODY) return null;
		chunks.push(c);
	}
	return Buffer.concat(chunks).toString();
}

// Send obj as JSON.
function send(res, status, obj, headers = {}) {
	res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
	res.end(JSON.stringify(obj));
}

const loopback = (a) => a === '127.0.0.1' || a === '::1' || a?.startsWith('::ffff:127.') || a?.startsWith('127.');

// One request, to the API or the controls.
async function serve(ctx, req, res) {
	const u = new URL(req.url, 'http://fake');
	const raw = await body(req);
	if (raw === null) return send(res, 413, { errors: { message: 'Request body too large', payload: {} } });
	if (u.pathname === '/api/v2' || u.pathname.startsWith('/api/v2/')) return serveApi(ctx, req, res, u, raw);
	if (u.pathname.startsWith('/_fake/')) {
		if (!loopback(req.socket.remoteAddress))
			return send(res, 403, { errors: { message: 'the /_fake controls answer loopback only', payload: {} } });
		return serveControl(ctx, req, res, u, raw);
	}
	send(res, 404, { errors: { message: `No route matches ${req.method} ${u.pathname}`, payload: {} } });
}

// An API request, through the next fault when it is a POST /orders.
async function serveApi(ctx, req, res, u, raw) {
	const fault = req.method === 'POST' && u.pathname === '/api/v2/orders' ? takeFault(ctx) : null;
	const run = () => ctx.api.handle({ method: req.method, path: u.pathname.replace(/\/+$/, ''), query: u.searchParams,
		raw, headers: req.headers });
	if (fault?.when === 'before') return fail(ctx, req, res, fault, 'nothing recorded');
	const r = run();
	const what = r.body.order ? ` order ${r.body.order.id} reward ${r.body.order.rewards[0].id}` +
		`${r.body.order.external_id ? ` external_id ${r.body.order.external_id}` : ''}` : '';
	if (fault) return fail(ctx, req, res, fault, `after ${r.status}${what}`);
	ctx.o.log(`${req.method} ${u.pathname} ${r.status}${what}${r.replayed ? ' (existing order)' : ''}`);
	send(res, r.status, r.body);
}

// The next fault for a POST /orders, counted down; or null.
function takeFault(ctx) {
	const f = ctx.faults[0];
	if (!f) return null;
	if (--f.count <= 0) ctx.faults.shift();
	return { ...f };
}

// Answer req as fault f says: an error status, a reset connection, or no
// answer for f.ms (then a reset), whichever the client sees first.
function fail(ctx, req, res, f, note) {
	ctx.o.log(`${req.method} ${req.url}: fault ${f.mode} (${note})`);
	if (f.mode === 'reset') return req.socket.destroy();
	if (f.mode === 'timeout') {
		const t = setTimeout(() => req.socket.destroy(), f.ms);
		req.socket.once('close', () => clearTimeout(t));
		return;
	}
	const status = Number(f.mode);
	send(res, status, { errors: { message: status === 500
		? 'Unexpected error. If this persists, please contact support@tremendous.com' : 'Service Unavailable', payload: {} } },
	status === 503 ? { 'Retry-After': '1' } : {});
}

// The reward named by id: a reward's id, or its order's id or external_id.
export function rewardOf(store, id) {
	const o = store.order(id);
	return store.reward(o ? o.rewardId : id);
}

// A reward record as the controls show it.
export const rewardView = (store, r) => ({ reward: r.obj, order: store.orderOut(store.orders.get(r.orderId)),
	canceled: r.canceled, fraud_review: r.review ? store.reviewOut(r, true) : null });

// The test controls; each answers JSON.
async function serveControl(ctx, req, res, u, raw) {
	const { store, events } = ctx;
	let b = {};
	try { if (raw) b = JSON.parse(raw); } catch { return send(res, 400, { errors: { message: 'body is not JSON', payload: {} } }); }
	const p = u.pathname.slice('/_fake'.length).replace(/\/+$/, '');
	const post = req.method === 'POST';
	let m;
	try {
		if (req.method === 'GET' && p === '/orders')
			return send(res, 200, [...store.orders.values()].map((o) => store.orderOut(o)));
		if (req.method === 'GET' && (m = /^\/rewards\/([^/]+)$/.exec(p)))
			return send(res, 200, rewardView(store, rewardOf(store, decodeURIComponent(m[1]))));
		if (post && (m = /^\/rewards\/([^/]+)\/(deliver|fail|cancel|flag)$/.exec(p))) {
			const r = rewardOf(store, decodeURIComponent(m[1]));
			if (m[2] === 'deliver') store.deliver(r);
			if (m[2] === 'fail') store.fail(r, b.reason, b.retryable);
			if (m[2] === 'cancel') store.cancel(r);
			if (m[2] === 'flag') store.flag(r, b.reasons);
			ctx.o.log(`control: reward ${r.obj.id} ${m[2]}`);
			return send(res, 200, rewardView(store, r));
		}
		if (post && (m = /^\/fraud_reviews\/([^/]+)\/(release|block)$/.exec(p))) {
			const r = rewardOf(store, decodeURIComponent(m[1]));
			store[m[2]](store.reviewed(r.obj.id));
			ctx.o.log(`control: reward ${r.obj.id} ${m[2]}`);
			return send(res, 200, rewardView(store, r));
		}
		if (req.method === 'GET' && p === '/events') {
			const type = u.searchParams.get('event');
			return send(res, 200, events.list.filter((r) => !type || r.event.event === type).map(view));
		}
		if (post && (m = /^\/events\/([^/]+)\/redeliver$/.exec(p))) {
			const rec = events.redeliver(decodeURIComponent(m[1]));
			if (!rec) throw new ApiError(404, `no event ${m[1]}`);
			return send(res, 200, view(rec));
		}
		if (post && p === '/delivery') {
			if (typeof b.enabled !== 'boolean') throw new ApiError(400, 'enabled must be true or false');
			events.enabled = b.enabled;
			return send(res, 200, { enabled: b.enabled });
		}
		if (post && p === '/webhook') {
			if (b.url !== null && !/^https?:\/\//.test(b.url ?? '')) throw new ApiError(400, 'url must be an http(s) URL or null');
			ctx.o.webhookUrl = b.url;
			return send(res, 200, { url: b.url });
		}
		if (post && p === '/faults') return send(res, 200, addFault(ctx, b));
		if (req.method === 'GET' && p === '/faults') return send(res, 200, ctx.faults);
		if (req.method === 'DELETE' && p === '/faults') {
			ctx.faults.length = 0;
			return send(res, 200, ctx.faults);
		}
		if (post && p === '/balance') {
			if (!Number.isInteger(b.available_cents) || b.available_cents < 0)
				throw new ApiError(400, 'available_cents must be a whole number of cents, 0 or more');
			store.funding.meta.available_cents = b.available_cents;
			return send(res, 200, store.funding);
		}
		throw new ApiError(404, `no control ${req.method} /_fake${p}`);
	} catch (e) {
		if (!(e instanceof ApiError)) throw e;
		send(res, e.status, { errors: e.errors });
	}
}

// Queue a fault for the next POST /orders (b: mode, when, count, ms);
// answers the queue. Throws ApiError on a bad one.
export function addFault(ctx, b) {
	const f = { mode: String(b.mode ?? ''), when: b.when ?? 'before', count: b.count ?? 1, ms: b.ms ?? 60000 };
	if (!FAULTS.includes(f.mode)) throw new ApiError(400, `mode must be one of ${FAULTS.join(', ')}`);
	if (!['before', 'after'].includes(f.when)) throw new ApiError(400, 'when must be before or after (the order is recorded)');
	if (!Number.isInteger(f.count) || f.count < 1) throw new ApiError(400, 'count must be a whole number, 1 or more');
	if (!Number.isInteger(f.ms) || f.ms < 0) throw new ApiError(400, 'ms must be a whole number of milliseconds');
	ctx.faults.push(f);
	return ctx.faults;
}
