// atomic.mjs: write a small file (a pidfile, a port file) so that whoever
// waits for it never reads it empty: the text goes to a temporary name,
// which is then renamed over the path in one step.
import { renameSync, writeFileSync } from 'node:fs';

export function writeAtomic(path, text) {
	const tmp = `${path}.${process.pid}.tmp`;
	writeFileSync(tmp, text);
	renameSync(tmp, path);
}
