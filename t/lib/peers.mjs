// peers.mjs: the official client libraries the tests use as real peers,
// installed by ./dev test into t/node_modules. INFRPOOL_NODE_MODULES points
// there when the tests run from another tree (make distcheck).
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const modules = process.env.INFRPOOL_NODE_MODULES ??
	new URL('../node_modules', import.meta.url).pathname;

// The openai package's default export: the OpenAI client class.
export async function OpenAI() {
	const pkg = join(modules, 'openai', 'index.mjs');
	return (await import(pathToFileURL(pkg).href)).default;
}

// The jose package (JWS and JWKS), for verifying signed receipts.
export async function jose() {
	return import(pathToFileURL(join(modules, 'jose', 'dist', 'webapi', 'index.js')).href);
}

// A CommonJS package from the same node_modules: html-validate,
// playwright-core.
export function requirePeer(name) {
	return createRequire(join(modules, 'noop.js'))(name);
}
