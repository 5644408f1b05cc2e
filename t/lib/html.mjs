// html.mjs: every page the tests fetch is checked against the HTML standard
// with html-validate (its "standard" preset: conformance, not taste).
import assert from 'node:assert/strict';
import { requirePeer } from './peers.mjs';

let validator;

async function load() {
	if (!validator) {
		const { HtmlValidate } = requirePeer('html-validate');
		validator = new HtmlValidate({ extends: ['html-validate:standard'] });
	}
	return validator;
}

// The problems html-validate finds in html, as "line:col rule message" lines.
export async function htmlProblems(html, name = 'page') {
	const report = await (await load()).validateString(html, name);
	return report.results.flatMap((r) => r.messages.map((m) =>
		`${m.line}:${m.column} ${m.ruleId} ${m.message}`));
}

// Fail unless html is a valid document; name says which page.
export async function assertValidHtml(html, name) {
	const problems = await htmlProblems(html, name);
	assert.deepEqual(problems, [], `${name} is not valid HTML:\n${problems.join('\n')}`);
}
