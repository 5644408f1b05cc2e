// streaming.mjs: benchmark (C), streams: the time to first token and the
// inter-chunk gaps each system adds, the most concurrent streams each holds
// with no lost chunk, and the relay's memory (PSS) per 1,000 open streams.
//
// Mode (c): 64 deltas 20 ms apart and a usage chunk. A stream is lost when
// it ends without [DONE] or with fewer (or more) data events than the
// mock sends directly. Capacity: BENCH_CAP_LEVELS concurrent users, each
// reading streams back to back for BENCH_CAP_S seconds, against the relay's
// own listener (lighttpd in front of it would need two descriptors a stream
// more), the floor and Portkey. Memory: BENCH_HOLD streams of mode "hold"
// (the same stream, one delta a second) opened over BENCH_HOLD_RAMP seconds
// and held together while the relay's PSS is sampled.
import { startMock, startFloor, startInfrpool, startPortkey, targets, load, median, table, save, machine,
	stopAll, infrpoolPids, pssKiB, sleep } from './lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PER_ROUND = Number(process.env.BENCH_STREAMS ?? 10);
const CAP_LEVELS = (process.env.BENCH_CAP_LEVELS ?? '250,500,1000,2000,4000').split(',').map(Number);
const CAP_S = Number(process.env.BENCH_CAP_S ?? 10);
const HOLD = Number(process.env.BENCH_HOLD ?? 9900);
const HOLD_RAMP = Number(process.env.BENCH_HOLD_RAMP ?? 40);
const ms = (us) => us / 1000;

// (C1, C2) first token and gaps at concurrency 1, interleaved rounds.
async function oneAtATime(t, expect) {
	const names = Object.keys(t), per = Object.fromEntries(names.map((n) => [n, []]));
	for (let r = 0; r < ROUNDS; r++) {
		for (const name of names.map((_, i) => names[(i + r) % names.length])) {
			const x = await load(t[name], ['--stream', '1', '--count', String(PER_ROUND), '--expect', String(expect)]);
			per[name][r] = { ttft: x.ttft_us.p50, gap99: x.gap_us.p99, lost: x.lost + x.errors + x.timeouts,
				events: [x.events_min, x.events_max] };
		}
	}
	const out = {};
	for (const n of names) {
		out[n] = {
			ttft_p50_ms: ms(median(per[n].map((x) => x.ttft))),
			added_ttft_ms: ms(median(per[n].map((x, r) => x.ttft - per.direct[r].ttft))),
			gap_p99_ms: ms(median(per[n].map((x) => x.gap99))),
			added_gap_p99_ms: ms(median(per[n].map((x, r) => x.gap99 - per.direct[r].gap99))),
			lost: per[n].reduce((a, x) => a + x.lost, 0),
			events: per[n][0].events,
		};
	}
	return out;
}

// (C3) the ladder of concurrent users for one target.
async function capacity(t, expect) {
	const steps = [];
	for (const users of CAP_LEVELS) {
		const x = await load(t, ['--stream', String(users), '--duration', String(CAP_S), '--ramp', '2',
			'--expect', String(expect), '--timeout', '60'], 300000);
		const step = { users, peak_open: x.peak_open, streams: x.ok + x.lost + x.errors, lost: x.lost,
			errors: x.errors + x.timeouts, statuses: x.statuses, ttft_p99_ms: ms(x.ttft_us.p99),
			gap_p99_ms: ms(x.gap_us.p99) };
		step.held = step.lost === 0 && step.errors === 0 && step.peak_open === users;
		steps.push(step);
		console.error(`  ${users} users: ${JSON.stringify(step)}`);
		await sleep(3000);
		// As in throughput.mjs: one bad level may be noise; two in a row end it.
		if (!step.held && steps.length > 1 && !steps[steps.length - 2].held) break;
	}
	return { steps, most_held: Math.max(0, ...steps.filter((s) => s.held).map((s) => s.users)) };
}

// (C4) hold HOLD streams through the relay and sample its PSS.
async function hold(ip, t, expect) {
	const relay = infrpoolPids(ip).relay[0];
	await sleep(2000);
	const idle = pssKiB(relay);
	let peak = idle, stop = false;
	const sampler = (async () => {
		while (!stop) { peak = Math.max(peak, pssKiB(relay)); await sleep(250); }
	})();
	const x = await load(t, ['--stream', String(HOLD), '--ramp', String(HOLD_RAMP), '--expect', String(expect),
		'--timeout', '120'], 600000);
	stop = true;
	await sampler;
	const per = (peak - idle) / x.peak_open * 1000;
	return { streams: HOLD, peak_open: x.peak_open, lost: x.lost, errors: x.errors + x.timeouts,
		idle_pss_kib: idle, peak_pss_kib: peak, pss_kib_per_1000: per, pss_kib_per_stream: per / 1000,
		whole_pss_kib_per_stream: peak / x.peak_open };
}

async function main() {
	const mocks = { c: await startMock('c'), hold: await startMock('hold') };
	let ip;
	try {
		const floor = await startFloor({ c: mocks.c });
		// Declared slots for every stream of the top level (and of the hold),
		// as the floor has no limit: 1,024 a node.
		const slots = (n) => Math.ceil(n / 1024) + 1;
		ip = await startInfrpool(mocks, { workerModes: ['c'],
			nodes: { c: slots(Math.max(...CAP_LEVELS)), hold: slots(HOLD) } });
		const portkey = await startPortkey();
		const result = { benchmark: 'streaming', machine: machine() };
		const t = targets('c', { mocks, floor, ip, portkey });
		const cal = await load(t.direct, ['--stream', '1', '--count', '1']);
		const expect = cal.events_max;
		result.events_per_stream = expect;
		result.one_at_a_time = await oneAtATime(t, expect);
		const o = result.one_at_a_time;
		table(`(C) streams one at a time, mode (c); median of ${ROUNDS} rounds × ${PER_ROUND} streams, ms`,
			['system', 'TTFT p50', 'added TTFT', 'gap p99', 'added gap p99', 'lost'],
			Object.entries(o).map(([n, v]) => [n, v.ttft_p50_ms, v.added_ttft_ms, v.gap_p99_ms, v.added_gap_p99_ms, v.lost]));
		result.ratios = {
			infrpool_over_floor_ttft: o.infrpool.added_ttft_ms / o.floor.added_ttft_ms,
			portkey_over_infrpool_ttft: o.portkey.added_ttft_ms / o.infrpool.added_ttft_ms,
		};
		table('ratios', ['ratio', 'added TTFT'], [
			['infrpool ÷ floor', result.ratios.infrpool_over_floor_ttft],
			['Portkey ÷ infrpool', result.ratios.portkey_over_infrpool_ttft]]);
		const relayT = { ...t.infrpool, url: `${ip.stack.env.INFRPOOL_RELAY_URL}/v1/chat/completions` };
		result.capacity = {};
		for (const [name, target] of [['infrpool-relay', relayT], ['floor', t.floor], ['portkey', t.portkey]]) {
			console.error(`capacity: ${name}`);
			result.capacity[name] = await capacity(target, expect);
		}
		table(`(C) most concurrent streams held with no lost chunk (levels ${CAP_LEVELS.join(', ')}; ${CAP_S} s each)`,
			['system', 'most held', 'TTFT p99 ms', 'gap p99 ms'],
			Object.entries(result.capacity).map(([n, v]) => {
				const s = v.steps.find((x) => x.users === v.most_held) ?? {};
				return [n, v.most_held, s.ttft_p99_ms ?? NaN, s.gap_p99_ms ?? NaN];
			}));
		const holdT = { ...relayT, body: (await import('./lib.mjs')).bodyFile('hold', 'bench/hold') };
		result.hold = await hold(ip, holdT, expect);
		const h = result.hold;
		table(`(C) ${h.streams} streams held open through one relay (mode hold: one delta a second)`,
			['streams open', 'lost', 'errors', 'relay PSS idle KiB', 'peak KiB', 'KiB per 1,000', 'KiB per stream'],
			[[h.peak_open, h.lost, h.errors, h.idle_pss_kib, h.peak_pss_kib, h.pss_kib_per_1000, h.pss_kib_per_stream]]);
		result.targets = { streams_10000: h.peak_open >= 10000 && h.lost === 0 && h.errors === 0,
			pss_le_64kib_per_stream: h.pss_kib_per_stream <= 64 };
		console.log(`\ntarget: 10,000 concurrent streams through one relay: ${h.peak_open} held ` +
			`${result.targets.streams_10000 ? 'met' : 'MISSED'}; ≤ 64 KiB PSS a stream: ` +
			`${h.pss_kib_per_stream.toFixed(1)} KiB ${result.targets.pss_le_64kib_per_stream ? 'met' : 'MISSED'}`);
		result.machine.loadavg_after = machine().loadavg;
		save('streaming', result);
	} finally {
		await stopAll(ip);
	}
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
