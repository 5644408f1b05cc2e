// jobs.test.mjs: infrpoolctl tick and jobs against real PostgreSQL with the
// injected clock (--now): what is due runs once a slot, each job under its
// own lock, every run recorded, a failing job retried without stopping the
// others, bad input refused before anything runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startStack, waitFor, bin, runProgram } from '../lib/stack.mjs';
import { Client, uniqueEmail } from '../lib/client.mjs';

const PW = 'correct horse battery';
const LOCK_CLASS = 1785688691;	// jobs.c: "jobs" in ASCII
let s;

before(async () => { s = await startStack(); });
after(async () => { if (s) await s.stop(); });

// A UTC time as --now takes it, ms after the epoch.
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
// infrpoolctl with the stack's configuration; resolves to { code, stdout, stderr }.
const ctl = (...args) => runProgram(bin('infrpoolctl'), ['-c', s.env.INFRPOOL_CONFIG, ...args]);
// infrpoolctl tick [--now T] [jobs…].
const tick = (now, ...jobs) => ctl('tick', ...(now ? ['--now', iso(now)] : []), ...jobs);
// The runs recorded for job: [{ due, outcome, counts, message }], oldest first.
async function runs(job) {
	const out = await s.sql(`SELECT coalesce(json_agg(json_build_object('due', to_char(due_at AT TIME ZONE 'UTC',
		'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'outcome', outcome, 'counts', counts, 'message', message) ORDER BY id), '[]')
		FROM job_runs WHERE job = '${job}'`);
	return JSON.parse(out);
}

// A signed-up user with an API key; resolves to { c, key }.
async function user(tag) {
	const c = new Client(s.url);
	await c.signup(uniqueEmail(tag), PW);
	const csrf = await c.csrf();
	const res = await c.post('/v1/keys', { json: { name: tag }, headers: { 'x-csrf-token': csrf } });
	assert.equal(res.status, 201, res.text_);
	return { c, csrf, key: JSON.parse(res.text_).key };
}

const held = async (u) => JSON.parse((await u.c.get('/v1/me')).text_).balances.held.micro_usd;

// A relay's lease on u's key, as /internal/lease grants it: a real hold.
async function lease(u) {
	const res = await fetch(`${s.internalUrl}/internal/lease`, {
		method: 'POST', headers: { 'X-Infrpool-Secret': s.env.INFRPOOL_INTERNAL_SECRET, 'content-type': 'application/json' },
		body: JSON.stringify({ key: u.key, want: 1000 }) });
	const text = await res.text();
	assert.equal(res.status, 200, text);
	return JSON.parse(text);
}

// A minute-aligned clock an hour ahead, so that every lease hold has expired.
const base = Math.ceil((Date.now() + 3600e3) / 60e3) * 60e3;

test('tick runs what is due once a slot, and records each run; the reaper voids expired holds', async () => {
	const u = await user('reap');
	const l = await lease(u);
	assert.equal(await held(u), 1000);
	let r = await tick(base + 5e3);
	assert.equal(r.code, 0, r.stderr);
	assert.match(r.stdout, /^holds-reap: ok$/m);
	assert.equal(await s.sql(`SELECT status FROM holds WHERE id = ${l.hold_id}`), 'voided');
	assert.equal(await held(u), 0);
	let reap = await runs('holds-reap');
	assert.deepEqual(reap.at(-1), { due: iso(base), outcome: 'ok', counts: { voided: 1 }, message: null });
	// The same slot again (later within its minute): nothing is due.
	r = await tick(base + 50e3);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, '');
	assert.equal((await runs('holds-reap')).length, reap.length);
	// The next minute is the next slot.
	r = await tick(base + 60e3);
	assert.match(r.stdout, /^holds-reap: ok$/m);
	reap = await runs('holds-reap');
	assert.deepEqual(reap.at(-1), { due: iso(base + 60e3), outcome: 'ok', counts: { voided: 0 }, message: null });
	// infrpoolctl jobs: each job, its schedule, its next slot and last run.
	r = await ctl('jobs', '--now', iso(base + 61e3));
	assert.equal(r.code, 0, r.stderr);
	assert.match(r.stdout, new RegExp(`^holds-reap +every minute +next ${iso(base + 120e3)}  last \\S+ ok \\{"voided":0\\}$`, 'm'));
	assert.match(r.stdout, /^sessions-prune +daily at 03:10 UTC +next \S+Z  last \S+ ok \{"deleted":\d+\}$/m);
	assert.match(r.stdout, /^job-runs-prune +daily at 03:20 UTC/m);
	assert.equal((await ctl('ledger', 'check')).code, 0);
	// Runs for later slots (that clock is an hour ahead) leave the real one due.
	r = await tick(null, 'holds-reap');
	assert.equal(r.stdout, 'holds-reap: ok\n');
});

test('overlapping ticks run each job once a slot; a job another tick is running is skipped, then run', async () => {
	const now = base + 10 * 60e3;
	const all = await Promise.all([1, 2, 3, 4].map(() => tick(now)));
	for (const r of all) assert.equal(r.code, 0, r.stderr);
	assert.equal(all.map((r) => (r.stdout.match(/^holds-reap: ok$/mg) ?? []).length).reduce((a, b) => a + b), 1);
	assert.equal((await runs('holds-reap')).filter((x) => x.due === iso(now)).length, 1);
	// Another session holds holds-reap's lock, as a tick running it would.
	const psql = spawn('psql', ['-X', '-q', '-d', s.env.INFRPOOL_DATABASE_URL], { stdio: ['pipe', 'pipe', 'inherit'] });
	let out = '';
	psql.stdout.on('data', (d) => { out += d; });
	psql.stdin.write(`SELECT pg_advisory_lock(${LOCK_CLASS}, hashtext('holds-reap')) IS NULL AS locked;\n`);
	await waitFor(() => /locked/.test(out), 10000, 'the lock taken');
	const later = now + 60e3;
	let r = await tick(later, 'holds-reap');
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, 'holds-reap: running in another tick; skipped\n');
	assert.equal((await runs('holds-reap')).filter((x) => x.due === iso(later)).length, 0);
	psql.stdin.end();
	await new Promise((res) => psql.on('exit', res));
	r = await tick(later, 'holds-reap');
	assert.equal(r.stdout, 'holds-reap: ok\n');
	assert.equal((await runs('holds-reap')).filter((x) => x.due === iso(later)).length, 1);
});

test('a failing job is recorded and retried at the next tick; the others still run', async () => {
	// An expired session for sessions-prune, and a trigger that makes deleting it fail.
	const u = await user('prune');
	await s.sql(`UPDATE sessions SET expires_at = now() - interval '1 day'
		WHERE user_id = (SELECT id FROM users WHERE email = '${JSON.parse((await u.c.get('/v1/me')).text_).email}')`);
	await s.sql(`CREATE FUNCTION no_delete() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'the test refuses this delete'; END $$;
		CREATE TRIGGER no_delete BEFORE DELETE ON sessions FOR EACH ROW EXECUTE FUNCTION no_delete()`);
	const day = Date.UTC(2031, 0, 1, 3, 30);	// after both daily slots of that day
	let r = await tick(day);
	assert.equal(r.code, 1);
	assert.match(r.stdout, /^sessions-prune: failed$/m);
	assert.match(r.stdout, /^holds-reap: ok$/m);
	assert.match(r.stdout, /^job-runs-prune: ok$/m);
	const failed = (await runs('sessions-prune')).at(-1);
	assert.equal(failed.outcome, 'failed');
	assert.match(failed.message, /the test refuses this delete/);
	await s.sql('DROP TRIGGER no_delete ON sessions; DROP FUNCTION no_delete()');
	// The next tick, a minute later: only the failed job is due again today.
	// By that clock every session of this stack is past its lifetime.
	const due = Number(await s.sql(`SELECT count(*) FROM sessions WHERE expires_at <= '${iso(day + 60e3)}'`));
	assert.ok(due >= 1);
	r = await tick(day + 60e3, 'sessions-prune', 'job-runs-prune');
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, 'sessions-prune: ok\n');
	assert.deepEqual((await runs('sessions-prune')).at(-1),
		{ due: '2031-01-01T03:10:00Z', outcome: 'ok', counts: { deleted: due }, message: null });
	assert.equal(await s.sql(`SELECT count(*) FROM sessions WHERE expires_at <= '${iso(day + 60e3)}'`), '0');
});

test('bad input: an unknown job or a malformed --now is refused before anything runs', async () => {
	const before_ = await s.sql('SELECT count(*) FROM job_runs');
	for (const [args, msg] of [
		[['tick', 'holds-reap', 'no-such-job'], /no job 'no-such-job'/],
		[['tick', '--now', '2031-02-30T00:00:00Z'], /--now takes a UTC time/],
		[['tick', '--now', '2031-01-01 00:00:00'], /--now takes a UTC time/],
		[['tick', '--now', '2031-01-01T00:00:00+01:00'], /--now takes a UTC time/],
		[['tick', '--now'], /--now takes a UTC time/],
		[['jobs', 'extra'], /usage: infrpoolctl jobs/],
	]) {
		const r = await ctl(...args);
		assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
		assert.match(r.stderr, msg);
		assert.equal(r.stdout, '');
	}
	assert.equal(await s.sql('SELECT count(*) FROM job_runs'), before_);
});

test('the operator\'s jobs page lists every job with its schedule and last run', async () => {
	const admin = await user('opjobs');
	await s.sql(`UPDATE users SET role = 'admin' WHERE id = (SELECT max(id) FROM users)`);
	const res = await admin.c.get('/admin/jobs');
	assert.equal(res.status, 200, res.text_);
	for (const name of ['holds-reap', 'sessions-prune', 'job-runs-prune'])
		assert.match(res.text_, new RegExp(`<td>${name}</td>`));
	assert.match(res.text_, /<td>every minute<\/td><td>\S+Z<\/td><td>ok<\/td>/);
});
