// latency.mjs: benchmark (A), the latency each system adds to the mock at
// concurrency 1, p50 and p99, as the median of interleaved rounds.
//
// Modes (a) no delay and (b) 60 ms fixed latency. Each round runs every
// system once, in a rotated order, with one keep-alive connection sending one
// request after another; a system's added latency in a round is its p50
// (p99) minus the direct call's p50 (p99) in that round.
//
// Then the cold first request of a key, apart: BENCH_COLD new keys, one
// request each on a new connection (the relay asks the app for a lease and
// the key's limits), beside one request on a new connection with a key the
// relay already holds a lease for and one straight to the mock.
import { MODES, startMock, startFloor, startInfrpool, startPortkey, targets, load, median, table, save,
	machine, stopAll, newKey } from './lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const N = { a: Number(process.env.BENCH_SEQ_A ?? 1000), b: Number(process.env.BENCH_SEQ_B ?? 100) };
const COLD = Number(process.env.BENCH_COLD ?? 20);
const ms = (us) => us / 1000;

// One request on a new connection; its latency in µs, or NaN on an error.
async function once(target) {
	const x = await load(target, ['--seq', '1', '--warmup', '0']);
	return x.ok === 1 ? x.latency_us.p50 : NaN;
}

// (A2) mode (a): the first request of each of COLD new keys, each after
// one to the mock and one on the warm key, all on new connections.
async function cold(t, ip) {
	const x = { direct: [], warm: [], cold: [] };
	for (let i = 0; i < COLD; i++) {
		const key = await newKey(ip, `cold-${i}`);
		x.direct.push(await once(t.direct));
		x.warm.push(await once(t.infrpool));
		x.cold.push(await once({ ...t.infrpool, headers: [`Authorization: Bearer ${key}`] }));
	}
	const bad = Object.values(x).flat().filter((v) => Number.isNaN(v)).length;
	const m = Object.fromEntries(Object.entries(x).map(([k, v]) => [k, ms(median(v.filter((y) => !Number.isNaN(y))))]));
	return { keys: COLD, errors: bad, direct_p50_ms: m.direct, warm_p50_ms: m.warm, cold_p50_ms: m.cold,
		added_warm_ms: m.warm - m.direct, added_cold_ms: m.cold - m.direct,
		cold_max_ms: ms(Math.max(...x.cold.filter((y) => !Number.isNaN(y)))) };
}

async function main() {
	const mocks = { a: await startMock('a'), b: await startMock('b') };
	let ip;
	try {
		const floor = await startFloor(mocks);
		ip = await startInfrpool(mocks, { workerModes: ['a', 'b'] });
		const portkey = await startPortkey();
		const result = { benchmark: 'latency', machine: machine(), rounds: ROUNDS, requests: N, modes: {} };
		const csv = { header: ['mode', 'system', 'round', 'p50_us', 'p99_us', 'errors'], rows: [] };
		for (const mode of ['a', 'b']) {
			const t = targets(mode, { mocks, floor, ip, portkey });
			const names = Object.keys(t), per = Object.fromEntries(names.map((n) => [n, []]));
			for (let r = 0; r < ROUNDS; r++) {
				const order = names.map((_, i) => names[(i + r) % names.length]);
				for (const name of order) {
					const x = await load(t[name], ['--seq', String(N[mode]), '--warmup', String(Math.ceil(N[mode] / 10))]);
					per[name][r] = { p50: x.latency_us.p50, p99: x.latency_us.p99, errors: x.errors + x.timeouts };
					csv.rows.push([mode, name, r, x.latency_us.p50, x.latency_us.p99, x.errors + x.timeouts]);
				}
			}
			const s = {};
			for (const name of names) {
				s[name] = {
					p50_ms: ms(median(per[name].map((x) => x.p50))),
					p99_ms: ms(median(per[name].map((x) => x.p99))),
					added_p50_ms: ms(median(per[name].map((x, r) => x.p50 - per.direct[r].p50))),
					added_p99_ms: ms(median(per[name].map((x, r) => x.p99 - per.direct[r].p99))),
					errors: per[name].reduce((a, x) => a + x.errors, 0),
				};
			}
			const ratio = (a, b) => a / b;
			s.ratios = {
				infrpool_over_floor_p50: ratio(s.infrpool.added_p50_ms, s.floor.added_p50_ms),
				infrpool_over_floor_p99: ratio(s.infrpool.added_p99_ms, s.floor.added_p99_ms),
				portkey_over_infrpool_p50: ratio(s.portkey.added_p50_ms, s.infrpool.added_p50_ms),
				portkey_over_infrpool_p99: ratio(s.portkey.added_p99_ms, s.infrpool.added_p99_ms),
			};
			result.modes[mode] = s;
			table(`(A) latency at concurrency 1, mode (${mode}) ${MODES[mode].args.join(' ')}; ` +
				`median of ${ROUNDS} rounds × ${N[mode]} requests, ms`,
			['system', 'p50', 'p99', 'added p50', 'added p99', 'errors'],
			names.map((n) => [n, s[n].p50_ms, s[n].p99_ms, s[n].added_p50_ms, s[n].added_p99_ms, s[n].errors]));
			table(`ratios, mode (${mode})`, ['ratio', 'p50', 'p99'], [
				['infrpool added ÷ floor added', s.ratios.infrpool_over_floor_p50, s.ratios.infrpool_over_floor_p99],
				['Portkey added ÷ infrpool added', s.ratios.portkey_over_infrpool_p50, s.ratios.portkey_over_infrpool_p99]]);
		}
		const c = result.cold = await cold(targets('a', { mocks, ip }), ip);
		table(`(A2) the first request of a key, mode (a), on a new connection; median of ${c.keys} keys, ms`,
			['request', 'p50', 'added p50', 'max', 'errors'], [
				['direct', c.direct_p50_ms, 0, NaN, ''],
				['infrpool, warm key', c.warm_p50_ms, c.added_warm_ms, NaN, ''],
				['infrpool, new key', c.cold_p50_ms, c.added_cold_ms, c.cold_max_ms, c.errors]]);
		const a = result.modes.a.infrpool, r = result.modes.a.ratios;
		result.targets = { added_p50_le_0_5ms: a.added_p50_ms <= 0.5, added_p99_le_2ms: a.added_p99_ms <= 2,
			portkey_over_ours_p50_ge_2_5: r.portkey_over_infrpool_p50 >= 2.5 };
		const said = (ok) => (ok ? 'met' : 'MISSED');
		console.log(`\ntargets, mode (a), warm key: added p50 ≤ 0.5 ms: ${a.added_p50_ms.toFixed(3)} ms ` +
			`${said(result.targets.added_p50_le_0_5ms)}; added p99 ≤ 2 ms: ${a.added_p99_ms.toFixed(3)} ms ` +
			`${said(result.targets.added_p99_le_2ms)}; Portkey ÷ ours (p50) ≥ 2.5: ` +
			`${r.portkey_over_infrpool_p50.toFixed(2)} ${said(result.targets.portkey_over_ours_p50_ge_2_5)}`);
		result.machine.loadavg_after = machine().loadavg;
		save('latency', result, csv);
	} finally {
		await stopAll(ip);
	}
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
