// admission.test.mjs: admission by lease, settlement in batches and the
// change feed, as a consumer and an operator see them: exactly what the
// balance covers is served, a revoked key and a suspended node stop within a
// second, prices are those of admission time, and a relay killed mid-batch
// loses no money and bills nothing twice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, waitFor, bin } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';
import { startMock } from '../lib/mock.mjs';

const PW = 'correct horse battery';
const GRANT = 503;		// micro-USD: 50 requests of 10 and 3 left over
let s, m, sup;

// A user with an API key; resolves to { c, key, csrf, keyId }.
async function userWithKey(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
	const csrf = await c.csrf();
	const res = await c.post('/v1/keys', { json: { name: tag }, headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 201, res.text_);
	const k = JSON.parse(res.text_);
	return { c, key: k.key, keyId: k.id, csrf };
}

// An endpoint node in front of the mock serving model at the given prices: by
// default 10 output tokens cost 10 micro-USD, worst case and bill alike.
async function addNode(model, { price_in = 1, price_out = 999000, concurrency = 256, name } = {}) {
	const res = await sup.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sup.csrf }, json: {
		name: name ?? `n-${model.replace(/\W/g, '-')}`, supply_type: 'cloud', connection: 'endpoint',
		max_concurrency: concurrency, context_length: 8192, base_url: m.base, api_token: '',
		models: [{ model, upstream_model: 'mock', price_in, price_out }] } });
	assert.equal(res.status, 201, res.text_);
	return JSON.parse(res.text_);
}

function chat(key, model, extra = {}) {
	return fetch(`${s.url}/v1/chat/completions`, { method: 'POST',
		headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
		body: JSON.stringify({ model, max_tokens: 10, messages: [{ role: 'user', content: 'x' }], ...extra }) });
}

async function balances(c) {
	return JSON.parse((await c.get('/v1/me')).text_).balances;
}

// Nothing held: every lease closed and every request settled.
async function settled(c, ms = 15000) {
	return waitFor(async () => {
		const b = await balances(c).catch(() => null);	// the app may be restarting
		return b?.held.micro_usd === 0 && b;
	}, ms, 'nothing held');
}

before(async () => {
	s = await startStack({ conf: `[gateway]\nramp_start_pct = 100\n[credits]\nsignup_grant = ${GRANT}\n`
		+ '[auth]\nsignup_per_ip = 1000\n' + '[gateway]\nrequests_per_minute = 0\n' });
	m = await startMock();
	sup = await userWithKey('sup');
});
after(async () => {
	await m?.stop();
	if (s) await s.stop();
});

test('200 concurrent requests on a balance that covers 50: 50 served and billed, 150 refused with 402', async () => {
	const model = 'adm/exact';
	await addNode(model);
	const con = await userWithKey('exact');
	const answers = await Promise.all(Array.from({ length: 200 }, () => chat(con.key, model)));
	const statuses = answers.map((r) => r.status);
	for (const r of answers) await r.text();
	assert.equal(statuses.filter((x) => x === 200).length, 50, JSON.stringify(statuses));
	assert.equal(statuses.filter((x) => x === 402).length, 150);
	const b = await settled(con.c);
	assert.equal(b.spendable.micro_usd, GRANT - 50 * 10, 'the exact remainder');
	assert.equal(await s.sql(`SELECT count(*) || ' ' || sum(cost) FROM requests r JOIN api_keys k`
		+ ` ON k.id = r.api_key_id WHERE k.id = ${con.keyId} AND r.status = 'ok'`), '50 500');
});

test('200 concurrent requests that the balance covers are all served, across as many leases as they need', async () => {
	// 1 micro-USD a request, so a lease asked for by one (room for 64)
	// cannot hold them all and the burst must renew, not 402.
	const model = 'adm/many';
	await addNode(model, { price_out: 99000 });
	const con = await userWithKey('many');
	const answers = await Promise.all(Array.from({ length: 200 }, () => chat(con.key, model)));
	const statuses = answers.map((r) => r.status);
	const bodies = await Promise.all(answers.map((r) => r.text()));
	assert.deepEqual([...new Set(statuses)], [200], JSON.stringify(statuses) + bodies.find((b, i) => statuses[i] !== 200));
	const b = await settled(con.c);
	assert.equal(b.spendable.micro_usd, GRANT - 200);
	assert.ok(Number(await s.sql(`SELECT count(*) FROM leases WHERE api_key_id = ${con.keyId}`)) > 1,
		'more than one lease');
});

test('bursts through lighttpd: every body reaches the relay whole', async () => {
	// lighttpd opens a connection to the relay for each request. Over a Unix
	// socket, bursts like these once reached the relay with one request's
	// head as another's body (docs/BENCHMARKS.md); over TCP they must not.
	// One output token at 99,000 a million rounds to a charge of 0, so the
	// bursts do not run into the balance.
	const model = 'adm/burst';
	await addNode(model, { price_out: 99000, concurrency: 1024 });
	const con = await userWithKey('burst');
	let bad = [];
	for (let round = 0; round < 6; round++) {
		const answers = await Promise.all(Array.from({ length: 250 }, () => chat(con.key, model, { max_tokens: 1 })));
		const bodies = await Promise.all(answers.map((r) => r.text()));
		bad = bad.concat(answers.map((r, i) => [r.status, bodies[i]]).filter(([st]) => st !== 200));
	}
	assert.deepEqual(bad.slice(0, 2), [], `${bad.length} of 1,500 not served`);
	await settled(con.c);
});

test('one request after another: the next lease is asked for before the current one runs out, twice as large for a busy key, and none is left held', async () => {
	const model = 'adm/seq';
	await addNode(model, { price_out: 99000 });	// 1 micro-USD each
	const con = await userWithKey('seq');
	const t0 = Date.now();
	let busy = 0;
	for (let i = 0; i < 150; i++) {
		const r = await chat(con.key, model);
		assert.equal(r.status, 200, await r.text());
		if (i === 48) busy = Date.now() - t0;	// three quarters of the first lease used
	}
	const b = await settled(con.c);
	assert.equal(b.spendable.micro_usd, GRANT - 150);
	// Room for 64 a lease, the next asked for when a quarter is left: as large,
	// or twice as large when three quarters went within two seconds.
	const sizes = (await s.sql(`SELECT string_agg(h.amount::text, ' ' ORDER BY l.id) FROM leases l
		JOIN holds h ON h.id = l.hold_id WHERE l.api_key_id = ${con.keyId}`)).split(' ').map(Number);
	assert.equal(sizes[0], 64, sizes.join(' '));
	for (let i = 1; i < sizes.length; i++)
		assert.ok(sizes[i] === sizes[i - 1] || sizes[i] === 2 * sizes[i - 1], sizes.join(' '));
	assert.ok(sizes.length >= 2 && sizes.length <= 4, sizes.join(' '));
	if (busy < 1500) assert.equal(sizes[1], 128, `the first lease's three quarters took ${busy} ms: ${sizes.join(' ')}`);
	assert.equal(await s.sql(`SELECT count(*) FROM holds h JOIN leases l ON l.hold_id = h.id`
		+ ` WHERE l.api_key_id = ${con.keyId} AND h.status = 'held'`), '0');
});

test('a revoked key is refused within a second', async () => {
	const model = 'adm/revoke';
	await addNode(model);
	const con = await userWithKey('revoke');
	assert.equal((await chat(con.key, model)).status, 200);
	const res = await con.c.request('DELETE', `/v1/keys/${con.keyId}`, { headers: { 'x-csrf-token': con.csrf } });
	assert.ok(res.status < 300, res.text_);
	const t0 = Date.now();
	await waitFor(async () => (await chat(con.key, model)).status === 401, 3000, 'a 401');
	assert.ok(Date.now() - t0 < 1000, `refused after ${Date.now() - t0} ms`);
	await settled(con.c);
});

test('a key that expires on its own is refused from its expiry, not at the end of its lease', async () => {
	const model = 'adm/expire';
	await addNode(model);
	const con = await userWithKey('expire');
	assert.equal((await chat(con.key, model)).status, 200);
	// Two seconds left: the change feed drops the relay's lease; then requests
	// every 100 ms keep the key's next lease busy (an idle one would be retired).
	await s.sql(`UPDATE api_keys SET expires_at = now() + interval '2 seconds' WHERE id = ${con.keyId}`);
	const t0 = Date.now(), seen = [];
	await new Promise((r) => setTimeout(r, 500));
	while (Date.now() - t0 < 2800) {
		const res = await chat(con.key, model);
		seen.push([Date.now() - t0, res.status]);
		await res.text();
		await new Promise((r) => setTimeout(r, 100));
	}
	const early = seen.filter(([t]) => t < 1500), late = seen.filter(([t]) => t > 2300);
	assert.ok(early.length > 0 && early.every(([, st]) => st === 200), JSON.stringify(seen));
	assert.ok(late.length > 0 && late.every(([, st]) => st === 401), JSON.stringify(seen));
	await settled(con.c);
});

test('a suspended node gets no new request within a second', async () => {
	const model = 'adm/suspend';
	const node = await addNode(model);
	const con = await userWithKey('suspend');
	assert.equal((await chat(con.key, model)).status, 200);
	await s.sql(`UPDATE nodes SET status = 'suspended' WHERE id = ${node.id}`);
	const t0 = Date.now();
	await waitFor(async () => (await chat(con.key, model)).status !== 200, 3000, 'no node');
	assert.ok(Date.now() - t0 < 1000, `still routed after ${Date.now() - t0} ms`);
	const seen = (await m.stats()).requests;
	await new Promise((r) => setTimeout(r, 300));
	assert.notEqual((await chat(con.key, model)).status, 200);
	assert.equal((await m.stats()).requests, seen, 'the node was not called');
	await settled(con.c);
});

test('a request waiting for a slot on a node suspended meanwhile is not sent there', async () => {
	const model = 'adm/suspend-queued';
	const node = await addNode(model, { concurrency: 1 });
	const con = await userWithKey('squeued');
	await m.control({ first_token_ms: 1500 });
	try {
		const before_ = (await m.stats()).requests;
		const first = chat(con.key, model);
		await waitFor(async () => (await m.stats()).requests > before_, 5000, 'the first call');
		const second = chat(con.key, model);	// waits for the one slot
		await new Promise((r) => setTimeout(r, 200));
		await s.sql(`UPDATE nodes SET status = 'suspended' WHERE id = ${node.id}`);
		assert.equal((await first).status, 200);
		const r = await second;
		assert.equal(r.status, 503, await r.text());
		assert.equal((await m.stats()).requests, before_ + 1, 'the suspended node got nothing more');
	} finally {
		await m.control({ first_token_ms: 0 });
	}
	await settled(con.c);
});

test('a request is billed at the prices of its admission, not a price changed meanwhile', async () => {
	const model = 'adm/price';
	const node = await addNode(model, { price_out: 2000000 });
	const con = await userWithKey('price');
	await m.control({ first_token_ms: 1500 });
	const pending = chat(con.key, model);
	await waitFor(async () => (await m.stats()).active > 0, 5000, 'the call in flight');
	await s.sql(`UPDATE node_models SET price_out = 9000000 WHERE node_id = ${node.id}`);
	const r = await pending;
	assert.equal(r.status, 200, await r.text());
	await m.control({ first_token_ms: 0 });
	await settled(con.c);
	assert.equal(await s.sql(`SELECT cost FROM requests WHERE api_key_id = ${con.keyId}`), '20',
		'10 tokens at 2 USD per 1M, not 9');
});

test('a lease that went idle gives back all but what is in flight: a small balance is not locked by one long call', async () => {
	const model = 'adm/idle';
	await addNode(model);
	const con = await userWithKey('idle');
	await m.control({ first_token_ms: 3000 });
	try {
		// The lease holds all 503; the call reserves 10 of it for 3 s.
		const long = chat(con.key, model);
		await waitFor(async () => (await m.stats()).active > 0, 5000, 'the long call');
		// Idle for lease_idle_ms (1 s): the relay gives back the 493 not in
		// flight, so a new lease can hold them.
		await waitFor(async () => (await balances(con.c)).held.micro_usd === 10, 5000, 'the idle lease trimmed');
		const next = await chat(con.key, model);
		assert.equal(next.status, 200, await next.text());
		assert.equal((await long).status, 200);
	} finally {
		await m.control({ first_token_ms: 0 });
	}
	assert.equal((await settled(con.c)).spendable.micro_usd, GRANT - 20);
});

test('a relay killed before its batch went out loses no money and bills nothing twice; stopped, it settles first', async () => {
	// A stack whose relay holds settlements 3 s, so the kill comes first.
	const k = await startStack({ conf: `[gateway]\nramp_start_pct = 100\n[credits]\nsignup_grant = ${GRANT}\n`
		+ '[relay]\nsettle_interval_ms = 3000\n' });
	try {
		const [s0, sup0] = [s, sup];
		s = k;
		sup = await userWithKey('ksup');
		const model = 'adm/kill';
		await addNode(model);
		const con = await userWithKey('kill');
		const served = await Promise.all(Array.from({ length: 5 }, () => chat(con.key, model)));
		for (const r of served) assert.equal(r.status, 200);
		const pid = Number(readFileSync(join(k.dir, 'relay.pid'), 'utf8'));
		process.kill(pid, 'SIGKILL');
		await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } }, 5000,
			'the relay gone');
		// Its lease holds the consumer's money until it expires and the
		// reaper voids it; here it expires now.
		assert.ok((await balances(con.c)).held.micro_usd > 0, 'the dead relay\'s lease is held');
		await k.sql(`UPDATE holds SET expires_at = now() WHERE status = 'held'`);
		await k.ctl('holds', 'reap');
		const b = await balances(con.c);
		assert.equal(b.held.micro_usd, 0, 'nothing held after the reaper');
		assert.equal(b.spendable.micro_usd, GRANT, 'the unsettled requests cost nothing: no money moved');
		assert.equal(await k.sql(`SELECT count(*) FROM requests WHERE api_key_id = ${con.keyId}`), '0');
		// A new relay, as the process manager would start it, serves and bills once.
		const log = openSync(join(k.dir, 'relay.log'), 'a');
		spawn(bin('infrpool-relay'), ['-c', k.env.INFRPOOL_CONFIG, '--pidfile', join(k.dir, 'relay.pid')],
			{ detached: true, stdio: ['ignore', log, log] }).unref();
		await waitFor(async () => (await chat(con.key, model)).status === 200, 10000, 'the new relay');
		// Stopped with SIGTERM, it settles what it served before it exits,
		// instead of waiting out its 3 s batch interval.
		const pid2 = Number(readFileSync(join(k.dir, 'relay.pid'), 'utf8'));
		const t0 = Date.now();
		process.kill(pid2, 'SIGTERM');
		await waitFor(() => { try { process.kill(pid2, 0); return false; } catch { return true; } }, 6000,
			'the relay to stop');
		assert.equal(await k.sql(`SELECT count(*) || ' ' || sum(cost) FROM requests WHERE api_key_id = ${con.keyId}`),
			'1 10', `settled before it stopped (${Date.now() - t0} ms)`);
		assert.equal((await balances(con.c)).held.micro_usd, 0, 'and its lease closed');
		s = s0;
		sup = sup0;
	} finally {
		await k.stop();
	}
});

// The pids of the app processes lighttpd spawned for stack st.
function appPids(st) {
	const pids = [];
	for (const d of readdirSync('/proc')) {
		if (!/^\d+$/.test(d)) continue;
		try {
			const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
			const env = readFileSync(`/proc/${d}/environ`, 'utf8');
			if (cmd.includes('infrpool-app') && (cmd + env).includes(st.env.INFRPOOL_CONFIG)) pids.push(Number(d));
		} catch { /* gone */ }
	}
	return pids;
}

test('PostgreSQL down, then the app killed, while batches wait: served requests settle once when they are back', async () => {
	const k = await startStack({ conf: `[gateway]\nramp_start_pct = 100\n[credits]\nsignup_grant = ${GRANT}\n`
		+ '[relay]\nsettle_interval_ms = 1000\n' });
	const [s0, sup0] = [s, sup];
	try {
		s = k;
		sup = await userWithKey('rsup');
		const model = 'adm/restart';
		await addNode(model);
		const con = await userWithKey('restart');
		assert.equal((await chat(con.key, model)).status, 200);
		// The database goes away: the lease and the candidates are in the
		// relay, so requests are still served; their batch fails and waits.
		await k.pg('stop');
		try {
			const during = await Promise.all([1, 2, 3].map(() => chat(con.key, model)));
			for (const r of during) assert.equal(r.status, 200, await r.text());
			await new Promise((r) => setTimeout(r, 2000));
		} finally {
			await k.pg('start');
		}
		let b = await settled(con.c, 40000);
		assert.equal(b.spendable.micro_usd, GRANT - 4 * 10);
		// The app killed while a batch waits: the batch is sent again until
		// lighttpd has started the app anew.
		const pending = chat(con.key, model);
		assert.equal((await pending).status, 200);
		const pids = appPids(k);
		assert.ok(pids.length > 0, 'the app processes');
		for (const pid of pids) process.kill(pid, 'SIGKILL');
		b = await settled(con.c, 40000);
		assert.equal(b.spendable.micro_usd, GRANT - 5 * 10);
		assert.equal(await k.sql(`SELECT count(*) || ' ' || count(DISTINCT task_id) || ' ' || sum(cost)`
			+ ` FROM requests WHERE api_key_id = ${con.keyId}`), '5 5 50', 'each request once');
	} finally {
		s = s0;
		sup = sup0;
		await k.stop();
	}
});

test('a batch in flight is posted once: its timer does not fire while the app is still at work on it', async () => {
	// Two requests make a batch; the app is held up by a lock on the consumer's
	// account for longer than the batch interval.
	const k = await startStack({ conf: `[gateway]\nramp_start_pct = 100\n[credits]\nsignup_grant = ${GRANT}\n`
		+ '[relay]\nsettle_batch = 2\nsettle_interval_ms = 300\n' });
	const [s0, sup0] = [s, sup];
	let psql;
	try {
		s = k;
		sup = await userWithKey('bsup');
		const model = 'adm/once';
		await addNode(model);
		const con = await userWithKey('once');
		assert.equal((await chat(con.key, model)).status, 200);	// the lease
		await waitFor(async () => Number(await k.sql(`SELECT count(*) FROM requests WHERE api_key_id = ${con.keyId}`)) === 1,
			5000, 'the first request settled');
		psql = spawn('psql', ['-X', '-q', '-d', k.env.INFRPOOL_DATABASE_URL], { stdio: ['pipe', 'pipe', 'inherit'] });
		let out = '';
		psql.stdout.on('data', (d) => { out += d; });
		psql.stdin.write(`BEGIN; SELECT id AS locked FROM ledger_accounts WHERE user_id =
			(SELECT user_id FROM api_keys WHERE id = ${con.keyId}) FOR UPDATE;\n`);
		await waitFor(() => /locked/.test(out), 5000, 'the accounts locked');
		const first = await chat(con.key, model);	// waits: the interval's timer is armed
		const second = await chat(con.key, model);	// makes two: the batch goes now
		assert.deepEqual([first.status, second.status], [200, 200]);
		await new Promise((r) => setTimeout(r, 1000));	// past the interval, the batch still in the app
		psql.stdin.end('COMMIT;\n');
		await new Promise((r) => psql.on('exit', r));
		psql = null;
		await waitFor(async () => Number(await k.sql(`SELECT count(*) FROM requests WHERE api_key_id = ${con.keyId}`)) === 3,
			10000, 'the batch settled');
		await waitFor(async () => (await balances(con.c)).held.micro_usd === 0, 10000, 'nothing held');
		const posts = readFileSync(join(k.dir, 'app.log'), 'utf8').match(/settled a batch of 2 requests/g) ?? [];
		assert.equal(posts.length, 1, 'the batch was posted once');
	} finally {
		psql?.kill();
		s = s0;
		sup = sup0;
		await k.stop();
	}
});
