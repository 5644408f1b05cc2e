// page.mjs: the fake Stripe's hosted checkout page, /c/pay/:id. A person
// pays by card, pays by bank debit (settled later by a control, or after a
// few seconds in demo mode), has the card declined or cancels; checkout()
// is the same choice for the /_fake controls.

import { money } from './form.mjs';

// Text for HTML text and double-quoted attributes.
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export const DECLINED = 'Your card has been declined.';
const DECLINE_CARD = '4000000000000002';

// Act on open session s for action ('pay', 'bank', 'bank_fail',
// 'decline', 'cancel'); card: the number typed, if any. Returns
// { outcome, redirect } where outcome is paid, processing, declined or
// canceled; redirect is where the browser goes next (null: stay).
// settleLater(s, outcome) schedules a bank debit's end in demo mode.
export function checkout(store, s, action, card, settleLater) {
	const o = s.obj;
	const digits = String(card ?? '').replace(/\D/g, '');
	if (action === 'pay' && digits === DECLINE_CARD) action = 'decline';
	const success = o.success_url.replaceAll('{CHECKOUT_SESSION_ID}', o.id);
	switch (action) {
	case 'pay':
		store.payCard(s, digits.length >= 4 ? digits.slice(-4) : '4242');
		return { outcome: 'paid', redirect: success };
	case 'bank':
	case 'bank_fail':
		store.payBank(s);
		settleLater?.(s, action === 'bank' ? 'succeeded' : 'failed');
		return { outcome: 'processing', redirect: success };
	case 'decline':
		return { outcome: 'declined', redirect: null };
	case 'cancel':
		return { outcome: 'canceled', redirect: o.cancel_url ?? null };
	default:
		return null;
	}
}

// The page for session s (null: unknown). opts: message (an alert to
// show), demo (offer a bank debit that fails). Returns { status, html }.
export function page(s, { message, demo } = {}) {
	if (!s) return { status: 404, html: doc('Not found', '<h1>Not found</h1><p>No such Checkout Session.</p>') };
	const o = s.obj;
	if (o.status !== 'open') {
		const done = o.status === 'complete';
		const back = done ? o.success_url.replaceAll('{CHECKOUT_SESSION_ID}', o.id) : o.cancel_url;
		return { status: done ? 200 : 410, html: doc(done ? 'Payment complete' : 'Session expired',
			`<h1>${done ? 'This payment is complete' : 'This Checkout Session has expired'}</h1>` +
			(back ? `<p><a href="${esc(back)}">Return to the merchant</a></p>` : '')) };
	}
	const total = money(o.amount_total, o.currency);
	const rows = s.items.map((li) => `<tr><td>${esc(li.description ?? 'Item')}</td><td>${li.quantity}</td>` +
		`<td>${esc(money(li.amount_total, li.currency))}</td></tr>`).join('');
	const alert = message ? `<p class="alert" role="alert">${esc(message)}</p>` : '';
	const fail = demo ? '<button type="submit" name="action" value="bank_fail">Pay by bank debit that will fail</button>' : '';
	return { status: message ? 402 : 200, html: doc(`Pay ${total}`, `
<p class="test">Test mode: the demo's fake Stripe. No real money moves.</p>
<h1>Pay ${esc(total)}</h1>
<table>
<caption>Order</caption>
<thead><tr><th scope="col">Item</th><th scope="col">Quantity</th><th scope="col">Amount</th></tr></thead>
<tbody>${rows}</tbody>
<tfoot><tr><th scope="row" colspan="2">Total</th><td>${esc(total)}</td></tr></tfoot>
</table>
${alert}
<form method="post" action="/c/pay/${esc(o.id)}">
<p><label for="card">Card number</label>
<input id="card" name="card" inputmode="numeric" autocomplete="cc-number" value="4242 4242 4242 4242" aria-describedby="cards"></p>
<p id="cards">Test cards: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined.</p>
<p class="buttons">
<button type="submit" name="action" value="pay">Pay</button>
<button type="submit" name="action" value="bank">Pay by bank debit</button>
${fail}
<button type="submit" name="action" value="decline">Decline card</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</p>
</form>`) };
}

// A whole document around body; title is plain text.
function doc(title, body) {
	return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · fake Stripe Checkout</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; }
.test { background: #fff3cd; padding: .5rem; border-radius: .25rem; }
.alert { color: #8a1f11; background: #fde8e4; padding: .5rem; border-radius: .25rem; }
table { width: 100%; border-collapse: collapse; margin: 1rem 0; }
th, td { text-align: left; padding: .25rem 0; }
input { font-size: 1rem; padding: .4rem; width: 100%; box-sizing: border-box; }
.buttons { display: flex; flex-wrap: wrap; gap: .5rem; }
button { font-size: 1rem; padding: .5rem 1rem; }
</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}
