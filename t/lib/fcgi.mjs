// fcgi.mjs: a minimal FastCGI client (the responder role), to talk to
// infrpool-app directly on its socket as a web server would.
import net from 'node:net';

const VERSION = 1, BEGIN = 1, END = 3, PARAMS = 4, STDIN = 5, STDOUT = 6, STDERR = 7;

function record(type, id, content) {
	const pad = (8 - (content.length % 8)) % 8;
	const h = Buffer.alloc(8);
	h.writeUInt8(VERSION, 0);
	h.writeUInt8(type, 1);
	h.writeUInt16BE(id, 2);
	h.writeUInt16BE(content.length, 4);
	h.writeUInt8(pad, 6);
	return Buffer.concat([h, content, Buffer.alloc(pad)]);
}

function lengthBytes(n) {
	if (n < 128) return Buffer.from([n]);
	const b = Buffer.alloc(4);
	b.writeUInt32BE((n | 0x80000000) >>> 0);
	return b;
}

function encodeParams(params) {
	const parts = [];
	for (const [k, v] of Object.entries(params)) {
		const kb = Buffer.from(k), vb = Buffer.from(String(v));
		parts.push(lengthBytes(kb.length), lengthBytes(vb.length), kb, vb);
	}
	return Buffer.concat(parts);
}

// Send one request; resolves to { status, headers, body }. bodyAfter: a
// promise to wait for before sending the body (the params go at once);
// contentLength: a raw CONTENT_LENGTH to send instead of the real one.
export function fcgiRequest(address, { method = 'GET', uri = '/', headers = {}, body = '',
	bodyAfter = null, contentLength = null } = {}) {
	return new Promise((resolve, reject) => {
		const sock = typeof address === 'string' ? net.connect(address) : net.connect(address.port, address.host);
		const id = 1, chunks = [];
		let buf = Buffer.alloc(0);
		const params = {
			REQUEST_METHOD: method, REQUEST_URI: uri, SERVER_PROTOCOL: 'HTTP/1.1',
			QUERY_STRING: uri.includes('?') ? uri.split('?')[1] : '',
			CONTENT_LENGTH: contentLength ?? Buffer.byteLength(body), REMOTE_ADDR: '127.0.0.1',
		};
		for (const [k, v] of Object.entries(headers))
			params['HTTP_' + k.toUpperCase().replace(/-/g, '_')] = v;
		sock.setTimeout(10000, () => { sock.destroy(); reject(new Error('fastcgi timeout')); });
		sock.on('error', reject);
		sock.on('connect', async () => {
			const begin = Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]);
			const p = encodeParams(params);
			sock.write(Buffer.concat([record(BEGIN, id, begin), record(PARAMS, id, p),
				record(PARAMS, id, Buffer.alloc(0))]));
			if (bodyAfter) await bodyAfter;
			const out = [];
			const b = Buffer.from(body);
			for (let i = 0; i < b.length; i += 65535)
				out.push(record(STDIN, id, b.subarray(i, i + 65535)));
			out.push(record(STDIN, id, Buffer.alloc(0)));
			sock.write(Buffer.concat(out));
		});
		sock.on('data', (d) => {
			buf = Buffer.concat([buf, d]);
			while (buf.length >= 8) {
				const type = buf[1], len = buf.readUInt16BE(4), pad = buf[6];
				if (buf.length < 8 + len + pad) break;
				const content = buf.subarray(8, 8 + len);
				if (type === STDOUT) chunks.push(content);
				if (type === STDERR) { /* the app writes none */ }
				buf = buf.subarray(8 + len + pad);
				if (type === END) {
					sock.end();
					const raw = Buffer.concat(chunks).toString('utf8');
					const sep = raw.indexOf('\r\n\r\n');
					const head = raw.slice(0, sep).split('\r\n'), hdrs = {};
					for (const line of head) {
						const i = line.indexOf(':');
						hdrs[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
					}
					resolve({ status: parseInt(hdrs.status, 10), headers: hdrs, body: raw.slice(sep + 4) });
				}
			}
		});
	});
}
