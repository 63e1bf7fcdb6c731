// ScanApp service worker (served from /sw.js so that its scope is the whole app).
// - Static assets: cache-first under versioned URLs; the cache name carries the asset version, so a
//   release installs a new worker on the handheld's next start and the old caches are deleted.
// - Pages (navigations): network first; a full page of the logged-in user is kept for reloading
//   in a dead zone. Pages are kept for one user only: a response of another user (or of nobody,
//   e.g. the login page) empties the saved pages. With no network and no saved page: the offline page.
// - POSTs and htmx fragments are never cached; stock-posting requests that fail are queued by the
//   page (static/offline.js, IndexedDB), not here.
"use strict";

var VERSION = {{ version|tojson }};
var STATIC_CACHE = "scanapp-static-" + VERSION;
var PAGES_CACHE = "scanapp-pages";
var META_CACHE = "scanapp-meta";
var USER_KEY = "/__scanapp_user__";
var OFFLINE_URL = {{ offline_url|tojson }};
var PRECACHE = {{ precache|tojson }};
var NEVER_SAVED = ["/login", "/logout", "/offline", "/sw.js", "/manifest.webmanifest"];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(STATIC_CACHE)
      .then(function (cache) { return cache.addAll(PRECACHE.concat([OFFLINE_URL])); })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (key) {
        return key.indexOf("scanapp-static-") === 0 && key !== STATIC_CACHE;
      }).map(function (key) { return caches.delete(key); }));
    }).then(function () { return self.clients.claim(); })
  );
});

// Saving pages and switching users run one after another: two pages loading at once must not
// both see "another user" and empty the saved pages in between each other's saves.
var chain = Promise.resolve();
function serial(work) {
  chain = chain.then(work, work);
  return chain;
}

function savedUser() {
  return caches.open(META_CACHE).then(function (cache) { return cache.match(USER_KEY); })
    .then(function (hit) { return hit ? hit.text() : ""; });
}

function switchUser(user) {
  // Saved pages belong to one user: another user (or a logged-out page) empties them first.
  return savedUser().then(function (current) {
    if (current === user) { return; }
    return caches.delete(PAGES_CACHE).then(function () {
      return caches.open(META_CACHE);
    }).then(function (cache) {
      return cache.put(USER_KEY, new Response(user));
    });
  });
}

function setUser(user) {
  return serial(function () { return switchUser(user); });
}

function savePage(request, response) {
  if (response.type === "opaqueredirect") { return Promise.resolve(); }  // a redirect: nobody's page
  var user = response.headers.get("X-ScanApp-User") || "";
  return serial(function () {
    return switchUser(user).then(function () {
      var url = new URL(response.url || request.url);
      var type = response.headers.get("Content-Type") || "";
      var cacheControl = response.headers.get("Cache-Control") || "";
      if (!user || response.status !== 200 || response.redirected || type.indexOf("text/html") !== 0 ||
          cacheControl.indexOf("no-store") >= 0 || NEVER_SAVED.indexOf(url.pathname) >= 0) {
        return;
      }
      return caches.open(PAGES_CACHE).then(function (cache) { return cache.put(request.url, response); });
    });
  });
}

function page(event) {
  var request = event.request;
  return fetch(request).then(function (response) {
    event.waitUntil(savePage(request, response.clone()).catch(function () {}));
    return response;
  }, function () {
    return caches.open(PAGES_CACHE)
      .then(function (cache) { return cache.match(request.url, { ignoreVary: true }); })
      .then(function (hit) { return hit || caches.match(OFFLINE_URL, { ignoreSearch: true }); })
      .then(function (hit) { return hit || Response.error(); });
  });
}

function asset(request) {
  return caches.match(request).then(function (hit) {
    if (hit) { return hit; }
    return fetch(request).then(function (response) {
      if (response.ok && new URL(request.url).searchParams.get("v") === VERSION) {
        var copy = response.clone();
        caches.open(STATIC_CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    }, function () {
      // A saved page of the previous release asks for its own asset version: serve the current one.
      return caches.match(request, { ignoreSearch: true }).then(function (other) { return other || Response.error(); });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }  // POSTs go to the network, and are never cached
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(asset(request));
  } else if (request.mode === "navigate") {
    event.respondWith(page(event));
  }
  // Anything else (htmx fragments, the API, JSON): straight to the network.
});

self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type === "user") {
    event.waitUntil(setUser(String(data.user || "")));
  } else if (data.type === "version") {
    event.source && event.source.postMessage({ type: "version", version: VERSION });
  }
});
