// retention.test.mjs: the retention jobs with the injected clock (--now),
// against real PostgreSQL and the real stack: the IP key rotates at 90 days
// and a retired key is deleted once no hash names it (not before); hashed
// IP addresses older than 90 days are nulled, younger ones kept; every
// program writes its daily log file and logs-prune deletes the files older
// than 90 days.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, scratch, waitFor, bin, runProgram } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';

const PW = 'correct horse battery';
const DAY = 24 * 3600e3;
const CLIENT_IP = '203.0.113.41';
const logdir = scratch('logs');
let s;

before(async () => {
	s = await startStack({ conf: `[auth]\nsignup_per_ip = 1000\nlogin_per_ip = 1000\n`
		+ `[log]\nfile = ${logdir}/%p-%Y-%m-%d.log\n` });
});
after(async () => { if (s) await s.stop(); });

// A UTC time as --now takes it, ms after the epoch.
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const day = (ms) => new Date(ms).toISOString().slice(0, 10);
// infrpoolctl with the stack's configuration (env: more variables).
const ctl = (args, env = {}) => runProgram(bin('infrpoolctl'), ['-c', s.env.INFRPOOL_CONFIG, ...args],
	{ env: { ...process.env, ...env } });
// infrpoolctl tick --now T JOB…; the run's counts of each job, in order.
async function tick(now, ...jobs) {
	const r = await ctl(['tick', '--now', iso(now), ...jobs]);
	assert.equal(r.code, 0, r.stdout + r.stderr);
	assert.equal(r.stdout, jobs.map((j) => `${j}: ok\n`).join(''), 'each job ran, in its slot');
	return Promise.all(jobs.map(async (j) => JSON.parse(await s.sql(`SELECT counts FROM job_runs
		WHERE job = '${j}' ORDER BY id DESC LIMIT 1`))));
}
// The IP keys: [{ id, created (ms), retired (ms or null) }], oldest first.
async function ipKeys() {
	return JSON.parse(await s.sql(`SELECT coalesce(json_agg(json_build_object('id', id,
		'created', extract(epoch FROM created_at) * 1000, 'retired', extract(epoch FROM retired_at) * 1000)
		ORDER BY id), '[]') FROM ip_keys`));
}

// A signed-up user with an API key and its id.
async function user(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
	const csrf = await c.csrf();
	const res = await c.post('/v1/keys', { json: { name: tag }, headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 201, res.text_);
	return { c, key: JSON.parse(res.text_).key, id: JSON.parse((await c.get('/v1/me')).text_).id };
}

// POST to the internal API as the relay does; resolves to the JSON answer.
async function internal(path, body) {
	const res = await fetch(`${s.internalUrl}/internal/${path}`, {
		method: 'POST', headers: { 'X-Infrpool-Secret': s.env.INFRPOOL_INTERNAL_SECRET, 'content-type': 'application/json' },
		body: JSON.stringify(body),
	});
	const text = await res.text();
	assert.equal(res.status, 200, text);
	return JSON.parse(text);
}

// One request of u, settled as the relay reports it (unserved: no node, no money), with the client's address.
let seq = 0;
async function request(u) {
	const l = await internal('lease', { key: u.key, client_ip: CLIENT_IP, want: 1000 });
	const id = `t_${String(process.pid).padStart(8, '0')}${String(++seq).padStart(8, '0')}ReTeNtIo`;
	await internal('settle', { close: [l.lease_id], requests: [{ request_id: id, lease_id: l.lease_id,
		model: 'org/none', endpoint: 'chat', stream: false, prompt_tokens: 10, max_tokens: 10, reserved: 0,
		node_id: null, status: 'unserved', tokens_in: null, tokens_out: null, counted_in: 0, counted_out: 0,
		ttft_ms: null, duration_ms: 5, outcome: 'neutral', client_ip: CLIENT_IP }] });
	return id;
}

// Runs first: no app process has hashed anything yet, so none holds a key in its cache.
test('the IP key rotates at 90 days by the clock; new hashes name the new key; a retired key goes once nothing names it', async () => {
	let r = await ctl(['ipkey', 'new']);
	assert.equal(r.code, 0, r.stderr);
	let keys = await ipKeys();
	const k1 = keys.at(-1);
	assert.equal(k1.retired, null);
	// 89 days on: not due.
	let [c] = await tick(k1.created + 89 * DAY, 'ip-key-rotate');
	assert.deepEqual(c, { rotated: false, current: null, deleted: 0 });
	assert.equal((await ipKeys()).at(-1).id, k1.id);
	// 90 days on: a new key dated by the job's clock, every other retired then.
	const T = Math.floor((k1.created + 90 * DAY + 60e3) / 1000) * 1000;
	[c] = await tick(T, 'ip-key-rotate');
	keys = await ipKeys();
	const k2 = keys.at(-1);
	assert.deepEqual(c, { rotated: true, current: k2.id, deleted: 0 });
	assert.ok(k2.id > k1.id);
	assert.deepEqual(keys.map((k) => [k.id, k.retired]), [...keys.slice(0, -1).map((k) => [k.id, T]), [k2.id, null]]);
	assert.equal(k2.created, T);
	r = await ctl(['ipkey', 'list']);
	assert.match(r.stdout, new RegExp(`^ +${k2.id}  created ${iso(T)}  current$`, 'm'));
	assert.match(r.stdout, new RegExp(`^ +${k1.id}  created \\S+  retired ${iso(T)}$`, 'm'));
	// New hashes are made under the new key.
	const u = await user('rotated');
	assert.match(await s.sql(`SELECT signup_ip_hash FROM users WHERE id = ${u.id}`), new RegExp(`^k${k2.id}:[0-9a-f]{64}$`));
	assert.match(await s.sql(`SELECT string_agg(DISTINCT ip_hash, ',') FROM sessions WHERE user_id = ${u.id}`),
		new RegExp(`^k${k2.id}:[0-9a-f]{64}$`));
	// Hashes the old key made before it was retired: a sign-up and a rate-limit bucket.
	await s.sql(`UPDATE users SET signup_ip_hash = 'k${k1.id}:${'ab'.repeat(32)}', created_at = '${iso(T - 10 * DAY)}'
		WHERE id = ${u.id}`);
	await s.sql(`INSERT INTO rate_limits VALUES ('login:ip:k${k1.id}:${'cd'.repeat(32)}', '${iso(T - 5 * DAY)}', 1)`);
	// Two days on: not due again, and the old key stays while hashes name it.
	[c] = await tick(T + 2 * DAY, 'ip-key-rotate');
	assert.deepEqual(c, { rotated: false, current: null, deleted: 0 });
	assert.ok((await ipKeys()).some((k) => k.id === k1.id));
	// 81 days on: the sign-up's hash is 91 days old and goes; the bucket (86 days) still names the key.
	let p;
	[p, c] = await tick(T + 81 * DAY, 'ip-hashes-prune', 'ip-key-rotate');
	assert.ok(p.users >= 1, JSON.stringify(p));
	assert.equal(await s.sql(`SELECT signup_ip_hash IS NULL FROM users WHERE id = ${u.id}`), 't');
	assert.deepEqual(c, { rotated: false, current: null, deleted: 0 });
	assert.ok((await ipKeys()).some((k) => k.id === k1.id), 'not before nothing names it');
	// 86 days on: the bucket is 91 days old and goes, and with it the key.
	[p, c] = await tick(T + 86 * DAY, 'ip-hashes-prune', 'ip-key-rotate');
	assert.equal(await s.sql(`SELECT count(*) FROM rate_limits WHERE bucket LIKE '%:k${k1.id}:%'`), '0');
	assert.equal(c.rotated, false);
	assert.ok(c.deleted >= 1);
	keys = await ipKeys();
	assert.deepEqual(keys.map((k) => k.id), [k2.id], 'only the current key is left');
	// 90 days after the rotation the next one is due; the key it retires is kept a day at least.
	const T2 = T + 90 * DAY + 3600e3;
	[c] = await tick(T2, 'ip-key-rotate');
	keys = await ipKeys();
	assert.deepEqual(c, { rotated: true, current: keys.at(-1).id, deleted: 0 });
	assert.deepEqual(keys.map((k) => [k.id, k.retired]), [[k2.id, T2], [keys.at(-1).id, null]]);
	[c] = await tick(T2 + 2 * DAY, 'ip-key-rotate');
	assert.deepEqual(c, { rotated: false, current: null, deleted: 1 }, 'nothing named it: the hashes were pruned');
});

test('hashed IP addresses older than 90 days are nulled, younger ones kept; the rows stay', async () => {
	const old = await user('old-ip'), young = await user('young-ip');
	const task = { old: await request(old), young: await request(young) };
	const P = Math.floor((Date.now() + 400 * DAY) / 1000) * 1000;
	const age = { old: P - 91 * DAY, young: P - 89 * DAY };
	for (const [who, u] of [['old', old], ['young', young]]) {
		const at = iso(age[who]);
		assert.match(await s.sql(`SELECT client_ip_hash FROM requests WHERE task_id = '${task[who]}'`), /^k\d+:[0-9a-f]{64}$/);
		await s.sql(`UPDATE users SET created_at = '${at}' WHERE id = ${u.id};
			UPDATE sessions SET created_at = '${at}' WHERE user_id = ${u.id};
			UPDATE requests SET created_at = '${at}' WHERE task_id = '${task[who]}';
			INSERT INTO rate_limits VALUES ('login:ip:k1:${who}', '${at}', 1)`);
	}
	const [c] = await tick(P, 'ip-hashes-prune');
	assert.ok(c.users >= 1 && c.sessions >= 1 && c.requests >= 1 && c.rate_limits >= 1, JSON.stringify(c));
	const hashes = async (u, t) => s.sql(`SELECT concat_ws(',', (SELECT signup_ip_hash IS NOT NULL FROM users WHERE id = ${u.id}),
		(SELECT bool_and(ip_hash IS NOT NULL) FROM sessions WHERE user_id = ${u.id}),
		(SELECT client_ip_hash IS NOT NULL FROM requests WHERE task_id = '${t}'))`);
	assert.equal(await hashes(old, task.old), 'f,f,f', '91 days: gone');
	assert.equal(await hashes(young, task.young), 't,t,t', '89 days: kept');
	assert.equal(await s.sql(`SELECT string_agg(bucket, ',' ORDER BY bucket) FROM rate_limits WHERE bucket LIKE 'login:ip:k1:%'`),
		'login:ip:k1:young');
	// The rows themselves stay: only the hashes go.
	assert.equal(await s.sql(`SELECT count(*) FROM requests WHERE task_id = '${task.old}' AND status = 'unserved'`), '1');
	assert.equal(await s.sql(`SELECT count(*) FROM users WHERE id = ${old.id}`), '1');
});

test('each program writes its daily log file; logs-prune deletes the files older than 90 days', async () => {
	// The app and the relay write today's files of the [log] file pattern.
	const today = day(Date.now());
	await waitFor(() => existsSync(join(logdir, `infrpool-app-${today}.log`)), 10000, "the app's file");
	assert.match(readFileSync(join(logdir, `infrpool-app-${today}.log`), 'utf8'),
		/^\S+Z info infrpool-app\[\d+\] req=\S+ signup user=\d+$/m);
	assert.ok(readdirSync(logdir).includes(`infrpool-relay-${today}.log`), readdirSync(logdir).join(' '));
	// Files of earlier days, and files that are not daily logs.
	const L = Date.now() + 10 * DAY;
	const dated = (prog, days) => `${prog}-${day(L - days * DAY)}.log`;
	const gone = [dated('infrpool-app', 91), dated('infrpool-app', 200), dated('infrpoolctl', 95)];
	const kept = [dated('infrpool-app', 90), dated('infrpool-relay', 1), 'README', `infrpool-app-${day(L - 200 * DAY)}.log.gz`,
		`Infrpool-App-${day(L - 200 * DAY)}.log`, 'infrpool-app-2026-02-30.log'];
	for (const f of [...gone, ...kept]) writeFileSync(join(logdir, f), 'x\n');
	const [c] = await tick(L, 'logs-prune');
	assert.equal(c.deleted, 3);
	const left = readdirSync(logdir);
	for (const f of gone) assert.ok(!left.includes(f), `${f} deleted`);
	for (const f of [...kept, `infrpool-app-${today}.log`]) assert.ok(left.includes(f), `${f} kept`);
	assert.ok(c.kept >= 4, JSON.stringify(c));
	// Without a daily [log] file there is nothing of ours to delete.
	let r = await ctl(['tick', '--now', iso(L + DAY), 'logs-prune'], { INFRPOOL_LOG_FILE: '' });
	assert.equal(r.stdout, 'logs-prune: ok\n', r.stderr);
	assert.equal(await s.sql(`SELECT counts::text FROM job_runs WHERE job = 'logs-prune' ORDER BY id DESC LIMIT 1`),
		'{"disabled": true}');
	// A pattern with a date in a directory name: the job fails and says why; nothing is deleted.
	r = await ctl(['tick', '--now', iso(L + 2 * DAY), 'logs-prune'], { INFRPOOL_LOG_FILE: `${logdir}/%Y/%m-%d.log` });
	assert.equal(r.code, 1);
	assert.equal(r.stdout, 'logs-prune: failed\n');
	assert.match(await s.sql(`SELECT message FROM job_runs WHERE job = 'logs-prune' ORDER BY id DESC LIMIT 1`),
		/^\[log\] file: a daily file takes %Y, %m and %d once each, in the file name only$/);
	assert.equal(readdirSync(logdir).length, left.length);
});
