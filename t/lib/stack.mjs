// stack.mjs: start and stop a throwaway infrpool platform for a test file.
//
// startStack({ front: 'lighttpd' | 'apache' }) runs `./dev stack-up` in a
// fresh directory under $INFRPOOL_TEST_TMP (t/run-node stops whatever is
// left there, even after a hang) and resolves to { env, url, internalUrl,
// dir, stop(), pg(action, mode), ctl(...args) }.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = promisify(execFile);

export const srcdir = process.env.INFRPOOL_SRCDIR ?? new URL('../..', import.meta.url).pathname;
export const builddir = process.env.INFRPOOL_BUILDDIR ?? srcdir;
export const bin = (name) => join(builddir, 'src', {
	'infrpool-app': 'app', 'infrpool-relay': 'relay',
	'infrpool-worker': 'worker', infrpoolctl: 'ctl',
}[name], name);

// A scratch directory that t/run-node removes.
export function scratch(prefix) {
	const base = process.env.INFRPOOL_TEST_TMP ?? tmpdir();
	return mkdtempSync(join(base, prefix));
}

// Parse a shell-style KEY=value file (values may be single-quoted).
export function readEnv(path) {
	const env = {};
	for (const line of readFileSync(path, 'utf8').split('\n')) {
		const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
		if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
	}
	return env;
}

// A build directory like ours whose programs named in delays start that many
// milliseconds late (a wrapper that sleeps, then execs the real program): a
// cold start, on demand. Pass it to startStack as builddir.
export function slowBuild(delays) {
	const dir = scratch('build');
	const programs = [['infrpool-app', 'src/app'], ['infrpool-relay', 'src/relay'],
		['infrpoolctl', 'src/ctl'], ['infrpool-worker', 'src/worker'], ['infrpool-mock', 't/mock']];
	for (const [name, sub] of programs) {
		const real = join(builddir, sub, name);
		mkdirSync(join(dir, sub), { recursive: true });
		if (delays[name])
			writeFileSync(join(dir, sub, name), `#!/bin/sh\nsleep ${delays[name] / 1000}\n` +
				`exec '${real}' "$@"\n`, { mode: 0o755 });
		else
			symlinkSync(real, join(dir, sub, name));
	}
	return dir;
}

// conf: extra infrpool.conf lines (whole sections, or keys dev does not set);
// cookieSecure: run with Secure __Host- cookies as in production.
// logLevel: [log] level for every program of the stack.
// allowPrivate: may endpoint nodes sit on loopback/private addresses (the
// mocks do)?
// builddir: run the programs from there (slowBuild) instead of our build.
export async function startStack({ front = 'lighttpd', conf = '', cookieSecure = false, logLevel = 'info',
	allowPrivate = true, builddir: programs } = {}) {
	const dir = scratch('stack');
	const args = ['stack-up', dir];
	if (front === 'apache') args.push('--apache');
	const penv = { ...process.env, INFRPOOL_STACK_CONF: conf,
		INFRPOOL_STACK_COOKIE_SECURE: cookieSecure ? 'yes' : 'no', INFRPOOL_STACK_LOG_LEVEL: logLevel,
		INFRPOOL_STACK_ALLOW_PRIVATE: allowPrivate ? 'yes' : 'no' };
	delete penv.INFRPOOL_PORT;
	if (programs) penv.INFRPOOL_BUILDDIR = programs;
	try {
		await run(join(srcdir, 'dev'), args, { env: penv, timeout: 120000 });
	} catch (e) {
		throw new Error(`stack-up failed: ${e.stderr || e.message}`);
	}
	const env = readEnv(join(dir, 'stack.env'));
	return {
		env, dir, front,
		url: env.INFRPOOL_URL,
		internalUrl: env.INFRPOOL_INTERNAL_URL,
		// Stop the stack; first the ledger must check clean, or this throws.
		async stop() {
			let check;
			try {
				check = await run(bin('infrpoolctl'), ['-c', env.INFRPOOL_CONFIG, 'ledger', 'check']);
			} catch (e) {
				check = e;
			}
			await run(join(srcdir, 'dev'), ['stack-down', dir], { timeout: 120000 });
			if (check.code)
				throw new Error(`ledger check failed at teardown:\n${check.stdout}${check.stderr}`);
		},
		// Run SQL with psql against this stack's database; resolves to stdout.
		async sql(query) {
			const { stdout } = await run('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
				'-d', env.INFRPOOL_DATABASE_URL, '-c', query]);
			return stdout.trim();
		},
		// pg_ctl against this stack's cluster, as the user that owns it.
		// start and restart need -l: without it the server keeps our pipe.
		async pg(action, mode = 'fast') {
			const pgdir = env.INFRPOOL_PGDATA.replace(/\/data$/, '');
			const a = ['-D', env.INFRPOOL_PGDATA, '-w', '-t', '60', '-m', mode,
				'-l', join(pgdir, 'postgres.log'), action];
			if (action !== 'stop')
				a.push('-o', `-k ${pgdir} -c listen_addresses='' -c fsync=off`);
			const cmd = join(env.INFRPOOL_PGBIN, 'pg_ctl');
			if (process.getuid() === 0)
				return run('runuser', ['-u', 'infrpool-pg', '--', cmd, ...a]);
			return run(cmd, a);
		},
		// infrpoolctl with this stack's configuration.
		ctl(...a) {
			return run(bin('infrpoolctl'), ['-c', env.INFRPOOL_CONFIG, ...a]);
		},
	};
}

// Run a program, resolving to { code, signal, stdout, stderr } (never rejects).
export function runProgram(file, args, opts = {}) {
	return new Promise((resolve) => {
		const child = spawn(file, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '', stderr = '';
		child.stdout.on('data', (d) => { stdout += d; });
		child.stderr.on('data', (d) => { stderr += d; });
		child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
	});
}

// Resolve when predicate() is truthy, polling every 50 ms for ms at most.
export async function waitFor(predicate, ms = 10000, what = 'condition') {
	const end = Date.now() + ms;
	for (;;) {
		const v = await predicate();
		if (v) return v;
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}
