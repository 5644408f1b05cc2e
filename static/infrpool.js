// infrpool.js: small progressive enhancements; every page works without it.
//
// A link marked data-go is followed at once (a form may not lead off the
// site, so the way to the payment page is a link). Elements marked data-copy get a "Copy" button that puts their text on
// the clipboard, for API keys, node tokens and commands.
'use strict';

document.addEventListener('DOMContentLoaded', function () {
	// A link marked data-go is where the page sends you next (the payment page).
	var go = document.querySelector('a[data-go]');
	if (go)
		window.location.assign(go.href);
	document.querySelectorAll('[data-copy]').forEach(function (el) {
		if (!navigator.clipboard)
			return;
		var b = document.createElement('button');
		b.type = 'button';
		b.className = 'copy secondary';
		b.textContent = 'Copy';
		b.setAttribute('aria-label', 'Copy to the clipboard');
		b.addEventListener('click', function () {
			navigator.clipboard.writeText(el.textContent.trim()).then(function () {
				b.textContent = 'Copied';
				setTimeout(function () { b.textContent = 'Copy'; }, 2000);
			}, function () {
				b.textContent = 'Select and copy by hand';
			});
		});
		el.insertAdjacentElement('afterend', b);
	});
});
