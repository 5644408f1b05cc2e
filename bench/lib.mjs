// lib.mjs: what the benchmark scripts share: the mock upstreams, the systems
// under test (direct, the lighttpd floor, infrpool with endpoint and worker
// nodes, the Portkey gateway), the load generator, and /proc sampling.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { startStack, waitFor, bin, builddir } from '../t/lib/stack.mjs';
import { Client, uniqueEmail } from '../t/lib/client.mjs';

const run = promisify(execFile);
const here = new URL('.', import.meta.url).pathname;
export const LOAD = join(builddir, 'bench', 'infrpool-load');
export const OUT = process.env.INFRPOOL_BENCH_OUT ?? join(here, 'results');

// The upstream's modes (issue 7): (a) no delay, (b) 60 ms fixed latency,
// (c) SSE, 64 deltas 20 ms apart and a usage chunk; "hold" is (c) slowed to
// one delta a second, to hold thousands of streams open at once.
export const MODES = {
	a: { args: ['--first-token-ms', '0', '--tokens', '16'], stream: false, maxTokens: 16 },
	b: { args: ['--first-token-ms', '60', '--tokens', '16'], stream: false, maxTokens: 16 },
	c: { args: ['--first-token-ms', '20', '--interval-ms', '20', '--tokens', '64'], stream: true, maxTokens: 64 },
	hold: { args: ['--first-token-ms', '20', '--interval-ms', '1000', '--tokens', '64'], stream: true, maxTokens: 64 },
};

const children = [];	// what we spawned, stopped by pid at the end
let scratchDir;

// A scratch directory for this run (removed by stopAll).
export function scratch() {
	scratchDir ??= mkdtempSync(join(tmpdir(), 'infrpool-bench.'));
	return scratchDir;
}

// A loopback port that is free now (the kernel picks it).
export function freePort() {
	return new Promise((resolve, reject) => {
		const s = createServer();
		s.once('error', reject);
		s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
	});
}

// Spawn a program we stop later; its output goes to a log in the scratch dir.
function start(name, file, args, opts = {}) {
	const log = [];
	const child = spawn(file, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
	const keep = (d) => { log.push(d); if (log.length > 200) log.shift(); };
	child.stdout.on('data', keep);
	child.stderr.on('data', keep);
	child.exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
	child.logText = () => Buffer.concat(log).toString();
	child.benchName = name;
	children.push(child);
	return child;
}

async function waitHttp(url, what, ok = (r) => r.ok) {
	await waitFor(async () => {
		try { return ok(await fetch(url)); } catch { return false; }
	}, 20000, what);
}

// Start the mock model server in one mode; resolves to { url, base, port, pid }.
export async function startMock(mode) {
	const port = await freePort();
	const child = start(`mock-${mode}`, join(builddir, 't', 'mock', 'infrpool-mock'),
		['--listen', `127.0.0.1:${port}`, '--quiet', ...MODES[mode].args]);
	const url = `http://127.0.0.1:${port}`;
	await waitHttp(`${url}/mock/stats`, `the mock (${mode})`);
	return { url, base: `${url}/v1`, port, pid: child.pid, mode };
}

// The floor: lighttpd's mod_proxy straight to the mocks, one listener per
// mock, streamed like infrpool's own lighttpd configuration.
export async function startFloor(mocks) {
	const dir = scratch(), ports = {};
	const lines = ['server.bind = "127.0.0.1"', `server.document-root = "${dir}"`,
		`server.errorlog = "${join(dir, 'floor.log')}"`, 'server.modules = ( "mod_proxy" )',
		'server.max-fds = 16384', 'server.max-connections = 8000',
		'server.stream-response-body = 2', 'server.stream-request-body = 2'];
	let first = true;
	for (const [mode, m] of Object.entries(mocks)) {
		ports[mode] = await freePort();
		const proxy = `proxy.server = ( "" => ( ( "host" => "127.0.0.1", "port" => ${m.port} ) ) )`;
		if (first) lines.push(`server.port = ${ports[mode]}`, proxy);
		else lines.push(`$SERVER["socket"] == "127.0.0.1:${ports[mode]}" {`, `\t${proxy}`, '}');
		first = false;
	}
	const conf = join(dir, 'floor.conf');
	writeFileSync(conf, lines.join('\n') + '\n');
	const child = start('floor', '/usr/sbin/lighttpd', ['-D', '-f', conf]);
	for (const p of Object.values(ports))
		await waitHttp(`http://127.0.0.1:${p}/mock/stats`, 'the lighttpd floor');
	return { ports, pid: child.pid };
}

// The peer gateway: @portkey-ai/gateway from bench/node_modules.
export async function startPortkey() {
	const port = await freePort();
	const child = start('portkey', process.execPath,
		[join(here, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js'), `--port=${port}`, '--headless'],
		{ cwd: here, env: { ...process.env, NODE_ENV: 'production' } });
	const url = `http://127.0.0.1:${port}`;
	await waitHttp(`${url}/`, 'the Portkey gateway', (r) => r.status > 0);
	return { url, port, pid: child.pid, child };
}

// BENCH_INFRPOOL_CONF adds settings to the stack's configuration (sections
// and keys, as INFRPOOL_STACK_CONF does for the tests), to compare settings.
const CONF = '[credits]\nsignup_grant = 1000000000000\n' +
	'[gateway]\nrequests_per_minute = 0\nramp_start_pct = 100\n' +
	(process.env.BENCH_INFRPOOL_CONF ? `${process.env.BENCH_INFRPOOL_CONF}\n` : '');

// Make a user with an API key; resolves to { c, key, csrf }.
async function userWithKey(url, tag) {
	const c = new Client(url);
	const pw = `bench-${Math.random().toString(36).slice(2)}-pw`;
	await c.signup(uniqueEmail(tag), pw);
	const csrf = await c.csrf();
	const res = await c.post('/v1/keys', { json: { name: tag }, headers: { 'x-csrf-token': csrf } });
	if (res.status !== 201) throw new Error(`key: ${res.status} ${res.text_}`);
	return { c, key: JSON.parse(res.text_).key, csrf };
}

// Register a node; resolves to the API's answer (node_token for workers).
async function addNode(sup, spec) {
	const res = await sup.c.post('/v1/supplier/nodes', { headers: { 'x-csrf-token': sup.csrf }, json: {
		supply_type: spec.connection === 'worker' ? 'self_hosted' : 'cloud', context_length: 8192,
		max_concurrency: 1024, ...spec } });
	if (res.status !== 201) throw new Error(`node: ${res.status} ${res.text_}`);
	return JSON.parse(res.text_);
}

// infrpool: a throwaway stack (./dev stack-up) whose supplier serves model
// bench/MODE from each mock as an endpoint node and bench/wMODE through
// infrpool-worker (workerModes). nodes[MODE] sets how many endpoint nodes
// serve bench/MODE (default 1; 0 for none): each declares 1,024 slots, the
// most a node may, so the streaming ladder needs several.
export async function startInfrpool(mocks, { workerModes = [], nodes = {} } = {}) {
	const stack = await startStack({ conf: CONF });
	const sup = await userWithKey(stack.url, 'supplier');
	const con = await userWithKey(stack.url, 'consumer');
	const model = (m) => ({ model: `bench/${m}`, upstream_model: 'mock', price_in: 100000, price_out: 300000 });
	for (const [mode, m] of Object.entries(mocks)) {
		const n = nodes[mode] ?? 1;
		for (let i = 0; i < n; i++)
			await addNode(sup, { name: `ep-${mode}-${i}`, connection: 'endpoint', base_url: m.base,
				api_token: 'sk-bench', models: [model(mode)] });
	}
	const workers = [];
	for (const mode of workerModes) {
		const node = await addNode(sup, { name: `w-${mode}`, connection: 'worker', models: [model(`w${mode}`)] });
		const w = start(`worker-${mode}`, bin('infrpool-worker'), ['--platform', stack.url,
			'--upstream', mocks[mode].base, '--concurrency', '1024'],
		{ env: { ...process.env, INFRPOOL_WORKER_TOKEN: node.node_token, INFRPOOL_CONFIG: '' } });
		workers.push(w);
	}
	const ip = { stack, key: con.key, consumer: con, workers, url: stack.url, dir: stack.dir };
	// Ready once every model answers.
	for (const mode of [...Object.keys(mocks), ...workerModes.map((m) => `w${m}`)]) {
		if ((nodes[mode] ?? 1) === 0) continue;
		await waitFor(async () => {
			const r = await fetch(`${stack.url}/v1/chat/completions`, { method: 'POST',
				headers: { authorization: `Bearer ${con.key}`, 'content-type': 'application/json' },
				body: JSON.stringify({ model: `bench/${mode}`, max_tokens: 1, messages: [{ role: 'user', content: 'ready?' }] }) });
			await r.text();
			return r.ok;
		}, 30000, `model bench/${mode}`);
	}
	return ip;
}

// A new API key of infrpool's consumer, never used yet; resolves to it.
export async function newKey(ip, name) {
	const { c, csrf } = ip.consumer;
	const res = await c.post('/v1/keys', { json: { name }, headers: { 'x-csrf-token': csrf } });
	if (res.status !== 201) throw new Error(`key: ${res.status} ${res.text_}`);
	return JSON.parse(res.text_).key;
}

// The pids of infrpool's processes, by role: lighttpd and its app pool,
// the relay, PostgreSQL and its backends, the workers.
export function infrpoolPids(ip) {
	const tree = procTree();
	const one = (f) => Number(readFileSync(f, 'utf8').split('\n')[0]);
	const withKids = (pid) => [pid, ...descendants(tree, pid)];
	return {
		lighttpd: [one(join(ip.dir, 'lighttpd.pid'))],
		app: descendants(tree, one(join(ip.dir, 'lighttpd.pid'))),
		relay: [one(join(ip.dir, 'relay.pid'))],
		postgres: withKids(one(join(ip.stack.env.INFRPOOL_PGDATA, 'postmaster.pid'))),
		worker: ip.workers.map((w) => w.pid),
	};
}

// ppid → [pid] for every process.
function procTree() {
	const kids = new Map();
	for (const d of readdirSync('/proc')) {
		if (!/^\d+$/.test(d)) continue;
		try {
			const st = readFileSync(`/proc/${d}/stat`, 'utf8');
			const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
			if (!kids.has(ppid)) kids.set(ppid, []);
			kids.get(ppid).push(Number(d));
		} catch { /* gone */ }
	}
	return kids;
}

function descendants(tree, pid) {
	const out = [];
	for (const k of tree.get(pid) ?? []) out.push(k, ...descendants(tree, k));
	return out;
}

// CPU seconds (user + system) a process has used so far; 0 once it is gone.
export function cpuSeconds(pid) {
	try {
		const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
		const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
		return (Number(f[11]) + Number(f[12])) / 100;	// utime, stime in ticks (USER_HZ 100)
	} catch { return 0; }
}

// A process's proportional set size in KiB.
export function pssKiB(pid) {
	const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
	return m ? Number(m[1]) : 0;
}

// Write a request body for mode and model into the scratch dir; its path.
export function bodyFile(mode, model) {
	const b = { model, messages: [{ role: 'user', content: 'Benchmark: answer with a few words.' }],
		max_tokens: MODES[mode].maxTokens };
	if (MODES[mode].stream) Object.assign(b, { stream: true, stream_options: { include_usage: true } });
	const f = join(scratch(), `body-${mode}-${model.replace(/\W/g, '_')}.json`);
	writeFileSync(f, JSON.stringify(b));
	return f;
}

// The systems for mode: name → { url, headers, body } for infrpool-load.
export function targets(mode, { mocks, floor, ip, portkey, worker = true }) {
	const path = '/v1/chat/completions', m = mocks[mode], t = {};
	t.direct = { url: m.url + path, headers: [], body: bodyFile(mode, 'mock') };
	if (floor) t.floor = { url: `http://127.0.0.1:${floor.ports[mode]}${path}`, headers: [], body: t.direct.body };
	if (ip) {
		const auth = [`Authorization: Bearer ${ip.key}`];
		t.infrpool = { url: ip.url + path, headers: auth, body: bodyFile(mode, `bench/${mode}`) };
		if (worker && ip.workers.length)
			t['infrpool-worker'] = { url: ip.url + path, headers: auth, body: bodyFile(mode, `bench/w${mode}`) };
	}
	if (portkey)
		t.portkey = { url: portkey.url + path, body: t.direct.body, headers: ['x-portkey-provider: openai',
			`x-portkey-custom-host: ${m.base}`, 'Authorization: Bearer sk-bench'] };
	return t;
}

// Run infrpool-load against target with extra args; resolves to its JSON.
export async function load(target, args, timeoutMs = 600000) {
	const a = ['--url', target.url, '--body-file', target.body, ...target.headers.flatMap((h) => ['--header', h]), ...args];
	try {
		const { stdout } = await run(LOAD, a, { timeout: timeoutMs, maxBuffer: 1 << 20 });
		return JSON.parse(stdout);
	} catch (e) {
		if (e.code === 3 && e.stdout) return JSON.parse(e.stdout);	// ran, with errors
		throw new Error(`infrpool-load ${a.join(' ')}: ${e.stderr || e.message}`);
	}
}

// The machine, for the record.
export function machine() {
	const version = (file, args) => {
		try { return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]; } catch { return null; }
	};
	return { cpu: cpus()[0]?.model, cores: cpus().length, mem_gib: +(totalmem() / 2 ** 30).toFixed(1),
		kernel: release(), node: process.version, loadavg: loadavg().map((x) => +x.toFixed(2)),
		lighttpd: version('/usr/sbin/lighttpd', ['-v']), at: new Date().toISOString() };
}

// Stop everything we started, by pid, and the infrpool stack.
export async function stopAll(ip) {
	for (const c of children.reverse()) {
		if (c.exitCode === null && c.signalCode === null) {
			c.kill('SIGTERM');
			await Promise.race([c.exited, new Promise((r) => setTimeout(r, 5000))]);
			if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
		}
	}
	if (ip) await ip.stack.stop();
	if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
}

// Median of numbers.
export function median(xs) {
	const s = [...xs].sort((a, b) => a - b);
	if (!s.length) return NaN;
	const i = Math.floor(s.length / 2);
	return s.length % 2 ? s[i] : (s[i - 1] + s[i]) / 2;
}

// Print rows (arrays) under a header as an aligned table.
export function table(title, header, rows) {
	const all = [header, ...rows].map((r) => r.map((x) => (typeof x === 'number' ? fmt(x) : String(x))));
	const w = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
	console.log(`\n${title}`);
	all.forEach((r, j) => {
		console.log(r.map((x, i) => (i ? x.padStart(w[i]) : x.padEnd(w[i]))).join('  '));
		if (j === 0) console.log(w.map((n) => '-'.repeat(n)).join('  '));
	});
}

function fmt(x) {
	if (!Number.isFinite(x)) return '—';
	if (Number.isInteger(x)) return String(x);
	return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
}

// Write name.json (and name.csv from rows) under OUT; the paths.
export function save(name, data, csv) {
	mkdirSync(OUT, { recursive: true });
	const j = join(OUT, `${name}.json`);
	writeFileSync(j, JSON.stringify(data, null, 2) + '\n');
	const out = [j];
	if (csv) {
		const c = join(OUT, `${name}.csv`);
		writeFileSync(c, [csv.header, ...csv.rows].map((r) => r.join(',')).join('\n') + '\n');
		out.push(c);
	}
	console.log(`\nwrote ${out.join(', ')}`);
	return out;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
