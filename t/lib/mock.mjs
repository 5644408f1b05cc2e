// mock.mjs: start and drive the mock model server (t/mock/infrpool-mock).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { builddir, waitFor } from './stack.mjs';

// 12000–16999: below the ephemeral range, apart from ./dev's 20000–31999.
let nextPort = 12000 + Math.floor(Math.random() * 4000);

// Start a mock on a fresh loopback port; resolves to a handle.
export async function startMock(args = []) {
	const port = nextPort++;
	const child = spawn(join(builddir, 't', 'mock', 'infrpool-mock'),
		['--listen', `127.0.0.1:${port}`, '--quiet', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
	let log = '';
	child.stderr.on('data', (d) => { log += d; });
	const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
	const url = `http://127.0.0.1:${port}`;
	await waitFor(async () => {
		try { return (await fetch(`${url}/mock/stats`)).ok; } catch { return false; }
	}, 10000, 'the mock model server');
	const post = async (path, body) => {
		const res = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body ?? {}),
			headers: { 'content-type': 'application/json' } });
		if (!res.ok) throw new Error(`${path}: ${res.status}`);
	};
	return {
		url, port, base: `${url}/v1`,
		control: (body) => post('/mock/control', body),
		reset: () => post('/mock/reset'),
		stats: async () => (await fetch(`${url}/mock/stats`)).json(),
		log: () => log,
		async stop() {
			child.kill('SIGTERM');
			return exited;
		},
	};
}
