// wire.mjs: the fake Tremendous's wire-level pieces: errors shaped as
// Tremendous sends them ({"errors":{"message","payload"}}), its ids, its
// timestamps, money in cents and the request checks POST /orders needs.

// An API error: status and Tremendous's error object. payload mirrors the
// request body, holding a message where a field was wrong.
export class ApiError extends Error {
	constructor(status, message, payload = {}) {
		super(message);
		this.status = status;
		this.errors = { message, payload };
	}
}

export const notFound = (what = 'Resource') => new ApiError(404, `${what} not found`);

// Tremendous's ids: 12 upper-case letters and digits ("2V3PCCL7QXDA").
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
export function newId(n = 12) {
	const bytes = crypto.getRandomValues(new Uint8Array(n));
	return Array.from(bytes, (b) => ALNUM[b % 36]).join('');
}
export const isId = (s) => /^[A-Z0-9]{4,40}$/.test(s ?? '');

// A date-time as the API sends one (ISO 8601, UTC, milliseconds).
export const now = () => new Date().toISOString();

// A webhook's created_utc, as in the docs' example
// ("2021-04-06T20:05:01.037-04:00"): milliseconds and a numeric offset.
export const createdUtc = () => new Date().toISOString().replace(/Z$/, '+00:00');

// Cents as the API writes amounts: a JSON number in dollars (12.34).
export const dollars = (cents) => Math.round(cents) / 100;

// A denomination's cents, or null unless it is a number above zero with at
// most two decimals.
export function cents(d) {
	if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0) return null;
	const c = Math.round(d * 100);
	return Math.abs(c - d * 100) < 1e-6 && c > 0 ? c : null;
}

export const isEmail = (s) => typeof s === 'string' && s.length <= 254 &&
	/^[^\s@"<>,;]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/.test(s);

// JSON with keys sorted at every level: equal for equal requests however
// the client ordered its keys.
export function canonical(v) {
	if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
	if (v && typeof v === 'object')
		return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
	return JSON.stringify(v);
}

// Collects what is wrong with a request: missing (the field is absent, or
// names something that does not exist: 422) or invalid (present but wrong:
// 400), each message set at its path in a payload that mirrors the body.
export class Problems {
	constructor() {
		this.payload = {};
		this.missing = false;
		this.count = 0;
	}

	add(path, message, missing = false) {
		let node = this.payload;
		for (const k of path.slice(0, -1)) node = node[k] ??= {};
		node[path.at(-1)] = message;
		this.missing ||= missing;
		this.count++;
	}

	// Throw the collected problems, if any: 422 when something was missing,
	// else 400; message as the docs' example.
	check() {
		if (this.count)
			throw new ApiError(this.missing ? 422 : 400, 'Order failed: validation failure', this.payload);
	}
}
