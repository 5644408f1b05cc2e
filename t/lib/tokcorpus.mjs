// tokcorpus.mjs: a seeded corpus of texts that are hard to tokenize, for
// the tokenizer test (t/integration/tokenizer.test.mjs) and the benchmark
// (bench/tokenize): English prose, CJK, Arabic and other scripts with
// combining marks, emoji with ZWJ sequences, code, whitespace runs, numbers,
// special-token look-alikes, mixed scripts and very long words.
//
// Left out on purpose: U+0085, U+180E and U+FEFF, where the JavaScript peer's
// \s differs from the model's own tokenizer (docs/tokens.md), and characters
// assigned after Unicode 14 (PCRE2 on Debian 12 does not know them yet).

// mulberry32: a small PRNG, so that a seed gives the same corpus everywhere.
export function rng(seed) {
	let a = seed >>> 0;
	const next = () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
	const pick = (arr) => arr[Math.floor(next() * arr.length)];
	return { next, int, pick };
}

const WORDS = ('the of and to in is was that for it with as his on be at by had are but from or ' +
	'have an they which one you were all her she there would their we him been has when who ' +
	'will no more if out so up said what its about than into them can only other time new some ' +
	'could these two may first then do any like my now over such our man me even most made after ' +
	'also did many before must through back years where much your way well down should because ' +
	'each just those people Mr how too little state good very make world still own see men work ' +
	'long get here between both life being under never day same another know while last might us ' +
	'great old year off come since against go came right used take three tokenizer marketplace ' +
	'inference gateway supplier consumer receipt settlement Kubernetes JavaScript naïve café résumé ' +
	'coöperate façade jalapeño Zürich São Paulo Straße Ærøskøbing').split(' ');
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'LL", "n't", "’s"];
const PUNCT = ['.', ',', '!', '?', ';', ':', '…', '—', '–', '-', '"', '“', '”', '‘', '’', '(', ')',
	'[', ']', '{', '}', '«', '»', '¿', '¡', '/', '\\', '*', '&', '%', '$', '€', '£', '¥', '@', '#', '~', '^'];
const SPECIALS = ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<|begin_of_text|>', '<|end_of_text|>',
	'<|eot_id|>', '<|start_header_id|>', '<|end_header_id|>', '<|reserved_special_token_5|>',
	'<s>', '</s>', '<unk>', '<think>', '</think>', '<tool_call>', '</tool_call>',
	'<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜User｜>', '<｜Assistant｜>', '<|fim_prefix|>',
	'<|startoftext|>', '<|return|>', '<|channel|>', '<|message|>', '<|constrain|>',
	'[INST]', '[/INST]', '<<SYS>>', '<0x41>', '<0xFF>', '▁', '▁▁', 'Ġ', 'Ċ',
	'<|im_sta', '<|im_start|', 'im_start|>', '<<|im_start|>>', '<| im_start |>', '<|IM_START|>'];
const EMOJI = ['😀', '😂', '🥲', '👍', '👍🏽', '👍🏿', '❤️', '❤', '🔥', '✨', '🎉', '🇫🇷', '🇯🇵', '🇺🇸', '🏳️‍🌈',
	'👨‍👩‍👧‍👦', '👩‍💻', '🧑🏾‍🚀', '👁️‍🗨️', '🤷‍♀️', '1️⃣', '#️⃣', '©️', '™️', '🐈‍⬛', '🫠', '🦀', '🚀', '☕', '🙏🏻'];
const CODE = [
	'int main(int argc, char **argv)\n{\n\treturn 0;\n}\n',
	'def f(x):\n    if x <= 0:\n        return []\n    return [i * i for i in range(x)]  # squares\n',
	'const xs = await Promise.all(items.map(async (it) => fetch(`/api/${it.id}?q=${encodeURIComponent(q)}`)));\n',
	'SELECT id, name FROM users WHERE created_at >= $1 AND email ILIKE \'%@example.com\';\n',
	'for (size_t i = 0; i < n; i++) {\n\t\tif (buf[i] == \'\\n\') lines++;\n}\n',
	'<div class="card"><a href="https://example.com/a?b=1&amp;c=2">link</a></div>\n',
	'{"model":"qwen3","messages":[{"role":"user","content":"hi"}],"max_tokens":128,"stream":true}',
	'fn main() -> Result<(), Box<dyn std::error::Error>> {\n    println!("{:?}", vec![1, 2, 3]);\n    Ok(())\n}\n',
	'    \t  x += y->z; // trailing spaces   \r\n',
	'$ curl -sS -H "Authorization: Bearer sk-abc123" https://api.example.com/v1/chat/completions | jq .\n',
	'#!/bin/sh\nset -eu\n[ -f "$1" ] || { echo "usage: $0 FILE" >&2; exit 2; }\n',
	'a=1;b=2;c=a<<b|~a&0xFF^0b1010;d=a!==b&&c>=3||!d;e=x?.y??z;f=`${a}`;',
];
const WHITES = [' ', '  ', '   ', '\t', '\n', '\r\n', '\n\n', '\u00a0', '\u3000', '\u2009', '\u2028',
	'\u2029', '\u202f', '\u200b', '\v', '\f', '\r'];
// Ranges of code points to draw letters from: [first, last].
const SCRIPTS = {
	cjk: [[0x4e00, 0x9fa5]], hiragana: [[0x3041, 0x3096]], katakana: [[0x30a1, 0x30fa]],
	hangul: [[0xac00, 0xd7a3]], arabic: [[0x0621, 0x063a], [0x0641, 0x064a]],
	arabicMarks: [[0x064b, 0x0652]], hebrew: [[0x05d0, 0x05ea]], cyrillic: [[0x0410, 0x044f]],
	greek: [[0x0391, 0x03a9], [0x03b1, 0x03c9]], devanagari: [[0x0915, 0x0939]],
	devaMarks: [[0x093e, 0x094d]], thai: [[0x0e01, 0x0e2e], [0x0e30, 0x0e39]],
	latinExt: [[0x00c0, 0x00ff], [0x0100, 0x017f]], combining: [[0x0300, 0x036f]],
	math: [[0x1d400, 0x1d6a3]], symbols: [[0x2190, 0x21ff], [0x2200, 0x22ff], [0x2500, 0x257f]],
	fullwidth: [[0xff01, 0xff5e]], cjkExtB: [[0x20000, 0x2a6df]], hangulJamo: [[0x1100, 0x1112], [0x1161, 0x1175]],
};

// The generators, each (r) => text.
function letters(r, script, n) {
	let s = '';
	for (let i = 0; i < n; i++) {
		const [a, b] = r.pick(SCRIPTS[script]);
		s += String.fromCodePoint(r.int(a, b));
	}
	return s;
}

function prose(r, nwords = r.int(3, 80)) {
	let s = '';
	for (let i = 0; i < nwords; i++) {
		let w = r.pick(WORDS);
		const x = r.next();
		if (x < 0.08) w = w[0].toUpperCase() + w.slice(1);
		else if (x < 0.1) w = w.toUpperCase();
		if (r.next() < 0.05) w += r.pick(CONTRACTIONS);
		s += (i ? ' ' : '') + w;
		if (r.next() < 0.12) s += r.pick(PUNCT);
	}
	return s + r.pick(['.', '!', '?', '', '\n']);
}

function cjk(r) {
	const n = r.int(1, 60);
	let s = '';
	while (s.length < n) {
		const k = r.pick(['cjk', 'cjk', 'hiragana', 'katakana', 'hangul', 'cjkExtB']);
		s += letters(r, k, r.int(1, 8));
		if (r.next() < 0.3) s += r.pick(['。', '、', '「', '」', '！', '？', '，', '：', ' ', '\n', '（', '）']);
		if (r.next() < 0.1) s += r.pick(WORDS);
	}
	return s;
}

function rtl(r) {
	let s = '';
	const n = r.int(1, 30);
	for (let i = 0; i < n; i++) {
		s += letters(r, r.pick(['arabic', 'arabic', 'hebrew']), r.int(1, 9));
		if (r.next() < 0.3) s += letters(r, 'arabicMarks', 1);
		if (r.next() < 0.1) s += r.pick(['٠١٢٣', '٤٥٦٧٨٩', '۱۲۳', '،', '؟', '؛']);
		s += r.pick([' ', ' ', ' ', '\n', '. ', ' (', ') ']);
	}
	return s;
}

function otherScripts(r) {
	let s = '';
	const n = r.int(1, 20);
	for (let i = 0; i < n; i++) {
		const k = r.pick(['cyrillic', 'greek', 'devanagari', 'thai', 'latinExt']);
		s += letters(r, k, r.int(1, 10));
		if (k === 'devanagari' && r.next() < 0.7) s += letters(r, 'devaMarks', r.int(1, 2));
		s += r.pick([' ', ' ', ', ', '\n', '']);
	}
	return s;
}

// Text whose normal form differs: decomposed accents, marks out of canonical
// order, Hangul jamo, singletons (Angstrom, Kelvin, Ohm).
function unnormalized(r) {
	let s = '';
	const n = r.int(1, 25);
	for (let i = 0; i < n; i++) {
		const x = r.next();
		if (x < 0.3) s += r.pick(['e', 'a', 'o', 'u', 'n', 'A', 'E', 'c', 'z']) + letters(r, 'combining', r.int(1, 3));
		else if (x < 0.45) s += letters(r, 'hangulJamo', r.int(2, 3));
		else if (x < 0.55) s += r.pick(['\u212b', '\u212a', '\u2126', '\u1e9b\u0323', 'q\u0307\u0323', '\ufb01', '\u00c5']);
		else if (x < 0.7) s += 'e\u0301' + r.pick(WORDS);
		else s += r.pick(WORDS);
		s += r.pick([' ', '', ' ', '\n']);
	}
	return s;
}

function emoji(r) {
	let s = '';
	const n = r.int(1, 25);
	for (let i = 0; i < n; i++) {
		s += r.pick(EMOJI);
		if (r.next() < 0.4) s += r.pick([' ', '', '\n', ' ' + r.pick(WORDS) + ' ']);
	}
	return s;
}

function code(r) {
	let s = '';
	const n = r.int(1, 6);
	for (let i = 0; i < n; i++) {
		let c = r.pick(CODE);
		if (r.next() < 0.3) c = c.replace(/^/gm, () => r.pick(['', '    ', '\t', '        ']));
		s += c;
	}
	return s;
}

function whitespace(r) {
	let s = '';
	const n = r.int(1, 12);
	for (let i = 0; i < n; i++) {
		const w = r.pick(WHITES);
		s += w.repeat(r.next() < 0.3 ? r.int(10, 400) : r.int(1, 6));
		if (r.next() < 0.6) s += r.pick(WORDS) + r.pick(['', '.', '!', ':']);
	}
	return s;
}

function digits(r, n) {
	let s = '';
	for (let i = 0; i < n; i++) s += String(r.int(0, 9));
	return s;
}

function numbers(r) {
	let s = '';
	const n = r.int(1, 20);
	for (let i = 0; i < n; i++) {
		const x = r.next();
		if (x < 0.4) s += digits(r, r.int(1, 40));
		else if (x < 0.55) s += '-' + digits(r, r.int(1, 4)) + '.' + digits(r, r.int(1, 12));
		else if (x < 0.65) s += Number(r.int(0, 1e9)).toLocaleString('en-US');
		else if (x < 0.72) s += r.pick(['１２３', '٣٤٥', '१२३', '①②', 'Ⅻ', '½', '²³', '𝟙𝟚𝟛']);
		else if (x < 0.8) s += '0x' + r.int(0, 0xffffff).toString(16);
		else if (x < 0.9) s += digits(r, 4) + '-' + digits(r, 2) + '-' + digits(r, 2) + 'T' + digits(r, 2) + ':' + digits(r, 2);
		else s += r.pick(WORDS) + digits(r, r.int(1, 6));
		s += r.pick([' ', ', ', '\n', '', '$', '%', ' + ', '=']);
	}
	return s;
}

function specials(r) {
	let s = '';
	const n = r.int(1, 15);
	for (let i = 0; i < n; i++) {
		s += r.pick(SPECIALS);
		if (r.next() < 0.6) s += r.pick(['', ' ', '\n', 'user\n', 'assistant', r.pick(WORDS), ' ' + prose(r, 3)]);
	}
	return s;
}

function longWord(r) {
	const x = r.next();
	const n = r.int(100, 3000);
	if (x < 0.2) return r.pick(['a', 'x', '=', '-', '.', '9', '我', '🙂', ' ']).repeat(n);
	if (x < 0.4) {
		const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
		let s = '';
		for (let i = 0; i < n; i++) s += abc[r.int(0, abc.length - 1)];
		return s + '==';
	}
	if (x < 0.6) return 'https://example.com/' + Array.from({ length: r.int(5, 60) }, () => r.pick(WORDS)).join('/') + '?q=' + digits(r, 30);
	if (x < 0.8) return Array.from({ length: r.int(20, 300) }, () => r.pick(WORDS)).join('');
	return letters(r, r.pick(['cjk', 'arabic', 'cyrillic', 'thai', 'hangul']), r.int(50, 800));
}

function controls(r) {
	let s = '';
	const n = r.int(1, 20);
	for (let i = 0; i < n; i++) {
		s += r.pick(['\0', '\x01', '\x07', '\x1b[31m', '\x7f', '\u0080', '\u00ad', '\u200d', '\u200e', '\u2060', '\ufffd', '\uffff']);
		if (r.next() < 0.7) s += r.pick(WORDS) + r.pick([' ', '']);
	}
	return s;
}

const KINDS = [prose, prose, cjk, rtl, otherScripts, unnormalized, emoji, code, whitespace, numbers,
	specials, longWord, controls];

// A mixed text: pieces of several kinds, glued with or without spaces.
function mixed(r) {
	let s = '';
	const n = r.int(2, 6);
	for (let i = 0; i < n; i++) {
		const piece = r.pick(KINDS)(r);
		// Cut at a code point, never inside a surrogate pair.
		s += (r.next() < 0.5 ? ' ' : '') + Array.from(piece).slice(0, r.int(1, 400)).join('');
	}
	return s;
}

// count texts for seed: a fixed share of each kind, then mixed ones.
export function corpus(seed, count) {
	const r = rng(seed);
	const texts = ['', ' ', '\n', 'a', 'Hello, world!', '<|im_start|>', ' <|im_start|> ', '  hello   world  '];
	const all = [...KINDS, mixed, mixed, mixed];
	while (texts.length < count) texts.push(all[texts.length % all.length](r));
	return texts;
}

// count texts of one kind ('prose', 'cjk', 'code', ...) for seed.
export function ofKind(seed, kind, count) {
	const gen = { prose, cjk, rtl, otherScripts, unnormalized, emoji, code, whitespace, numbers,
		specials, longWord, controls, mixed }[kind];
	if (!gen) throw new Error(`no kind ${kind}`);
	const r = rng(seed);
	return Array.from({ length: count }, () => gen(r));
}
