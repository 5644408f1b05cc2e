// tokenizer.test.mjs: our token counts are the real tokenizer's. Every family
// we ship (the @lenml/tokenizer-* packages in t/package.json) counts a seeded
// corpus of several thousand hard texts (t/lib/tokcorpus.mjs) with
// @lenml/tokenizers, a port of transformers.js, and with src/lib/tok (through
// t/tok/tokcount, one process for the whole corpus): every count must agree.
// Then infrpoolctl tokens count: [tokenizers] dir, --dir, and its refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { builddir, scratch, srcdir } from '../lib/stack.mjs';
import { corpus } from '../lib/tokcorpus.mjs';

const modules = process.env.INFRPOOL_NODE_MODULES ?? join(srcdir, 't', 'node_modules');
const tokcount = join(builddir, 't', 'tok', 'tokcount');
const ctl = join(builddir, 'src', 'ctl', 'infrpoolctl');
const TEXTS = 4000;

// The families: every @lenml/tokenizer-NAME the tests depend on.
const families = Object.keys(JSON.parse(readFileSync(join(srcdir, 't', 'package.json'), 'utf8')).dependencies)
	.map((p) => /^@lenml\/tokenizer-(.+)$/.exec(p)?.[1]).filter(Boolean);
const model = (family, file) => join(modules, '@lenml', `tokenizer-${family}`, 'models', file);

const { TokenizerLoader } = await import(pathToFileURL(join(modules, '@lenml', 'tokenizers', 'dist', 'main.mjs')).href);

// The peer's tokenizer for a family, as its package builds it.
function peer(family) {
	return TokenizerLoader.fromPreTrained({
		tokenizerJSON: JSON.parse(readFileSync(model(family, 'tokenizer.json'), 'utf8')),
		tokenizerConfig: JSON.parse(readFileSync(model(family, 'tokenizer_config.json'), 'utf8')),
	});
}

// Run a program with input on standard input; resolves to { code, stdout, stderr }.
function run(file, args, input) {
	return new Promise((resolve, reject) => {
		const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
		const out = [], err = [];
		child.stdout.on('data', (d) => out.push(d));
		child.stderr.on('data', (d) => err.push(d));
		child.on('error', reject);
		child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
		child.stdin.end(input);
	});
}

// Texts as tokcount reads them: a 4-byte little-endian length, the bytes.
function framed(texts) {
	return Buffer.concat(texts.flatMap((t) => {
		const b = Buffer.from(t, 'utf8'), h = Buffer.alloc(4);
		h.writeUInt32LE(b.length);
		return [h, b];
	}));
}

const texts = corpus(16, TEXTS);
const input = framed(texts);

test('the corpus is the one we mean: several thousand texts of every kind', () => {
	assert.equal(texts.length, TEXTS);
	assert.ok(input.length > 1_000_000, `${input.length} bytes`);
	for (const probe of ['<|im_start|>', '\u200d', '\u3000', 'e\u0301', '\u0627', '\u4e00'])
		assert.ok(texts.some((t) => t.includes(probe)), `a text holds ${JSON.stringify(probe)}`);
	assert.ok(families.includes('qwen3') && families.includes('llama3'), families.join(','));
});

for (const family of families) {
	test(`${family}: every count is the peer's (@lenml/tokenizers)`, async () => {
		const tk = peer(family);
		const want = texts.map((t) => tk.encode(t, { add_special_tokens: false }).length);
		const r = await run(tokcount, ['--file', model(family, 'tokenizer.json')], input);
		assert.equal(r.code, 0, r.stderr);
		const got = r.stdout.split('\n').slice(0, -1).map(Number);
		assert.equal(got.length, texts.length);
		const bad = [];
		for (let i = 0; i < texts.length; i++)
			if (got[i] !== want[i]) bad.push(i);
		if (bad.length > 0) {
			// Show the first few, with both encodings, to find the bug.
			const one = bad[0];
			const ids = await run(tokcount, ['--file', model(family, 'tokenizer.json'), '--ids'], framed([texts[one]]));
			const ours = ids.stdout.trim().split(' ').map(Number);
			const theirs = tk.encode(texts[one], { add_special_tokens: false });
			let k = 0;
			while (ours[k] === theirs[k]) k++;
			assert.fail(`${bad.length} of ${texts.length} counts differ, first #${one} ` +
				`${JSON.stringify(texts[one].slice(0, 120))}: ours ${got[one]}, the peer's ${want[one]}; ` +
				`first differing token ${k}: ours ${JSON.stringify(tk.model.vocab[ours[k]])}, ` +
				`the peer's ${JSON.stringify(tk.model.vocab[theirs[k]])}; ` +
				`others: ${bad.slice(1, 6).join(', ')}`);
		}
	});
}

test('infrpoolctl tokens count: [tokenizers] dir, --dir, invalid UTF-8, and clear refusals', async () => {
	const dir = scratch('tokens');
	const toks = join(dir, 'tokenizers');
	mkdirSync(join(toks, 'qwen3'), { recursive: true });
	symlinkSync(model('qwen3', 'tokenizer.json'), join(toks, 'qwen3', 'tokenizer.json'));
	mkdirSync(join(toks, 'broken'));
	writeFileSync(join(toks, 'broken', 'tokenizer.json'), '{"model": {"type": "BPE", "vocab": ');
	mkdirSync(join(toks, 'unigram'));
	writeFileSync(join(toks, 'unigram', 'tokenizer.json'), '{"model": {"type": "Unigram", "vocab": []}}');
	const conf = join(dir, 'infrpool.conf');
	writeFileSync(conf, `[db]\nconninfo = host=${dir} dbname=none\n[tokenizers]\ndir = ${toks}\n`);
	const qwen = peer('qwen3');
	const text = 'Honest tokens: <|im_start|>user\nHow many tokens is 12345 × 67? 🙂\n';

	let r = await run(ctl, ['-c', conf, 'tokens', 'count', '--family', 'qwen3'], text);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(Number(r.stdout), qwen.encode(text, { add_special_tokens: false }).length);
	r = await run(ctl, ['tokens', 'count', '--family', 'llama3', '--dir', join(modules, '@lenml')], '');
	assert.notEqual(r.code, 0, 'the layout is DIR/FAMILY/tokenizer.json');
	assert.match(r.stderr, /tokenizer .*@lenml\/llama3\/tokenizer\.json: cannot open: No such file/);
	// Bytes that are not UTF-8 count one token each, between the text's.
	r = await run(ctl, ['-c', conf, 'tokens', 'count', '--family', 'qwen3'], Buffer.from([0x68, 0x69, 0xff, 0xc3, 0x28]));
	assert.equal(r.code, 0, r.stderr);
	assert.equal(Number(r.stdout), 1 + 1 + 1 + 1);	// "hi", ff, c3, "("
	r = await run(ctl, ['-c', conf, 'tokens', 'count', '--family', 'qwen3'], '');
	assert.equal(r.stdout, '0\n');

	r = await run(ctl, ['-c', conf, 'tokens', 'count', '--family', '../etc'], 'x');
	assert.equal(r.code, 1);
	assert.match(r.stderr, /tokenizer family "\.\.\/etc": a name is letters, digits/);
	r = await run(ctl, ['-c', conf, 'tokens', 'count', '--family', 'nosuch'], 'x');
	assert.equal(r.code, 1);
	assert.match(r.stderr, new RegExp(`tokenizer ${toks}/nosuch/tokenizer.json: cannot open: No such file`));
	r = await run(ctl, ['-c', conf, 'tokens', 'count', '--family', 'broken'], 'x');
	assert.equal(r.code, 1);
	assert.match(r.stderr, /tokenizer .*broken\/tokenizer\.json: not JSON: line 1/);
	r = await run(ctl, ['-c', conf, 'tokens', 'count', '--family', 'unigram'], 'x');
	assert.equal(r.code, 1);
	assert.match(r.stderr, /unigram\/tokenizer\.json: model: only BPE models are supported, this one is "Unigram"/);
	r = await run(ctl, ['-c', conf, 'tokens', 'count'], 'x');
	assert.equal(r.code, 2);
	assert.match(r.stderr, /usage: infrpoolctl tokens count --family NAME/);
});
