// latency.mjs: benchmark (A), the latency each system adds to the mock at
// concurrency 1, p50 and p99, as the median of interleaved rounds.
//
// Modes (a) no delay and (b) 60 ms fixed latency. Each round runs every
// system once, in a rotated order, with one keep-alive connection sending one
// request after another; a system's added latency in a round is its p50
// (p99) minus the direct call's p50 (p99) in that round.
import { MODES, startMock, startFloor, startInfrpool, startPortkey, targets, load, median, table, save,
	machine, stopAll } from './lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const N = { a: Number(process.env.BENCH_SEQ_A ?? 1000), b: Number(process.env.BENCH_SEQ_B ?? 100) };
const ms = (us) => us / 1000;

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
		const a = result.modes.a.infrpool;
		result.targets = { added_p50_le_1ms: a.added_p50_ms <= 1, added_p99_le_3ms: a.added_p99_ms <= 3 };
		console.log(`\ntarget: infrpool added p50 ≤ 1 ms: ${a.added_p50_ms.toFixed(3)} ms ` +
			`${result.targets.added_p50_le_1ms ? 'met' : 'MISSED'}; p99 ≤ 3 ms: ${a.added_p99_ms.toFixed(3)} ms ` +
			`${result.targets.added_p99_le_3ms ? 'met' : 'MISSED'}`);
		result.machine.loadavg_after = machine().loadavg;
		save('latency', result, csv);
	} finally {
		await stopAll(ip);
	}
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
