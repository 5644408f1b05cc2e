// cpu.mjs: benchmark (D), CPU seconds per 1,000 requests over all of
// infrpool's processes (lighttpd, the app pool, the relay, PostgreSQL and
// its backends, the worker), beside the floor's lighttpd and Portkey.
//
// Mode (a), open loop at BENCH_CPU_RPS requests a second for BENCH_CPU_S
// seconds; user + system time from /proc/PID/stat before and after (and
// after settlement has caught up). The mock's own time is counted apart.
import { startMock, startFloor, startInfrpool, startPortkey, targets, load, table, save, machine,
	stopAll, infrpoolPids, cpuSeconds, sleep } from './lib.mjs';

const RPS = Number(process.env.BENCH_CPU_RPS ?? 300);
const SECS = Number(process.env.BENCH_CPU_S ?? 20);

// CPU seconds so far of each role's processes (pids listed now).
function sample(roles) {
	const out = {};
	for (const [role, pids] of Object.entries(roles)) out[role] = pids.reduce((a, p) => a + cpuSeconds(p), 0);
	return out;
}

async function measure(target, roles) {
	const before = sample(roles());
	const x = await load(target, ['--rate', String(RPS), '--duration', String(SECS), '--max-conns', '64']);
	await sleep(2000);	// settlement is asynchronous
	const after = sample(roles());
	const per = {};
	let total = 0;
	for (const r of Object.keys(after)) {
		per[r] = (after[r] - (before[r] ?? 0)) / x.ok * 1000;
		if (r !== 'mock') total += per[r];
	}
	return { ok: x.ok, errors: x.errors + x.timeouts, p99_ms: x.latency_us.p99 / 1000, cpu_s_per_1000: total, by_process: per };
}

async function main() {
	const mocks = { a: await startMock('a') };
	let ip;
	try {
		const floor = await startFloor(mocks);
		ip = await startInfrpool(mocks, { workerModes: ['a'] });
		const portkey = await startPortkey();
		const t = targets('a', { mocks, floor, ip, portkey });
		const mock = { mock: [mocks.a.pid] };
		const result = { benchmark: 'cpu', machine: machine(), rps: RPS, seconds: SECS, systems: {} };
		const ipRoles = (worker) => () => {
			const p = infrpoolPids(ip);
			if (!worker) delete p.worker;
			return { ...p, ...mock };
		};
		result.systems.infrpool = await measure(t.infrpool, ipRoles(false));
		result.systems['infrpool-worker'] = await measure(t['infrpool-worker'], ipRoles(true));
		result.systems.floor = await measure(t.floor, () => ({ lighttpd: [floor.pid], ...mock }));
		result.systems.portkey = await measure(t.portkey, () => ({ node: [portkey.pid], ...mock }));
		const s = result.systems;
		table(`(D) CPU seconds per 1,000 requests, mode (a), ${RPS} requests/s for ${SECS} s (the mock's apart)`,
			['system', 'total', 'lighttpd', 'app', 'relay', 'postgres', 'worker', 'node', 'mock', 'errors'],
			Object.entries(s).map(([n, v]) => [n, v.cpu_s_per_1000, ...['lighttpd', 'app', 'relay', 'postgres', 'worker', 'node', 'mock']
				.map((r) => v.by_process[r] ?? NaN), v.errors]));
		result.ratios = { infrpool_over_floor: s.infrpool.cpu_s_per_1000 / s.floor.cpu_s_per_1000,
			portkey_over_infrpool: s.portkey.cpu_s_per_1000 / s.infrpool.cpu_s_per_1000 };
		table('ratios', ['ratio', 'CPU per request'], [['infrpool ÷ floor', result.ratios.infrpool_over_floor],
			['Portkey ÷ infrpool', result.ratios.portkey_over_infrpool]]);
		result.machine.loadavg_after = machine().loadavg;
		save('cpu', result);
	} finally {
		await stopAll(ip);
	}
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
