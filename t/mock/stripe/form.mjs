// form.mjs: the fake Stripe's request side: bodies form-encoded with
// Stripe's bracket notation (metadata[k]=v, line_items[0][quantity]=1),
// parameters checked against a per-endpoint schema, and errors shaped and
// worded as Stripe's v1 API sends them.

// An API error: status, Stripe's error object; replay says whether an
// Idempotency-Key keeps it (Stripe keeps results once an endpoint ran, not
// the refusals of parameter validation).
export class ApiError extends Error {
	constructor(status, error, replay = false) {
		super(error.message);
		this.status = status;
		this.error = { type: 'invalid_request_error', ...error };
		this.replay = replay;
	}
}

// A 400 invalid_request_error naming param (and code, when Stripe has one).
export const invalid = (message, param, code) =>
	new ApiError(400, { message, ...(code ? { code } : {}), ...(param ? { param } : {}) });
export const missing = (param) =>
	invalid(`Missing required param: ${param}.`, param, 'parameter_missing');
export const noSuch = (what, id, param, status = 400) =>
	new ApiError(status, { code: 'resource_missing', message: `No such ${what}: '${id}'`, param });

// The nested object a form body stands for. "a[b][0][c]=v" sets
// a.b[0].c; "a[]=v" appends; objects whose keys are all indexes become
// arrays. Throws ApiError on a key that is both a value and an object.
export function parseForm(body) {
	const root = {};
	for (const [k, v] of new URLSearchParams(body)) {
		const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(k);
		if (!m) throw invalid(`Invalid parameter name: ${k}`, k);
		const path = [m[1], ...[...m[2].matchAll(/\[([^[\]]*)\]/g)].map((s) => s[1])];
		if (path.includes('__proto__')) throw invalid(`Invalid parameter name: ${k}`, k);
		let node = root;
		for (let i = 0; i < path.length - 1; i++) {
			const seg = path[i] === '' ? String(Object.keys(node).length) : path[i];
			if (node[seg] === undefined) node[seg] = {};
			if (typeof node[seg] !== 'object') throw invalid(`Invalid object: ${path.slice(0, i + 1).join('.')}`, k);
			node = node[seg];
		}
		const last = path.at(-1) === '' ? String(Object.keys(node).length) : path.at(-1);
		if (typeof node[last] === 'object') throw invalid(`Invalid string: ${k}`, k);
		node[last] = v;
	}
	return arrays(root);
}

// Turn {0:…,1:…} into […] all the way down.
function arrays(o) {
	if (typeof o !== 'object') return o;
	const keys = Object.keys(o);
	for (const k of keys) o[k] = arrays(o[k]);
	if (keys.length && keys.every((k) => /^\d+$/.test(k)))
		return keys.sort((a, b) => a - b).map((k) => o[k]);
	return o;
}

// The bracket name of a nested parameter: name(['line_items', 0, 'quantity']).
export const name = (path) => path.map((p, i) => (i ? `[${p}]` : p)).join('');

// Check value against spec and return it typed. Specs: 'string',
// 'integer', 'boolean', 'metadata' (string map, "" deletes), 'any', an
// object of specs (unknown keys refused), [spec] (a list).
export function check(value, spec, path) {
	const p = name(path);
	if (spec === 'any') return value;
	if (spec === 'string') {
		if (typeof value !== 'string') throw invalid(`Invalid string: ${JSON.stringify(value)}`, p);
		return value;
	}
	if (spec === 'integer') {
		if (typeof value !== 'string' || !/^-?\d+$/.test(value))
			throw invalid(`Invalid integer: ${typeof value === 'string' ? value : 'object'}`, p, 'parameter_invalid_integer');
		return Number(value);
	}
	if (spec === 'boolean') {
		if (value !== 'true' && value !== 'false') throw invalid(`Invalid boolean: ${value}`, p);
		return value === 'true';
	}
	if (spec === 'metadata') return metadata(value, p);
	if (Array.isArray(spec)) {
		if (!Array.isArray(value)) throw invalid(`Invalid array`, p);
		return value.map((v, i) => check(v, spec[0], [...path, i]));
	}
	if (typeof value !== 'object' || Array.isArray(value)) throw invalid(`Invalid hash`, p);
	const out = {};
	for (const [k, v] of Object.entries(value)) {
		if (!Object.hasOwn(spec, k)) throw invalid(`Received unknown parameter: ${name([...path, k])}`,
			name([...path, k]), 'parameter_unknown');
		out[k] = check(v, spec[k], [...path, k]);
	}
	return out;
}

// Stripe's metadata: at most 50 keys of 40 characters, values of 500.
function metadata(value, p) {
	if (value === '') return {};
	if (typeof value !== 'object' || Array.isArray(value)) throw invalid('Invalid hash', p);
	const out = {};
	for (const [k, v] of Object.entries(value)) {
		if (typeof v !== 'string') throw invalid(`Invalid string: ${JSON.stringify(v)}`, `${p}[${k}]`);
		if (k.length > 40) throw invalid(`Metadata keys can have up to 40 characters: ${k}`, `${p}[${k}]`);
		if (v.length > 500) throw invalid('Metadata values can have up to 500 characters', `${p}[${k}]`);
		if (v !== '') out[k] = v;
	}
	if (Object.keys(out).length > 50) throw invalid('Metadata can have up to 50 keys', p);
	return out;
}

// Stripe's ids: prefix and 24 random base-62 characters.
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export function newId(prefix, n = 24) {
	const bytes = crypto.getRandomValues(new Uint8Array(n));
	return prefix + Array.from(bytes, (b) => ALNUM[b % 62]).join('');
}

// Seconds since the epoch, as every Stripe timestamp.
export const now = () => Math.floor(Date.now() / 1000);

const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf',
	'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);
const SYMBOL = { usd: '$', eur: '€', gbp: '£' };

// An amount in the smallest unit as Stripe words it: "$10.00", "12.50 CHF".
export function money(amount, currency) {
	const n = ZERO_DECIMAL.has(currency) ? String(amount) : (amount / 100).toFixed(2);
	return SYMBOL[currency] ? `${SYMBOL[currency]}${n}` : `${n} ${currency.toUpperCase()}`;
}
