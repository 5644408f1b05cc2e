// client.mjs: an HTTP client that keeps cookies like a browser session, for
// tests of pages and session-authenticated APIs.
export class Client {
	constructor(base) {
		this.base = base;
		this.cookies = new Map();
		this.setCookies = [];	// raw Set-Cookie lines of the last response
	}

	cookieHeader() {
		return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
	}

	remember(res) {
		this.setCookies = res.headers.getSetCookie ? res.headers.getSetCookie() : [];
		for (const line of this.setCookies) {
			const [pair, ...attrs] = line.split(';');
			const i = pair.indexOf('=');
			const name = pair.slice(0, i).trim(), value = pair.slice(i + 1).trim();
			if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '')
				this.cookies.delete(name);
			else
				this.cookies.set(name, value);
		}
	}

	async request(method, path, { form, json, headers = {} } = {}) {
		const h = { ...headers };
		let body;
		if (this.cookies.size) h.cookie = this.cookieHeader();
		if (form) {
			body = new URLSearchParams(form).toString();
			h['content-type'] = 'application/x-www-form-urlencoded';
		} else if (json !== undefined) {
			body = JSON.stringify(json);
			h['content-type'] = 'application/json';
		}
		const res = await fetch(this.base + path, { method, body, headers: h, redirect: 'manual' });
		this.remember(res);
		res.text_ = await res.text();
		return res;
	}

	get(path, opts) { return this.request('GET', path, opts); }
	post(path, opts) { return this.request('POST', path, opts); }

	// The CSRF token of the first form on a page.
	static csrfOf(html) {
		const m = /name="csrf" value="([^"]+)"/.exec(html);
		return m ? m[1] : null;
	}

	// GET a form page and POST it with its CSRF token and the fields.
	async submit(formPath, action, fields) {
		const page = await this.get(formPath);
		return this.post(action, { form: { csrf: Client.csrfOf(page.text_), ...fields } });
	}

	async signup(email, password) {
		const res = await this.submit('/signup', '/signup', { email, password });
		if (res.status !== 303) throw new Error(`signup ${res.status}: ${res.text_.slice(0, 300)}`);
		return res;
	}

	async login(email, password) {
		return this.submit('/login', '/login', { email, password });
	}

	// The session's CSRF token, for JSON calls (X-CSRF-Token).
	async csrf() {
		const res = await this.get('/v1/me');
		return JSON.parse(res.text_).csrf_token;
	}
}

let counter = 0;
export function uniqueEmail(tag = 'user') {
	counter += 1;
	return `${tag}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 7)}@example.test`;
}
