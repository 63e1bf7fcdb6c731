// ScanApp offline mode: the service worker, the offline queue of stock-posting requests, the
// header badge, replay when the network is back, conflicts, and the device heartbeat.
//
// The contract for a page (see README, "Offline mode"):
//  - A form that posts stock carries `data-stock-post` and every field the server needs, including
//    a hidden `idempotency_key` made when the screen was drawn and a `csrf_token`. When the request
//    cannot reach the server it is stored in IndexedDB (URL, fields, key, scan time) and shown as
//    queued in the form's hx-target; the form gets a fresh key for the next request.
//  - A scan field made with scan_field(..., stock_post=True) does the same for each scan (scan.js).
//  - While anything waits, new stock posts join the end of the queue: the server sees them in order.
//  - `data-offline-summary="{qty} × {sku} → {to_location}"` (optional) describes a queued request
//    with the form's own field values.
// The queue is sent one request at a time, oldest first, when the network returns (online event,
// every 15 s, on page load). The server replays a request it has already applied (same key), so a
// request that arrived before the connection dropped is not applied twice. A 4xx answer is a
// conflict: kept with the server's message for the worker to read on /offline/conflicts.
(function () {
  "use strict";

  var DB_NAME = "scanapp-offline";
  var STORE = "requests";
  var RETRY_MS = 15000;
  var HEARTBEAT_MS = 60000;
  var MAX_SERVER_ERRORS = 5;  // a request the server fails on (5xx) this often becomes a conflict
  var DEVICE_KEY = "scanapp-device";
  var DEVICE_NAME = "scanapp-device-name";
  var DEVICE_RENAMED = "scanapp-device-renamed";

  var dbPromise = null;
  var counts = { waiting: 0, conflicts: 0, mine: 0, login: false };
  var flushing = false;
  var again = false;  // something was queued while a flush ran: run once more at its end
  var loaded = false;  // the queue has been read once since the page loaded
  var usable = !!window.indexedDB;  // no IndexedDB (or it failed): requests go out as they always did
  var lastHeartbeat = 0;

  // --- settings and messages (from #offline-config, swapped with every page) ------------------

  function config() { return document.getElementById("offline-config"); }

  function setting(name, fallback) {
    var el = config();
    var value = el ? el.getAttribute("data-" + name) : null;
    return value === null || value === undefined || value === "" ? fallback : value;
  }

  function msg(name, values) {
    var text = setting("msg-" + name, "");
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(String(values[k])); });
    return text;
  }

  function currentUser() { return setting("user", ""); }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") { return window.crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  // --- IndexedDB --------------------------------------------------------------------------------

  function database() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var open = window.indexedDB.open(DB_NAME, 1);
        open.onupgradeneeded = function () {
          open.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
        };
        open.onsuccess = function () { resolve(open.result); };
        open.onerror = function () { usable = false; reject(open.error); };
      });
    }
    return dbPromise;
  }

  function tx(mode, work) {
    return database().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode);
        var result = work(t.objectStore(STORE));
        t.oncomplete = function () { resolve(result && "result" in result ? result.result : result); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error); };
      });
    });
  }

  function allItems() { return tx("readonly", function (store) { return store.getAll(); }); }
  function putItem(item) { return tx("readwrite", function (store) { return store.put(item); }); }
  function deleteItem(id) { return tx("readwrite", function (store) { return store.delete(id); }); }

  // --- the badge, the banner ---------------------------------------------------------------------

  function refresh() {
    return allItems().then(function (items) {
      var user = currentUser();
      counts.waiting = items.filter(function (i) { return i.state === "waiting"; }).length;
      counts.conflicts = items.filter(function (i) { return i.state === "conflict"; }).length;
      counts.mine = items.filter(function (i) { return i.state === "waiting" && (!user || i.user === user); }).length;
      loaded = true;
      render(items);
      return items;
    }, function () { loaded = true; return []; });
  }

  function render(items) {
    var badge = document.getElementById("offline-badge");
    if (badge) {
      var parts = [];
      if (counts.waiting) { parts.push(badgeText(badge, "waiting", counts.waiting)); }
      if (counts.conflicts) { parts.push(badgeText(badge, "conflicts", counts.conflicts)); }
      badge.textContent = parts.join(" · ");
      badge.hidden = parts.length === 0;
      badge.setAttribute("data-waiting", String(counts.waiting));
      badge.setAttribute("data-conflicts", String(counts.conflicts));
      badge.classList.toggle("has-conflicts", counts.conflicts > 0);
    }
    var banner = document.getElementById("offline-banner");
    if (banner) {
      var text = "";
      if (counts.login && counts.mine) { text = msg("login", { n: counts.mine }); }
      else if (!navigator.onLine) { text = msg("offline"); }
      banner.textContent = text;
      banner.hidden = !text;
    }
    if (document.getElementById("offline-queue")) { renderQueuePage(items); }
  }

  function badgeText(badge, name, n) {
    return (badge.getAttribute("data-msg-" + name) || "{n}").split("{n}").join(String(n));
  }

  // --- queueing ---------------------------------------------------------------------------------

  function fieldsOf(formData) {
    var fields = [];
    formData.forEach(function (value, name) {
      if (typeof value === "string") { fields.push([name, value]); }  // files (photos) are never queued
    });
    return fields;
  }

  function summaryOf(template, fields) {
    if (!template) { return ""; }
    var values = {};
    fields.forEach(function (f) { values[f[0]] = f[1]; });
    return template.replace(/\{([a-z_]+)\}/g, function (_, name) { return values[name] || ""; })
      .replace(/\s+/g, " ").trim();
  }

  // Store one request; returns a promise of the stored item (with its id).
  function queue(request) {
    var fields = request.fields;
    var key = "";
    fields.forEach(function (f) { if (f[0] === "idempotency_key") { key = f[1]; } });
    if (!key) {  // the contract says the page made one; never queue a request that could post twice
      key = newKey();
      fields.push(["idempotency_key", key]);
    }
    var item = {
      url: request.url, fields: fields, key: key, scannedAt: new Date().toISOString(),
      user: currentUser(), username: setting("username", ""), summary: request.summary || "",
      page: window.location.pathname, state: "waiting", tries: 0, serverErrors: 0, message: "",
    };
    counts.waiting += 1;
    counts.mine += 1;
    return putItem(item).then(function (id) {
      item.id = id;
      return refresh().then(function () { return item; });  // the counts now include this one
    });
  }

  function mustQueue() {
    // Until the stored queue is read, assume something waits: a post must never overtake it.
    return usable && (!loaded || !navigator.onLine || counts.mine > 0);
  }

  function scanTime(item) {
    var when = new Date(item.scannedAt);
    return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // A "queued" note where the answer would have gone; replaced by the answer once it is sent.
  function placeholder(item, target, swap) {
    var note = document.createElement("div");
    note.className = "queued-box";
    note.setAttribute("role", "status");
    note.setAttribute("data-queued-id", String(item.id));
    note.setAttribute("data-state", "queued");
    var strong = document.createElement("strong");
    strong.textContent = msg("queued");
    note.appendChild(strong);
    if (item.summary) {
      var what = document.createElement("span");
      what.className = "queued-summary";
      what.textContent = item.summary;
      note.appendChild(what);
    }
    var when = document.createElement("small");
    when.textContent = msg("scanned-at", { t: scanTime(item) }) + " · " + msg("queued-count", { n: counts.waiting });
    note.appendChild(when);
    if (target) {
      if (swap === "afterbegin") { target.insertBefore(note, target.firstChild); }
      else if (swap === "beforeend") { target.appendChild(note); }
      else { target.textContent = ""; target.appendChild(note); }
    }
    return note;
  }

  function renewKey(form) {
    var input = form && form.querySelector("input[name=idempotency_key]");
    if (input) { input.value = newKey(); }
  }

  function stockForm(elt) {
    return elt && elt.closest ? elt.closest("[data-stock-post]") : null;
  }

  function queueHtmx(detail, sendNow) {
    var form = stockForm(detail.elt);
    var fields = fieldsOf(detail.requestConfig.formData);
    var url = detail.requestConfig.path;
    var summary = summaryOf(form.getAttribute("data-offline-summary"), fields);
    var swap = (form.getAttribute("hx-swap") || "innerHTML").split(" ")[0];
    renewKey(form);
    return queue({ url: url, fields: fields, summary: summary }).then(function (item) {
      placeholder(item, detail.target, swap);
      form.dispatchEvent(new CustomEvent("scanapp:queued", { bubbles: true, detail: { item: item } }));
      if (sendNow && navigator.onLine) { flush(); } else { scheduleFlush(RETRY_MS); }
    });
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var d = event.detail;
    if (!d.requestConfig || d.requestConfig.verb !== "post" || !stockForm(d.elt)) { return; }
    if (mustQueue()) {  // offline, or older requests still waiting: keep the order, join the queue
      event.preventDefault();
      queueHtmx(d, true);
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    var d = event.detail;
    if (d.requestConfig && d.requestConfig.verb === "post" && stockForm(d.elt) && usable) {
      queueHtmx(d, false);  // it may or may not have arrived: its key makes the later resend safe
    } else if (d.requestConfig && d.requestConfig.verb === "get" && d.boosted) {
      // A link tapped in a dead zone: load it for real, so the service worker can serve it.
      window.location.assign(d.pathInfo && d.pathInfo.requestPath || d.requestConfig.path);
    }
  });

  // --- replay ---------------------------------------------------------------------------------

  function session() {
    return window.fetch(setting("session-url", "/offline/session"), {
      credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store",
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (!response.ok || response.redirected || type.indexOf("application/json") !== 0) { return null; }
      return response.json();
    });
  }

  function reasonOf(response, body) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("application/json") === 0) {
      try { return JSON.parse(body).error.message; } catch (e) { return body.slice(0, 300); }
    }
    var doc = new DOMParser().parseFromString(body || "", "text/html");
    var node = doc.querySelector("[role=alert]") || doc.querySelector("main") || doc.body;
    var text = (node ? node.textContent : "").replace(/\s+/g, " ").trim();
    return text.length > 300 ? text.slice(0, 299) + "…" : text || String(response.status);
  }

  function send(item, token) {
    var body = new FormData();
    item.fields.forEach(function (f) { body.append(f[0], f[0] === "csrf_token" ? token : f[1]); });
    var headers = { "X-CSRFToken": token, "HX-Request": "true", "X-ScanApp-Replay": item.scannedAt };
    return window.fetch(item.url, { method: "POST", body: body, headers: headers, credentials: "same-origin",
                                    redirect: "follow" })
      .then(function (response) {
        return response.text().then(function (text) { return { response: response, body: text }; });
      });
  }

  function answered(item, response, body) {
    // → "sent" | "conflict" | "login" | "retry"
    var login = response.redirected && /\/login(\?|$)/.test(new URL(response.url).pathname + "?");
    if (login || response.status === 401 || response.headers.get("X-ScanApp-Error") === "csrf_failed") {
      return Promise.resolve("login");
    }
    if (response.status >= 200 && response.status < 400) {
      return deleteItem(item.id).then(function () { showSent(item, body, response); return "sent"; });
    }
    item.tries += 1;
    if (response.status >= 500 && ++item.serverErrors < MAX_SERVER_ERRORS) {
      return putItem(item).then(function () { return "retry"; });
    }
    item.state = "conflict";
    item.status = response.status;
    item.message = reasonOf(response, body);
    item.failedAt = new Date().toISOString();
    return putItem(item).then(function () { showConflict(item); return "conflict"; });
  }

  function showSent(item, body, response) {
    var note = document.querySelector('[data-queued-id="' + item.id + '"]');
    if (!note) { return; }
    var type = response.headers.get("Content-Type") || "";
    var doc = type.indexOf("text/html") === 0 ? new DOMParser().parseFromString(body, "text/html") : null;
    // A note under a scan field (the screen stayed to keep scanning) just turns into "sent": the
    // answer is a whole screen, drawn for the moment it was sent.
    var inField = note.hasAttribute("data-queued-in-field");
    if (doc && !inField && !doc.querySelector("main")) {
      // The server's own answer (a fragment) takes the note's place; out-of-band parts (a new key
      // for the form) belong to the moment it was sent, not to the screen now.
      doc.querySelectorAll("[hx-swap-oob]").forEach(function (el) { el.remove(); });
      var nodes = Array.prototype.slice.call(doc.body.childNodes);
      note.replaceWith.apply(note, nodes);
      nodes.forEach(function (n) { if (n.nodeType === 1 && window.htmx) { window.htmx.process(n); } });
      nodes.forEach(function (n) { if (n.nodeType === 1) { n.setAttribute("data-sent-after-offline", "true"); } });
    } else {
      note.setAttribute("data-state", "sent");
      note.className = "queued-box is-sent";
      note.firstChild.textContent = msg("sent");
    }
  }

  function showConflict(item) {
    var note = document.querySelector('[data-queued-id="' + item.id + '"]');
    if (!note) { return; }
    note.setAttribute("data-state", "conflict");
    note.className = "queued-box is-conflict";
    note.setAttribute("role", "alert");
    note.firstChild.textContent = msg("conflict", { reason: item.message });
  }

  function flush() {
    if (flushing) { again = true; return Promise.resolve(); }
    flushing = true;
    again = false;
    var work = function () {
      return allItems().then(function (items) {
        var waiting = items.filter(function (i) { return i.state === "waiting"; });
        if (!waiting.length) { counts.login = false; return; }
        return session().then(function (who) {
          if (!who) { counts.login = true; return; }  // logged out or session over: keep everything
          counts.login = false;
          var mine = waiting.filter(function (i) { return i.user === who.user; });
          var chain = Promise.resolve("sent");
          mine.forEach(function (item) {
            chain = chain.then(function (previous) {
              if (previous === "login" || previous === "retry") { return previous; }  // stop: keep the order
              return send(item, who.csrf_token).then(function (r) { return answered(item, r.response, r.body); });
            });
          });
          return chain.then(function (last) { if (last === "login") { counts.login = true; } });
        });
      });
    };
    var run = navigator.locks && navigator.locks.request
      ? navigator.locks.request("scanapp-offline-flush", work)  // one tab at a time sends the queue
      : work();
    return Promise.resolve(run).catch(function () { /* no network: try again later */ }).then(function () {
      flushing = false;
      return refresh();
    }).then(function () {
      heartbeat();
      if (again && navigator.onLine) { return flush(); }
      if (counts.mine) { scheduleFlush(RETRY_MS); }
    });
  }

  var flushTimer = null;
  function scheduleFlush(ms) {
    if (flushTimer) { return; }
    flushTimer = window.setTimeout(function () { flushTimer = null; flush(); }, ms);
  }

  // --- the device heartbeat ------------------------------------------------------------------

  function deviceKey() {
    var key = window.localStorage.getItem(DEVICE_KEY);
    if (!key) {
      key = newKey();
      window.localStorage.setItem(DEVICE_KEY, key);
    }
    return key;
  }

  function heartbeat(force) {
    var url = setting("heartbeat-url", "");
    if (!url || !currentUser() || !navigator.onLine) { return Promise.resolve(); }
    if (!force && Date.now() - lastHeartbeat < 5000) { return Promise.resolve(); }
    lastHeartbeat = Date.now();
    var body = new FormData();
    body.append("device", deviceKey());
    body.append("waiting", String(counts.waiting));
    body.append("conflicts", String(counts.conflicts));
    if (window.localStorage.getItem(DEVICE_RENAMED)) {
      body.append("name", window.localStorage.getItem(DEVICE_NAME) || "");
    }
    return window.fetch(url, { method: "POST", body: body, credentials: "same-origin",
                               headers: { "X-CSRFToken": csrfToken() } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        window.localStorage.removeItem(DEVICE_RENAMED);
        window.localStorage.setItem(DEVICE_NAME, data.name || "");
        var shown = document.getElementById("device-name");
        if (shown && document.activeElement !== shown) { shown.value = data.name || ""; }
      })
      .catch(function () {});
  }

  // --- the queue page (/offline/conflicts) -----------------------------------------------------

  function pageMsg(page, name, values) {
    var text = page.getAttribute("data-msg-" + name) || "";
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(String(values[k])); });
    return text;
  }

  function row(page, item) {
    var li = document.createElement("li");
    li.className = "card queue-item";
    li.setAttribute("data-queue-id", String(item.id));
    li.setAttribute("data-state", item.state);
    var title = document.createElement("strong");
    title.textContent = item.summary || item.url;
    li.appendChild(title);
    var meta = document.createElement("p");
    meta.className = "muted";
    var when = new Date(item.scannedAt).toLocaleString();
    meta.textContent = pageMsg(page, "meta", { t: when, user: item.username || "?", url: item.url });
    li.appendChild(meta);
    if (item.state === "conflict") {
      var reason = document.createElement("p");
      reason.className = "error-box conflict-reason";
      reason.textContent = item.message;
      li.appendChild(reason);
      var help = document.createElement("p");
      help.textContent = pageMsg(page, "help");
      li.appendChild(help);
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "big";
      dismiss.setAttribute("data-dismiss", String(item.id));
      dismiss.textContent = pageMsg(page, "dismiss");
      li.appendChild(dismiss);
    } else if (item.user && currentUser() && item.user !== currentUser()) {
      var other = document.createElement("p");
      other.textContent = msg("other-user", { user: item.username || "?" });
      li.appendChild(other);
    }
    return li;
  }

  function renderQueuePage(items) {
    var page = document.getElementById("offline-queue");
    var waitingList = document.getElementById("offline-waiting");
    var conflictList = document.getElementById("offline-conflicts");
    if (!waitingList || !conflictList) { return; }
    waitingList.textContent = "";
    conflictList.textContent = "";
    items.forEach(function (item) {
      (item.state === "conflict" ? conflictList : waitingList).appendChild(row(page, item));
    });
    document.getElementById("offline-waiting-empty").hidden = counts.waiting > 0;
    document.getElementById("offline-conflicts-empty").hidden = counts.conflicts > 0;
    var name = document.getElementById("device-name");
    if (name && !name.value && document.activeElement !== name) { name.value = window.localStorage.getItem(DEVICE_NAME) || ""; }
    var id = document.getElementById("device-id");
    if (id) { id.textContent = deviceKey(); }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-dismiss]");
    if (button) {
      deleteItem(parseInt(button.getAttribute("data-dismiss"), 10)).then(refresh).then(function () { heartbeat(true); });
      return;
    }
    if (event.target.closest && event.target.closest("[data-offline-send]")) {
      flush();
    }
  });

  document.addEventListener("submit", function (event) {
    if (event.target.id !== "device-name-form") { return; }
    event.preventDefault();
    var name = document.getElementById("device-name").value.replace(/\s+/g, " ").trim().slice(0, 80);
    window.localStorage.setItem(DEVICE_NAME, name);
    window.localStorage.setItem(DEVICE_RENAMED, "1");
    heartbeat(true).then(function () {
      var saved = document.getElementById("device-name-saved");
      if (saved) { saved.hidden = false; }
    });
  }, true);

  // --- the service worker ---------------------------------------------------------------------

  function registerWorker() {
    if (!("serviceWorker" in navigator)) { return; }
    navigator.serviceWorker.register(setting("sw", "/sw.js"), { scope: "/" }).catch(function () {});
    tellWorkerTheUser();
  }

  function tellWorkerTheUser() {
    // Saved pages belong to one user: logging out, or another user, empties them.
    if (!("serviceWorker" in navigator) || !config()) { return; }
    navigator.serviceWorker.ready.then(function (reg) {
      if (reg.active) { reg.active.postMessage({ type: "user", user: currentUser() }); }
    });
  }

  // --- the public face, for scan.js and the tests ---------------------------------------------

  window.ScanAppOffline = {
    mustQueue: mustQueue,
    queue: queue,
    placeholder: placeholder,
    flush: flush,
    refresh: refresh,
    counts: function () { return { waiting: counts.waiting, conflicts: counts.conflicts, mine: counts.mine }; },
    message: msg,
  };

  // --- start ----------------------------------------------------------------------------------

  function start() {
    registerWorker();
    refresh().then(function () { return flush(); });
    window.setInterval(function () { if (counts.mine) { flush(); } }, RETRY_MS);
    window.setInterval(function () { heartbeat(); }, HEARTBEAT_MS);
  }

  window.addEventListener("online", function () {
    if (document.querySelector("[data-offline-page]")) {  // the real page, once the server answers
      window.fetch(window.location.href, { method: "HEAD", cache: "no-store", credentials: "same-origin" })
        .then(function () { window.location.reload(); }, function () {});
      return;
    }
    flush();
  });
  window.addEventListener("offline", function () { refresh(); });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { flush(); } });
  document.addEventListener("htmx:afterSettle", function () { refresh(); tellWorkerTheUser(); });
  document.addEventListener("htmx:afterRequest", function (event) {
    // Any answer from the server means the network is back: send what waits.
    if (event.detail.successful && counts.mine && !flushing) { flush(); }
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
