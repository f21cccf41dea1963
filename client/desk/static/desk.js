// Confide Desk: the one script (K3 fills it in). Plain JavaScript, no build step; nothing is ever written to
// localStorage, sessionStorage, IndexedDB, caches or a service worker. fetch/XHR send the CSRF token from
// <meta name="csrf-token"> in the X-CSRF-Token header.
"use strict";
