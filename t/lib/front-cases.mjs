// front-cases.mjs: the checks every supported web server must pass, run
// once behind lighttpd and once behind Apache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { slowBuild, startStack, srcdir } from './stack.mjs';

const BIG = 1536 * 1024;	// over [app] max_body (1m), under the server's 2m

export function assertSecurityHeaders(res, what) {
	const csp = res.headers.get('content-security-policy') ?? '';
	for (const d of ["object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"])
		assert.ok(csp.includes(d), `${what}: CSP lacks ${d}: ${csp}`);
	assert.equal(res.headers.get('x-content-type-options'), 'nosniff', what);
	assert.ok(res.headers.get('referrer-policy'), `${what}: no Referrer-Policy`);
}

export function assertApiError(body, code) {
	assert.equal(typeof body.error, 'object');
	assert.equal(typeof body.error.message, 'string');
	assert.ok(body.error.message.length > 0);
	assert.equal(typeof body.error.type, 'string');
	assert.ok('param' in body.error);
	assert.equal(body.error.code, code);
}

export function defineFrontTests(front) {
	let s;
	before(async () => { s = await startStack({ front }); });
	after(async () => { if (s) await s.stop(); });

	test(`${front}: /healthz reports the database, schema and build`, async () => {
		const res = await fetch(`${s.url}/healthz`);
		assert.equal(res.status, 200);
		assert.match(res.headers.get('content-type'), /^application\/json/);
		const body = await res.json();
		const versions = readdirSync(join(srcdir, 'sql')).map((f) => parseInt(f, 10));
		assert.equal(body.database, 'reachable');
		assert.equal(body.schema_version, Math.max(...versions));
		assert.match(body.version, /^\d+\.\d+\.\d+/);
		assertSecurityHeaders(res, '/healthz');
		assert.match(res.headers.get('x-request-id'), /^[0-9a-f]{16}$/);
	});

	test(`${front}: the landing page is a real page from templates`, async () => {
		const res = await fetch(`${s.url}/`);
		assert.equal(res.status, 200);
		assert.match(res.headers.get('content-type'), /^text\/html/);
		const html = await res.text();
		assert.match(html, /^<!DOCTYPE html>/);
		assert.match(html, /<title>[^<]+ · infrpool<\/title>/);
		assert.match(html, /OpenAI-compatible/);
		assert.match(html, /<\/html>\s*$/);
		assertSecurityHeaders(res, '/');
		const head = await fetch(`${s.url}/`, { method: 'HEAD' });
		assert.equal(head.status, 200);
		assert.equal(await head.text(), '');
	});

	test(`${front}: an unknown route is a 404 page outside /v1/`, async () => {
		const res = await fetch(`${s.url}/no/such/page`);
		assert.equal(res.status, 404);
		assert.match(res.headers.get('content-type'), /^text\/html/);
		const html = await res.text();
		assert.match(html, /<title>Not Found · infrpool<\/title>/);
		assert.match(html, /404/);
		assertSecurityHeaders(res, '404 page');
	});

	test(`${front}: an unknown route under /v1/ is a 404 in OpenAI's shape`, async () => {
		const res = await fetch(`${s.url}/v1/no/such/thing`);
		assert.equal(res.status, 404);
		assert.match(res.headers.get('content-type'), /^application\/json/);
		assertApiError(await res.json(), 'not_found');
		assertSecurityHeaders(res, '/v1/ 404');
	});

	test(`${front}: an over-limit body gets 413, as JSON under /v1/ and as a page elsewhere`, async () => {
		const body = Buffer.alloc(BIG, 0x61);
		let res = await fetch(`${s.url}/v1/anything`, { method: 'POST', body,
			headers: { 'content-type': 'application/json' } });
		assert.equal(res.status, 413);
		assertApiError(await res.json(), 'request_too_large');
		res = await fetch(`${s.url}/some/form`, { method: 'POST', body });
		assert.equal(res.status, 413);
		assert.match(await res.text(), /Payload Too Large/);
		res = await fetch(`${s.url}/healthz`);
		assert.equal(res.status, 200, 'the app still answers afterwards');
	});

	test(`${front}: a bad escape in the query is a 400 in the API's shape`, async () => {
		const res = await fetch(`${s.url}/v1/models?q=%zz`);
		assert.equal(res.status, 400);
		assertApiError(await res.json(), 'invalid_request');
	});

	test(`${front}: a known path with the wrong method is a 405 naming the allowed one`, async () => {
		const res = await fetch(`${s.url}/healthz`, { method: 'POST', body: '{}' });
		assert.equal(res.status, 405);
		assert.equal(res.headers.get('allow'), 'GET, HEAD');
	});

	test(`${front}: /internal/ is not reachable on the public port`, async () => {
		const secret = s.env.INFRPOOL_INTERNAL_SECRET;
		for (const headers of [{}, { 'X-Infrpool-Secret': secret }]) {
			const res = await fetch(`${s.url}/internal/ping`, { headers });
			assert.ok(res.status === 403 || res.status === 404, `got ${res.status}`);
			assert.doesNotMatch(await res.text(), /"status":"ok"/);
		}
	});

	test(`${front}: the internal listener serves /internal/ with the secret, and nothing else`, async () => {
		const secret = s.env.INFRPOOL_INTERNAL_SECRET;
		let res = await fetch(`${s.internalUrl}/internal/ping`, { headers: { 'X-Infrpool-Secret': secret } });
		assert.equal(res.status, 200);
		assert.deepEqual(await res.json(), { status: 'ok' });
		res = await fetch(`${s.internalUrl}/internal/ping`);
		assert.equal(res.status, 403);
		res = await fetch(`${s.internalUrl}/internal/ping`, { headers: { 'X-Infrpool-Secret': secret + 'x' } });
		assert.equal(res.status, 403);
		for (const path of ['/healthz', '/', '/v1/chat/completions']) {
			res = await fetch(`${s.internalUrl}${path}`);
			assert.ok(res.status === 403 || res.status === 404, `${path}: got ${res.status}`);
		}
	});

	test(`${front}: static files are served with nosniff`, async () => {
		const res = await fetch(`${s.url}/static/infrpool.css`);
		assert.equal(res.status, 200);
		assert.match(res.headers.get('content-type'), /^text\/css/);
		assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
		assert.match(await res.text(), /infrpool\.css/);
	});

	test(`${front}: inference paths go to the relay, not the app`, async () => {
		for (const path of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/worker/poll']) {
			const res = await fetch(`${s.url}${path}`, { method: 'POST', body: '{}',
				headers: { 'content-type': 'application/json' } });
			// The app stamps every response with X-Request-Id; the relay does not.
			assert.equal(res.headers.get('x-request-id'), null, path);
			assert.match(res.headers.get('content-type'), /^application\/json/, path);
			assert.equal(typeof (await res.json()).error, 'object', path);
		}
		const res = await fetch(`${s.url}/v1/models`);
		assert.notEqual(res.headers.get('x-request-id'), null, '/v1/models is the app\'s');
	});
}

// A stack is up only when every part of it answers: on a cold machine the
// relay and the app may take seconds to start, and a test that runs at once
// must still find them. Each program here starts seconds late on purpose.
export function defineStartupTests(front) {
	test(`${front}: a stack whose relay and app start slowly is up only when both answer`, async () => {
		const s = await startStack({ front,
			builddir: slowBuild({ 'infrpool-relay': 2500, 'infrpool-app': 1500 }) });
		try {
			let res = await fetch(`${s.url}/healthz`);
			assert.equal(res.status, 200);
			res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', body: '{}',
				headers: { 'content-type': 'application/json' } });
			assert.match(res.headers.get('content-type') ?? '', /^application\/json/,
				`the relay answers at once (got ${res.status})`);
			assert.equal(res.headers.get('x-request-id'), null, 'the relay, not the app');
			assert.equal(typeof (await res.json()).error, 'object');
			res = await fetch(`${s.internalUrl}/internal/ping`,
				{ headers: { 'X-Infrpool-Secret': s.env.INFRPOOL_INTERNAL_SECRET } });
			assert.equal(res.status, 200, 'the internal listener reaches this stack\'s app');
			if (front === 'apache') {
				// Apache was started only once the app listened: it never
				// had a connection refused by a backend that was not there yet.
				const log = readFileSync(`${s.dir}/apache-error.log`, 'utf8');
				assert.doesNotMatch(log, /AH00957|AH01079|AH01114/, log);
			}
		} finally {
			await s.stop();
		}
	});
}
