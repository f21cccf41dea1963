// Confide Desk: the one script. Plain JavaScript, no build step, no framework. Nothing is ever written to
// localStorage, sessionStorage, IndexedDB, caches or a service worker: every setting lives in the profile on the
// Desk's side. fetch/XHR send the CSRF token from <meta name="csrf-token"> in the X-CSRF-Token header.
"use strict";

(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  const body = document.body;
  const page = body.dataset.page || "";
  const thread = body.dataset.thread || "";

  function threadUrl(address) {
    return "/t/" + encodeURIComponent(address);
  }

  // -- fragments: the server renders, the page swaps ------------------------------------------------------
  async function refresh(id) {
    const target = document.getElementById(id);
    if (!target || !target.dataset.fragment) return;
    const response = await fetch(target.dataset.fragment, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html", "X-Desk-Background": "1" },  // not the person's activity (idle lock)
    });
    if (response.redirected || !response.ok) {
      window.location.reload();
      return;
    }
    target.innerHTML = await response.text();  // server-rendered, escaped by its templates
    tick();
  }

  async function post(url) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf, "X-Desk-Background": "1" },
    });
  }

  async function markRead() {
    if (page === "thread" && document.visibilityState === "visible") {
      await post(threadUrl(thread) + "/read");
    }
  }

  // -- disappearing countdowns --------------------------------------------------------------------------------
  function left(ms) {
    const s = Math.max(1, Math.floor(ms / 1000));
    if (s >= 86400) return Math.floor(s / 86400) + " d";
    if (s >= 3600) return Math.floor(s / 3600) + " h";
    if (s >= 60) return Math.floor(s / 60) + " min";
    return s + " s";
  }

  function tick() {
    const now = Date.now();
    let gone = false;
    document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
      const at = Number(el.dataset.expires);
      if (at <= now) {
        const item = el.closest("li.msg");
        if (item) item.remove();
        gone = true;
      } else {
        el.textContent = "Disappears in " + left(at - now);
      }
    });
    if (gone && page === "thread") refresh("messages");
  }

  // -- notifications ------------------------------------------------------------------------------------------
  function notify(text) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (document.visibilityState === "visible") return;
    // Content-free unless the person opted in (the Desk then sends the text; else it sends none).
    const options = text ? { body: text } : {};
    new Notification("New message", options);
  }

  const allow = document.getElementById("allow-notifications");
  const state = document.getElementById("notification-state");
  if (allow && "Notification" in window) {
    allow.hidden = false;
    const show = function () {
      if (state) state.textContent = "Desktop notifications: " + Notification.permission + ".";
    };
    show();
    allow.addEventListener("click", function () {
      Notification.requestPermission().then(show);
    });
  }

  // -- live stream ----------------------------------------------------------------------------------------------
  function onEvent(kind, data) {
    if (kind === "reload") {
      window.location.reload();
      return;
    }
    if (kind === "progress") {
      if (page === "thread" && data.thread === thread) sending(Number(data.percent));
      return;
    }
    if (kind === "message") notify(data.text || "");
    if (page === "inbox") {
      refresh("inbox-list");
    } else if (page === "thread" && (data.thread === thread || data.thread === "")) {
      if (kind === "message") markRead().then(function () { refresh("messages"); });
      else refresh("messages");
    }
  }

  // How far a file this Desk sends is encrypted and uploaded to the relay (after the browser's upload).
  function sending(percent) {
    const bar = document.getElementById("upload-progress");
    const status = document.getElementById("upload-status");
    if (!bar || !status || bar.hidden) return;
    bar.value = percent;
    status.textContent = "Encrypting and sending: " + percent + "%";
  }

  if (page && "EventSource" in window) {
    const source = new EventSource("/events");
    ["message", "update", "progress", "reload"].forEach(function (kind) {
      source.addEventListener(kind, function (event) {
        let data = {};
        try { data = JSON.parse(event.data); } catch (e) { data = {}; }
        onEvent(kind, data);
      });
    });
    // Whatever arrived between rendering this page and the stream opening (or while it reconnected) has no
    // event of its own here: fetch the page's list again each time the stream (re)opens.
    source.addEventListener("open", function () {
      if (page === "inbox") refresh("inbox-list");
      else if (page === "thread") refresh("messages");
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && page === "thread") {
      markRead().then(function () { refresh("messages"); });
    }
  });

  // -- attachments: drag and drop, XHR upload with progress -------------------------------------------------
  const form = document.getElementById("upload-form");
  if (form) {
    form.hidden = false;
    const input = document.getElementById("upload-file");
    const caption = document.getElementById("upload-caption");
    const bar = document.getElementById("upload-progress");
    const status = document.getElementById("upload-status");
    const zone = document.getElementById("dropzone");
    const say = function (text) { status.textContent = text; };

    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        say("Ready to send " + input.files[0].name + ". Press Send file.");
      }
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!input.files || !input.files.length) {
        say("Choose a file first.");
        return;
      }
      const data = new FormData();
      data.append("caption", caption.value);
      data.append("file", input.files[0]);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action"));
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      bar.hidden = false;
      bar.value = 0;
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          const percent = Math.round((e.loaded / e.total) * 100);
          bar.value = percent;
          say(e.loaded === e.total ? "Encrypting and sending…" : "Uploading to the Desk: " + percent + "%");
        }
      });
      xhr.addEventListener("load", function () {
        let reply = {};
        try { reply = JSON.parse(xhr.responseText); } catch (e) { reply = {}; }
        bar.hidden = true;
        if (xhr.status === 200 && reply.ok) {
          form.reset();
          say("File sent.");
          refresh("messages");
        } else {
          say(reply.error || "The file could not be sent.");
        }
      });
      xhr.addEventListener("error", function () {
        bar.hidden = true;
        say("The Desk could not be reached.");
      });
      say("Uploading…");
      xhr.send(data);
    });
  }

  tick();
  window.setInterval(tick, 1000);
  if (page === "thread") markRead();
})();
