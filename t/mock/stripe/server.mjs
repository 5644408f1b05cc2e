// server.mjs: the fake Stripe's HTTP server: /v1 (the API), /c/pay/:id
// (the hosted checkout page) and /_fake (test controls, loopback only,
// JSON in and out). createFakeStripe() is what the CLI (t/mock/stripe.mjs)
// and the tests (t/lib/stripe.mjs) both run.
import { createServer } from 'node:http';
import { ApiError, parseForm, invalid, noSuch, newId } from './form.mjs';
import { Store } from './store.mjs';
import { Events, view } from './events.mjs';
import { Api } from './api.mjs';
import { page, checkout, DECLINED } from './page.mjs';
import { requirePeer } from '../../lib/peers.mjs';

const MAX_BODY = 1 << 20;

// The Stripe-Signature header for payload, made by the official package.
function sign(payload, secret) {
	return requirePeer('stripe').webhooks.generateTestHeaderString({ payload, secret });
}

// Start a fake Stripe. opts: host ('127.0.0.1'), port (0: any),
// publicUrl (default http://host:port), webhookUrl (null: keep events
// unsent), webhookSecret, secretKey (both generated when absent),
// apiVersion, retryDelays (ms between attempts), timeoutMs (per delivery),
// autoSettleMs (demo: bank debits settle by themselves after this long),
// sign(payload, secret) → Stripe-Signature value, log(line).
// Resolves to the handle described in t/lib/stripe.mjs.
export async function createFakeStripe(opts = {}) {
	opts = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
	const o = {
		host: '127.0.0.1', port: 0, webhookUrl: null, retryDelays: [1000, 2000, 5000, 10000, 30000, 60000],
		timeoutMs: 10000, autoSettleMs: 0, log: () => {}, sign, apiVersion: requirePeer('stripe').API_VERSION,
		...opts,
		secretKey: opts.secretKey ?? newId('sk_test_', 32),
		webhookSecret: opts.webhookSecret ?? newId('whsec_', 32),
	};
	const events = new Events(o);
	const store = new Store((type, obj, eo) => events.emit(type, obj, eo));
	const timers = new Set();
	const settleLater = o.autoSettleMs > 0 ? (s, outcome) => {
		const t = setTimeout(() => {
			timers.delete(t);
			try { store.settle(s, outcome); } catch (e) { o.log(`settle ${s.obj.id}: ${e.message}`); }
		}, o.autoSettleMs);
		timers.add(t);
	} : null;
	const ctx = { o, events, store, settleLater, api: null };
	const server = createServer((req, res) => serve(ctx, req, res).catch((e) => {
		o.log(`${req.method} ${req.url}: ${e.stack}`);
		if (!res.headersSent) send(res, 500, { error: { type: 'api_error', message: 'fake Stripe: internal error' } });
		else res.destroy();
	}));
	await new Promise((res, rej) => { server.once('error', rej); server.listen(o.port, o.host, res); });
	const port = server.address().port;
	o.publicUrl ??= `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
	ctx.api = new Api(store, o);
	return { server, port, url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`, o, store,
		events, checkout: (s, action, card) => checkout(store, s, action, card, settleLater),
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

// Send obj as Stripe does: pretty JSON.
function send(res, status, obj, headers = {}) {
	res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, no-store', ...headers });
	res.end(JSON.stringify(obj, null, 2) + '\n');
}

// One request, to the API, the page or the controls.
async function serve(ctx, req, res) {
	const u = new URL(req.url, 'http://fake');
	const raw = await body(req);
	if (raw === null) return send(res, 413, { error: { type: 'invalid_request_error', message: 'Request body too large' } });
	if (u.pathname.startsWith('/v1/')) return serveApi(ctx, req, res, u, raw);
	const pay = /^\/c\/pay\/([^/]+)$/.exec(u.pathname);
	if (pay) return servePage(ctx, req, res, decodeURIComponent(pay[1]), raw);
	if (u.pathname.startsWith('/_fake/')) {
		if (!loopback(req.socket.remoteAddress))
			return send(res, 403, { error: { type: 'invalid_request_error', message: 'the /_fake controls answer loopback only' } });
		return serveControl(ctx, req, res, u, raw);
	}
	send(res, 404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${u.pathname}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.` } });
}

const loopback = (a) => a === '127.0.0.1' || a === '::1' || a?.startsWith('::ffff:127.') || a?.startsWith('127.');

function serveApi(ctx, req, res, u, raw) {
	let params, query;
	try { params = parseForm(raw); } catch (e) { if (!(e instanceof ApiError)) throw e; params = e; }
	try { query = parseForm(u.search.slice(1)); } catch (e) { if (!(e instanceof ApiError)) throw e; params = e; }
	const r = ctx.api.handle({ method: req.method, path: u.pathname, query, params, raw, headers: req.headers });
	ctx.o.log(`${req.method} ${u.pathname} ${r.status} ${r.headers['Request-Id']}${r.headers['Idempotent-Replayed'] ? ' (replayed)' : ''}`);
	send(res, r.status, r.body, r.headers);
}

// GET shows the page; POST acts on a button and redirects (303) or shows
// the page again with a message.
function servePage(ctx, req, res, id, raw) {
	const s = ctx.store.session(id);
	const html = (r) => {
		res.writeHead(r.status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
		res.end(r.html);
	};
	const demo = !!ctx.settleLater;
	if (req.method === 'GET' || req.method === 'HEAD' || !s || s.obj.status !== 'open') {
		const r = page(s, { demo });
		if (req.method === 'POST' && s) r.status = 409;
		return html(r);
	}
	if (req.method !== 'POST') return send(res, 405, { error: { type: 'invalid_request_error', message: 'GET or POST' } });
	const f = new URLSearchParams(raw);
	const r = checkout(ctx.store, s, f.get('action'), f.get('card'), ctx.settleLater);
	if (!r) return html({ ...page(s, { demo, message: 'Choose one of the buttons.' }), status: 400 });
	ctx.o.log(`checkout ${id}: ${r.outcome}`);
	if (!r.redirect) return html(page(s, { demo, message: r.outcome === 'declined' ? DECLINED : 'No page to return to.' }));
	res.writeHead(303, { Location: r.redirect, 'Cache-Control': 'no-store' });
	res.end();
}

// The test controls; each answers JSON.
async function serveControl(ctx, req, res, u, raw) {
	let b = {};
	try { if (raw) b = JSON.parse(raw); } catch { return send(res, 400, { error: { message: 'body is not JSON' } }); }
	const p = u.pathname.slice('/_fake'.length);
	let m;
	const post = req.method === 'POST';
	try {
		if (req.method === 'GET' && p === '/events') {
			const type = u.searchParams.get('type');
			return send(res, 200, ctx.events.list.filter((r) => !type || r.event.type === type).map(view));
		}
		if (post && (m = /^\/events\/([^/]+)\/redeliver$/.exec(p))) {
			const rec = ctx.events.redeliver(m[1]);
			if (!rec) throw noSuch('event', m[1], 'id', 404);
			return send(res, 200, view(rec));
		}
		if (post && p === '/delivery') {
			if (typeof b.enabled !== 'boolean') throw invalid('enabled must be true or false', 'enabled');
			ctx.events.enabled = b.enabled;
			return send(res, 200, { enabled: b.enabled });
		}
		if (post && p === '/webhook') {
			if (b.url !== null && !/^https?:\/\//.test(b.url ?? '')) throw invalid('url must be an http(s) URL or null', 'url');
			ctx.o.webhookUrl = b.url;
			return send(res, 200, { url: b.url });
		}
		if (post && (m = /^\/checkout\/sessions\/([^/]+)\/(pay|settle)$/.exec(p))) {
			const s = ctx.store.session(m[1]);
			if (!s) throw noSuch('checkout.session', m[1], 'id', 404);
			if (m[2] === 'settle') {
				ctx.store.settle(s, b.outcome);
				return send(res, 200, s.obj);
			}
			if (s.obj.status !== 'open') throw invalid(`Checkout Session ${s.obj.id} is ${s.obj.status}, not open`, 'id');
			const r = checkout(ctx.store, s, b.action ?? 'pay', b.card, ctx.settleLater);
			if (!r) throw invalid('action must be pay, bank, bank_fail, decline or cancel', 'action');
			return send(res, 200, { ...r, session: s.obj });
		}
		if (post && p === '/disputes') return send(res, 200, ctx.store.dispute(b));
		if (post && (m = /^\/disputes\/([^/]+)\/close$/.exec(p)))
			return send(res, 200, ctx.store.closeDispute(m[1], b.outcome));
		throw new ApiError(404, { message: `no control ${req.method} /_fake${p}` });
	} catch (e) {
		if (!(e instanceof ApiError)) throw e;
		send(res, e.status, { error: e.error });
	}
}
