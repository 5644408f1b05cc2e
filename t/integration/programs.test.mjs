// programs.test.mjs: each program on its own: options, config errors, the
// app's prefork pool on a socket, clean stops on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { bin, scratch, srcdir, runProgram, waitFor } from '../lib/stack.mjs';
import { fcgiRequest } from '../lib/fcgi.mjs';

// A config for programs run alone: no database behind it.
function writeConfig(dir, extra = '') {
	const path = join(dir, 'infrpool.conf');
	writeFileSync(path, `[app]\ntemplates = ${srcdir}/templates\n` +
		`[db]\nconninfo = host=${dir} dbname=none connect_timeout=2\n` +
		`[internal]\nsecret = s3cret\n${extra}`);
	return path;
}

function children(pid) {
	try {
		return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
	} catch { return []; }
}

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

// Start a long-running program; resolves when its stderr matches ready.
function start(file, args, ready, env = {}) {
	const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
	child.log = '';
	child.stdout.on('data', (d) => { child.log += d; });
	child.stderr.on('data', (d) => { child.log += d; });
	child.exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
	return waitFor(() => ready.test(child.log) && child, 10000, `${file} to start`);
}

test('infrpool-app --listen on a unix socket runs a prefork pool that answers FastCGI', async () => {
	const dir = scratch('app');
	const sock = join(dir, 'app.sock'), pidfile = join(dir, 'app.pid');
	const conf = writeConfig(dir);
	const app = await start(bin('infrpool-app'), ['-c', conf, '--listen', sock, '--workers', '3',
		'--pidfile', pidfile], /listening on/);
	try {
		assert.equal(Number(readFileSync(pidfile, 'utf8')), app.pid);
		await waitFor(() => children(app.pid).length === 3, 5000, 'three workers');
		let res = await fcgiRequest(sock, { uri: '/' });
		assert.equal(res.status, 200);
		assert.match(res.body, /<title>/);
		res = await fcgiRequest(sock, { uri: '/healthz' });
		assert.equal(res.status, 503, 'no database behind this config');
		assert.equal(JSON.parse(res.body).database, 'unreachable');
		res = await fcgiRequest(sock, { uri: '/internal/ping', headers: { 'X-Infrpool-Secret': 's3cret' } });
		assert.equal(res.status, 200);
		res = await fcgiRequest(sock, { method: 'POST', uri: '/v1/x', body: 'x'.repeat(2 * 1024 * 1024) });
		assert.equal(res.status, 413);
		// A worker that dies is replaced.
		const [victim] = children(app.pid);
		process.kill(victim, 'SIGKILL');
		await waitFor(() => { const c = children(app.pid); return c.length === 3 && !c.includes(victim); },
			8000, 'a replacement worker');
		assert.equal((await fcgiRequest(sock, { uri: '/' })).status, 200);
	} finally {
		const kids = children(app.pid);
		app.kill('SIGTERM');
		const { code } = await app.exited;
		assert.equal(code, 0);
		for (const k of kids) assert.equal(alive(k), false, `worker ${k} outlived the pool`);
		assert.equal(existsSync(sock), false, 'socket removed');
		assert.equal(existsSync(pidfile), false, 'pidfile removed');
		assert.match(app.log, /stopped/);
	}
});

test('SIGTERM lets a worker finish the request it is serving', async () => {
	const dir = scratch('app');
	const sock = join(dir, 'app.sock');
	const app = await start(bin('infrpool-app'), ['-c', writeConfig(dir), '--listen', sock, '--workers', '1'],
		/listening on/);
	await waitFor(() => children(app.pid).length === 1, 5000, 'the worker');
	let release;
	const gate = new Promise((r) => { release = r; });
	const pending = fcgiRequest(sock, { method: 'POST', uri: '/v1/anything', body: '{"a":1}', bodyAfter: gate });
	await new Promise((r) => setTimeout(r, 300));	// the worker is reading the body now
	app.kill('SIGTERM');
	await new Promise((r) => setTimeout(r, 300));
	release();
	const res = await pending;
	assert.equal(res.status, 404, 'answered in full, not cut short');
	assert.equal(JSON.parse(res.body).error.code, 'not_found');
	assert.equal((await app.exited).code, 0);
});

test('a pool killed as a whole process group stops at once', async () => {
	const dir = scratch('app');
	const sock = join(dir, 'app.sock');
	const app = await start(bin('infrpool-app'), ['-c', writeConfig(dir), '--listen', sock, '--workers', '4'],
		/listening on/);
	await waitFor(() => children(app.pid).length === 4, 5000, 'four workers');
	const t0 = Date.now();
	for (const k of children(app.pid)) process.kill(k, 'SIGTERM');
	app.kill('SIGTERM');
	assert.equal((await app.exited).code, 0);
	assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
});

test('bad Content-Length values are 400, never a crash', async () => {
	const dir = scratch('app');
	const sock = join(dir, 'app.sock');
	const app = await start(bin('infrpool-app'), ['-c', writeConfig(dir), '--listen', sock, '--workers', '1'],
		/listening on/);
	try {
		for (const [cl, want] of [['-1', 400], ['abc', 400], ['12x', 400], ['', 403],
			['99999999999999999999999', 413]])
			assert.equal((await fcgiRequest(sock, { method: 'POST', uri: '/login', body: 'a=b', contentLength: cl })).status,
				want, `Content-Length: ${cl}`);
		assert.equal((await fcgiRequest(sock, { uri: '/' })).status, 200);
	} finally {
		app.kill('SIGTERM');
		await app.exited;
	}
});

test('--listen :PORT binds loopback only', async () => {
	const dir = scratch('app');
	const port = 17000 + Math.floor(Math.random() * 3000);
	const app = await start(bin('infrpool-app'), ['-c', writeConfig(dir), '--listen', `:${port}`, '--workers', '1'],
		/listening on/);
	try {
		const hex = port.toString(16).toUpperCase().padStart(4, '0');
		const rows = readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((l) => l.includes(`:${hex} `) && / 0A /.test(l));
		assert.ok(rows.length > 0, 'listening');
		for (const row of rows) assert.match(row.trim().split(/\s+/)[1], new RegExp(`^0100007F:${hex}$`));
	} finally {
		app.kill('SIGTERM');
		await app.exited;
	}
});

test('the installed sample configuration starts every program', async () => {
	const sample = join(process.env.INFRPOOL_BUILDDIR ?? srcdir, 'etc', 'infrpool.conf.sample');
	const env = { INFRPOOL_APP_TEMPLATES: join(srcdir, 'templates') };
	const dir = scratch('sample');
	const app = await start(bin('infrpool-app'), ['-c', sample, '--listen', join(dir, 's'), '--workers', '1'],
		/listening on/, env);
	app.kill('SIGTERM');
	assert.equal((await app.exited).code, 0);
	const port = 17000 + Math.floor(Math.random() * 3000);
	const relay = await start(bin('infrpool-relay'), ['-c', sample, '--listen', `127.0.0.1:${port}`], /listening on/,
		{ INFRPOOL_RELAY_SOCKET: join(dir, 'relay.sock') });
	relay.kill('SIGTERM');
	assert.equal((await relay.exited).code, 0);
	const r = await runProgram(bin('infrpoolctl'), ['-c', sample, 'frobnicate']);
	assert.equal(r.code, 2, r.stderr);
});

test('./dev stack-down never signals a pid that is not the stack\'s program', async () => {
	const dir = scratch('stale');
	const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
	try {
		writeFileSync(join(dir, 'lighttpd.pid'), `${sleeper.pid}\n`);
		writeFileSync(join(dir, 'relay.pid'), `${sleeper.pid}\n`);
		const r = await runProgram(join(srcdir, 'dev'), ['stack-down', dir]);
		assert.equal(r.code, 0, r.stderr);
		assert.ok(alive(sleeper.pid), 'an unrelated process was killed');
		assert.match(r.stderr, /not stopping pid \d+/);
	} finally {
		sleeper.kill();
	}
});

test('infrpool-app --listen on a TCP port', async () => {
	const dir = scratch('app');
	const conf = writeConfig(dir);
	const port = 17000 + Math.floor(Math.random() * 3000);
	const app = await start(bin('infrpool-app'), ['-c', conf, '--listen', `127.0.0.1:${port}`, '--workers', '1'],
		/listening on/);
	try {
		const res = await fcgiRequest({ host: '127.0.0.1', port }, { uri: '/nope' });
		assert.equal(res.status, 404);
		assert.match(res.headers['content-security-policy'], /object-src 'none'/);
	} finally {
		app.kill('SIGTERM');
		assert.equal((await app.exited).code, 0);
	}
});

test('infrpool-app refuses to run without a FastCGI socket', async () => {
	const r = await runProgram(bin('infrpool-app'), ['-c', writeConfig(scratch('app'))]);
	assert.equal(r.code, 2);
	assert.match(r.stderr, /not a FastCGI socket/);
});

test('a bad config value names file, line and key; so does a bad environment value', async () => {
	const dir = scratch('app');
	const conf = writeConfig(dir, '[log]\nlevel = info\n');
	writeFileSync(conf, readFileSync(conf, 'utf8').replace('[app]\n', '[app]\nworkers = lots\n'));
	let r = await runProgram(bin('infrpool-app'), ['-c', conf, '--listen', join(dir, 's')]);
	assert.equal(r.code, 1);
	assert.match(r.stderr, new RegExp(`${conf}:2: \\[app\\] workers: expected an integer \\(got 'lots'\\)`));
	r = await runProgram(bin('infrpool-app'), ['-c', writeConfig(scratch('app'))],
		{ env: { ...process.env, INFRPOOL_APP_MAX_BODY: '12q' } });
	assert.equal(r.code, 1);
	assert.match(r.stderr, /environment INFRPOOL_APP_MAX_BODY: \[app\] max_body: expected a size/);
	writeFileSync(join(dir, 'broken.conf'), '[app]\nno equals sign here\n');
	r = await runProgram(bin('infrpool-relay'), ['-c', join(dir, 'broken.conf')]);
	assert.equal(r.code, 1);
	assert.match(r.stderr, /broken\.conf:2: expected 'key = value'/);
});

test('infrpool-relay answers /healthz and stops cleanly on SIGTERM', async () => {
	const dir = scratch('relay');
	const port = 17000 + Math.floor(Math.random() * 3000);
	const relay = await start(bin('infrpool-relay'), ['-c', writeConfig(dir), '--listen', `127.0.0.1:${port}`],
		/listening on/);
	try {
		let res = await fetch(`http://127.0.0.1:${port}/healthz`);
		assert.equal(res.status, 200);
		const body = await res.json();
		assert.equal(body.status, 'ok');
		assert.equal(typeof body.uptime_s, 'number');
		res = await fetch(`http://127.0.0.1:${port}/v1/nothing`);
		assert.equal(res.status, 404);
		assert.equal((await res.json()).error.code, 'not_found');
	} finally {
		const t0 = Date.now();
		relay.kill('SIGTERM');
		assert.equal((await relay.exited).code, 0);
		assert.ok(Date.now() - t0 < 3000, 'stopped promptly');
		assert.match(relay.log, /stopped/);
	}
	const r = await runProgram(bin('infrpool-relay'), ['--listen', 'nonsense']);
	assert.equal(r.code, 1);
	assert.match(r.stderr, /not host:port/);
});

// GET path over the Unix socket at sock; resolves to { status, body }.
function overSocket(sock, path) {
	return new Promise((resolve, reject) => {
		http.get({ socketPath: sock, path }, (res) => {
			let body = '';
			res.on('data', (d) => { body += d; });
			res.on('end', () => resolve({ status: res.statusCode, body }));
		}).on('error', reject);
	});
}

test('infrpool-relay listens on its Unix socket too: 0660, a stale socket replaced, any other file refused', async () => {
	const dir = scratch('relaysock');
	const sock = join(dir, 'relay.sock');
	const conf = writeConfig(dir, `[relay]\nsocket = ${sock}\n`);
	const port = () => `127.0.0.1:${17000 + Math.floor(Math.random() * 3000)}`;
	let relay = await start(bin('infrpool-relay'), ['-c', conf, '--listen', port()], /listening on/);
	let r = await overSocket(sock, '/healthz');
	assert.equal(r.status, 200);
	assert.equal(JSON.parse(r.body).status, 'ok');
	assert.equal(statSync(sock).mode & 0o777, 0o660);
	// Killed, it leaves its socket behind: the next relay replaces it.
	relay.kill('SIGKILL');
	await relay.exited;
	assert.ok(statSync(sock).isSocket());
	relay = await start(bin('infrpool-relay'), ['-c', conf, '--listen', port()], /listening on/);
	assert.equal((await overSocket(sock, '/healthz')).status, 200);
	relay.kill('SIGTERM');
	assert.equal((await relay.exited).code, 0);
	assert.ok(!existsSync(sock), 'a clean stop removes the socket');
	// A file that is not a socket is never removed.
	writeFileSync(sock, 'not a socket');
	const bad = await runProgram(bin('infrpool-relay'), ['-c', conf, '--listen', port()]);
	assert.equal(bad.code, 1);
	assert.match(bad.stderr, /exists and is not a socket/);
	assert.equal(readFileSync(sock, 'utf8'), 'not a socket');
});

test('infrpool-worker reads its config, checks the platform, keeps its token out of logs, stops on SIGTERM', async () => {
	let hits = 0;
	const platform = http.createServer((req, res) => {
		hits += req.url === '/healthz';
		res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' });
		res.end('{}');
	});
	await new Promise((r) => platform.listen(0, '127.0.0.1', r));
	const url = `http://127.0.0.1:${platform.address().port}`;
	const token = 'ipn_TOKEN_' + Math.random().toString(36).slice(2);
	const worker = await start(bin('infrpool-worker'), ['-c', writeConfig(scratch('worker')), '--platform', url,
		'--concurrency', '4'], /platform reachable/, { INFRPOOL_WORKER_TOKEN: token });
	try {
		assert.ok(hits >= 1);
		assert.match(worker.log, /concurrency 4/);
	} finally {
		worker.kill('SIGTERM');
		assert.equal((await worker.exited).code, 0);
		platform.close();
	}
	assert.ok(!worker.log.includes(token), 'the node token reached a log line');
	let r = await runProgram(bin('infrpool-worker'), ['--platform', 'ftp://x']);
	assert.equal(r.code, 1);
	assert.match(r.stderr, /must start with http:\/\/ or https:\/\//);
	r = await runProgram(bin('infrpool-worker'), ['--concurrency', '0']);
	assert.equal(r.code, 2);
});

test('infrpoolctl: usage, version and unknown commands', async () => {
	let r = await runProgram(bin('infrpoolctl'), ['-V']);
	assert.equal(r.code, 0);
	assert.match(r.stdout, /^infrpool \d+\.\d+\.\d+/);
	r = await runProgram(bin('infrpoolctl'), ['frobnicate']);
	assert.equal(r.code, 2);
	assert.match(r.stderr, /unknown command 'frobnicate'/);
	r = await runProgram(bin('infrpoolctl'), ['-c', '/nonexistent/infrpool.conf', 'migrate']);
	assert.equal(r.code, 1);
	assert.match(r.stderr, /\/nonexistent\/infrpool\.conf: No such file/);
});
