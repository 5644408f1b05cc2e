// app.test.mjs: the app and the database: reconnects, migrations, logs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, writeFileSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, scratch, srcdir, bin, runProgram } from '../lib/stack.mjs';

let s;
before(async () => { s = await startStack({ front: 'lighttpd' }); });
after(async () => { if (s) await s.stop(); });

// infrpoolctl with this stack's config and an environment override.
function ctl(args, env = {}) {
	return runProgram(bin('infrpoolctl'), ['-c', s.env.INFRPOOL_CONFIG, ...args],
		{ env: { ...process.env, ...env } });
}

test('the app answers again right after PostgreSQL restarts (immediate mode)', async () => {
	assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
	// Touch every app process so each holds a connection that is about to die.
	for (let i = 0; i < 6; i++) await fetch(`${s.url}/healthz`);
	await s.pg('restart', 'immediate');
	for (let i = 0; i < 6; i++) {
		const res = await fetch(`${s.url}/healthz`);
		const body = await res.json();
		assert.equal(res.status, 200, `request ${i} after restart: ${JSON.stringify(body)}`);
		assert.equal(body.database, 'reachable');
	}
});

test('with the database down, /healthz says so with 503 and pages still render', async () => {
	await s.pg('stop');
	try {
		const res = await fetch(`${s.url}/healthz`);
		assert.equal(res.status, 503);
		const body = await res.json();
		assert.equal(body.database, 'unreachable');
		assert.equal(body.schema_version, null);
		assert.equal((await fetch(`${s.url}/`)).status, 200);
	} finally {
		await s.pg('start');
	}
	assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
});

test('migrate is safe to run twice and --status lists what is applied', async () => {
	let r = await ctl(['migrate']);
	assert.equal(r.code, 0, r.stderr);
	assert.match(r.stdout, /^0 migrations applied$/m);
	r = await ctl(['migrate', '--status']);
	assert.equal(r.code, 0, r.stderr);
	const files = readdirSync(join(srcdir, 'sql')).filter((f) => f.endsWith('.sql'));
	for (const f of files) assert.match(r.stdout, new RegExp(`applied .*${f}`));
	assert.match(r.stdout, new RegExp(`^${files.length} applied, 0 pending$`, 'm'));
});

test('a failing migration names file and line, rolls back and stays pending', async () => {
	const dir = scratch('sql');
	cpSync(join(srcdir, 'sql'), dir, { recursive: true });
	writeFileSync(join(dir, '0900_good.sql'), 'CREATE TABLE mig_good (id int);\n');
	writeFileSync(join(dir, '0901_bad.sql'),
		'CREATE TABLE mig_half (id int);\n-- a comment\nCREATE TABLE mig_bad (id intt);\n');
	const env = { INFRPOOL_PATHS_SQL: dir };
	let r = await ctl(['migrate', '--status'], env);
	assert.match(r.stdout, /0900\s+pending/);
	assert.match(r.stdout, /0901\s+pending/);
	r = await ctl(['migrate'], env);
	assert.equal(r.code, 1);
	assert.match(r.stderr, /0901_bad\.sql:3: .*intt/);
	assert.match(r.stdout, /applied 0900_good\.sql/);
	r = await ctl(['migrate', '--status'], env);
	assert.match(r.stdout, /0900\s+applied/);
	assert.match(r.stdout, /0901\s+pending/);
	// mig_half was created in the failed transaction: it must not exist.
	writeFileSync(join(dir, '0901_bad.sql'), 'CREATE TABLE mig_half (id int);\n');
	r = await ctl(['migrate'], env);
	assert.equal(r.code, 0, `creating mig_half again must work: ${r.stderr}`);
	assert.match(r.stdout, /applied 0901_bad\.sql/);
	// An applied file that changes afterwards is reported, and status fails.
	writeFileSync(join(dir, '0900_good.sql'), 'CREATE TABLE mig_good (id bigint);\n');
	r = await ctl(['migrate', '--status'], env);
	assert.equal(r.code, 1);
	assert.match(r.stdout, /0900_good\.sql\s+\(file changed since applied\)/);
	// A stray file name is refused before anything runs.
	writeFileSync(join(dir, 'notes.sql'), 'SELECT 1;\n');
	r = await ctl(['migrate'], env);
	assert.equal(r.code, 1);
	assert.match(r.stderr, /notes\.sql: not of the form NNNN_name\.sql/);
});

test('two migrate runs at once apply each file exactly once', async () => {
	const dir = scratch('sql');
	cpSync(join(srcdir, 'sql'), dir, { recursive: true });
	writeFileSync(join(dir, '0950_race.sql'), 'CREATE TABLE mig_race (id int);\nSELECT pg_sleep(0.3);\n');
	const env = { INFRPOOL_PATHS_SQL: dir };
	const [a, b] = await Promise.all([ctl(['migrate'], env), ctl(['migrate'], env)]);
	assert.equal(a.code, 0, a.stderr);
	assert.equal(b.code, 0, b.stderr);
	const applied = (a.stdout + b.stdout).match(/applied 0950_race\.sql/g) ?? [];
	assert.equal(applied.length, 1);
});

test('one log line per request, with level, pid and request id, and no body', async () => {
	const canary = 'CANARY-' + Math.random().toString(36).slice(2);
	const res = await fetch(`${s.url}/v1/nowhere?x=1`, { method: 'POST',
		body: JSON.stringify({ messages: [{ role: 'user', content: canary }] }),
		headers: { 'content-type': 'application/json' } });
	assert.equal(res.status, 404);
	const id = res.headers.get('x-request-id');
	const log = readFileSync(join(s.dir, 'app.log'), 'utf8');
	const line = log.split('\n').find((l) => l.includes(`req=${id}`));
	assert.ok(line, `no log line for request ${id}`);
	assert.match(line, /^\S+Z info infrpool-app\[\d+\] req=[0-9a-f]{16} POST \(no route\) 404 \d+us$/);
	// The canary is nowhere under the stack's directory (logs, config, sockets).
	for (const f of readdirSync(s.dir)) {
		const p = join(s.dir, f);
		if (statSync(p).isFile())
			assert.ok(!readFileSync(p).includes(canary), `${f} holds the request body`);
	}
});
