// ScanApp scan field (templates/scanning/_scan_field.html): keyboard-wedge scans queue and go out in
// order, one at a time, none dropped; photo and live-camera decoding; feedback a worker notices
// without looking (sound, vibration, colour). Every string a person sees comes from the field's
// data-msg-* attributes (translated by the server). No inline code anywhere: the CSP forbids it.
(function () {
  "use strict";

  var FIELD = "[data-scan-field]";
  var PHOTO_MAX_PX = 2048;     // longest side of an uploaded photo
  var PHOTO_QUALITY = 0.85;
  var FRAME_MAX_PX = 1280;     // live camera frames sent to the server
  var FRAME_QUALITY = 0.8;
  var FRAME_INTERVAL_MS = 300;
  var RETRY_MAX_MS = 15000;
  var DETECTOR_FORMATS = ["qr_code", "ean_13", "ean_8", "upc_a", "upc_e", "code_128", "code_39", "itf",
                          "data_matrix", "pdf417"];

  var states = new WeakMap();
  var statesById = {};  // a field swapped out and drawn again (same id) keeps its queue, in order
  var audio = null;
  var detectorPromise = null;

  // --- small helpers ---------------------------------------------------------------------------

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // Plain-HTTP pages (a LAN address) have no randomUUID, but getRandomValues works everywhere.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function state(field) {
    var s = field.id ? statesById[field.id] : states.get(field);
    if (!s) {
      s = { queue: [], busy: false, retryMs: 0, answers: 0, live: null };
      if (field.id) { statesById[field.id] = s; } else { states.set(field, s); }
    }
    return s;
  }

  // The field as it is in the page now: a screen that swaps the block holding its scan field
  // removes the field an answer belongs to; the feedback goes to the one drawn in its place.
  function current(field) {
    if (!field || document.body.contains(field) || !field.id) { return field; }
    var now = document.getElementById(field.id);
    return now && now.matches(FIELD) ? now : field;
  }

  function message(field, name, n) {
    var text = field.getAttribute("data-msg-" + name) || "";
    return n === undefined ? text : text.replace("{n}", String(n));
  }

  function inputOf(field) { return field.querySelector(".scan-input"); }

  function primaryField() {
    var fields = document.querySelectorAll(FIELD);
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].offsetParent !== null) { return fields[i]; }
    }
    return fields[0] || null;
  }

  function isEditable(el) {
    if (!el || el === document.body) { return false; }
    if (el.isContentEditable) { return true; }
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") { return true; }
    if (tag !== "INPUT") { return false; }
    return ["button", "submit", "reset", "file", "checkbox", "radio", "image", "hidden"].indexOf(el.type) < 0;
  }

  function textOf(html) {
    // The error's own message when the fragment has one (role=alert), else all of its text.
    var doc = new DOMParser().parseFromString(html || "", "text/html");
    var node = doc.querySelector("[role=alert]") || doc.body;
    var text = (node ? node.textContent : "").replace(/\s+/g, " ").trim();
    return text.length > 200 ? text.slice(0, 199) + "…" : text;
  }

  function setStatus(field, text, kind) {
    field = current(field);
    var status = field.querySelector(".scan-status");
    if (!status) { return; }
    status.textContent = text || "";
    status.setAttribute("data-kind", kind || "");
  }

  function refocus(field) {
    field = current(field);
    var input = field && inputOf(field);
    if (!input || !document.body.contains(input)) { return; }
    var active = document.activeElement;
    if (active && active !== input && isEditable(active)) { return; }  // the worker is typing elsewhere
    if (active !== input) { input.focus({ preventScroll: true }); }
  }

  // --- the queue: one request at a time, in scan order ----------------------------------------

  function enqueueText(field, text) {
    if (!text || !text.trim()) { return; }  // a bare Enter: nothing was scanned
    var form = field.querySelector(".scan-form");
    var input = inputOf(field);
    var body = new FormData(form);
    body.set(input.name, text);
    body.set("idempotency_key", newKey());  // each scan its own key: a retry of it can never post twice
    push(field, { url: form.getAttribute("action"), body: body, text: text });
  }

  function push(field, job) {
    state(field).queue.push(job);
    showBusy(field);
    pump(field);
  }

  function showBusy(field) {
    field = current(field);
    var s = state(field);
    var waiting = s.queue.length;
    field.classList.toggle("is-busy", waiting > 0);
    field.setAttribute("aria-busy", waiting > 0 ? "true" : "false");
    if (waiting > 0 && !s.retryMs) {
      var text = message(field, "working");
      if (waiting > 1) { text += " " + message(field, "queued", waiting - 1); }
      setStatus(field, text, "busy");
    }
  }

  function offline() { return window.ScanAppOffline || null; }

  // A stock-posting field (data-stock-post) hands a scan it cannot send to the offline queue
  // (static/offline.js: IndexedDB, sent in order when the network is back) and says "queued".
  function queueable(field, job) {
    return !!(job.text && field.hasAttribute("data-stock-post") && offline());
  }

  function queueOffline(field, job) {
    var fields = [];
    job.body.forEach(function (value, name) { if (typeof value === "string") { fields.push([name, value]); } });
    return offline().queue({ url: job.url, fields: fields, summary: job.text }).then(function (item) {
      var now = current(field);
      var list = now.hasAttribute("data-queued-in-field") ? now.querySelector(".scan-queued") : null;
      if (list && document.body.contains(list)) {
        // The screen stays as it is (the worker keeps scanning): the note goes under the field.
        var note = offline().placeholder(item, list, "afterbegin");
        note.setAttribute("data-queued-in-field", "true");
      } else {
        var selector = field.getAttribute("data-target");
        var target = selector ? document.querySelector(selector) : null;
        offline().placeholder(item, target, field.getAttribute("data-swap") || "innerHTML");
      }
      queuedFeedback(field, offline().counts().waiting);
    });
  }

  function pump(field) {
    var s = state(field);
    if (s.busy || !s.queue.length) { return; }
    s.busy = true;
    var job = s.queue[0];
    var next = function () {
      s.queue.shift();
      s.busy = false;
      s.retryMs = 0;
      showBusy(field);
      pump(field);
    };
    var retry = function () {
      // Keep the scan at the head and send it again — with the same idempotency key, so a request
      // that did arrive cannot be applied twice.
      s.busy = false;
      s.retryMs = Math.min(s.retryMs ? s.retryMs * 2 : 1000, RETRY_MAX_MS);
      current(field).classList.add("is-offline");
      setStatus(field, message(field, "offline"), "offline");
      window.setTimeout(function () { pump(field); }, s.retryMs);
    };
    var failed = function () {
      // No answer at all (offline, Wi-Fi dead zone).
      if (queueable(field, job)) {  // kept on the handheld with its key: a resend cannot post twice
        queueOffline(field, job).then(next, retry);  // no IndexedDB: keep it in memory instead
      } else if (!job.text && field.hasAttribute("data-stock-post")) {  // a photo: only the server reads it
        feedback(field, false, message(field, "photo-offline"));
        next();
      } else {
        retry();
      }
    };
    if (queueable(field, job) && offline().mustQueue()) {  // offline, or older scans still waiting
      queueOffline(field, job).then(function () {
        if (navigator.onLine) { offline().flush(); }  // online with a backlog: send it all, in order
        next();
      }, function () { send(field, job).then(next, failed); });
      return;
    }
    send(field, job).then(next, failed);
  }

  function send(field, job) {
    var headers = { "X-CSRFToken": csrfToken(), "HX-Request": "true", "HX-Current-URL": window.location.href };
    return window.fetch(job.url, { method: "POST", body: job.body, headers: headers, credentials: "same-origin" })
      .then(function (response) {
        current(field).classList.remove("is-offline");
        var redirect = response.headers.get("HX-Redirect");
        if (redirect || response.redirected) {  // e.g. the session ended: the login page
          window.location.assign(redirect || response.url);
          return null;
        }
        return response.text().then(function (body) { answer(field, response, body); });
      });
  }

  function answer(field, response, body) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("application/json") === 0) {
      if (!response.ok) { feedback(field, false, message(field, "failed")); return; }
      var codes = [];
      try { codes = JSON.parse(body).codes || []; } catch (e) { codes = []; }
      decoded(field, codes);
      return;
    }
    if (response.status !== 204 && body) { swapIn(field, body); }
    feedback(field, response.ok, response.ok ? "" : (textOf(body) || message(field, "failed")));
  }

  function swapIn(field, html) {
    var selector = field.getAttribute("data-target");
    var target = selector ? document.querySelector(selector) : null;
    if (!target) { return; }
    var style = field.getAttribute("data-swap") || "innerHTML";
    if (window.htmx && typeof window.htmx.swap === "function") {
      window.htmx.swap(target, html, { swapStyle: style, swapDelay: 0, settleDelay: 0 });
    } else if (style === "innerHTML") {
      target.innerHTML = html;
    } else {
      target.insertAdjacentHTML(style === "afterbegin" || style === "beforeend" ? style : "beforeend", html);
    }
    var keep = parseInt(field.getAttribute("data-keep") || "0", 10);
    if (keep > 0 && document.body.contains(target)) {
      while (target.children.length > keep) {
        target.removeChild(style === "afterbegin" ? target.lastElementChild : target.firstElementChild);
      }
    }
  }

  // --- feedback ------------------------------------------------------------------------------

  function unlockAudio() {
    // Browsers start audio only from a user gesture: create (or resume) it on the first one.
    if (!audio) {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) { return; }
      audio = new Context();
    }
    if (audio.state === "suspended") { audio.resume(); }
  }

  function tone(at, frequency, seconds, wave) {
    var osc = audio.createOscillator();
    var gain = audio.createGain();
    osc.type = wave;
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.35, at + 0.01);
    gain.gain.setValueAtTime(0.35, at + seconds - 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + seconds);
    osc.connect(gain);
    gain.connect(audio.destination);
    osc.start(at);
    osc.stop(at + seconds + 0.02);
  }

  function sound(ok) {
    if (!audio || audio.state !== "running") { return; }
    var now = audio.currentTime;
    if (ok) {
      tone(now, 1760, 0.09, "square");           // one high, short beep
    } else {
      tone(now, 180, 0.2, "sawtooth");           // a low double buzz
      tone(now + 0.28, 180, 0.2, "sawtooth");
    }
  }

  function vibrate(ok) {
    if (typeof navigator.vibrate !== "function") { return; }
    if (navigator.userActivation && !navigator.userActivation.hasBeenActive) { return; }
    navigator.vibrate(ok ? 60 : [250, 100, 250, 100, 250]);
  }

  function flash(field, ok) {
    field = current(field);
    field.classList.remove("scan-flash-ok", "scan-flash-error");
    void field.offsetWidth;  // restart the animation when the same class comes back
    field.classList.add(ok ? "scan-flash-ok" : "scan-flash-error");
  }

  function queuedFeedback(field, waiting) {
    // Not a success: a mid double beep and the amber "queued" look; the status says it is not posted.
    field = current(field);
    var s = state(field);
    s.queuedCount = (s.queuedCount || 0) + 1;
    field.setAttribute("data-scan-result", "queued");
    field.setAttribute("data-scan-queued", String(s.queuedCount));
    field.classList.add("is-offline");
    var input = inputOf(field);
    if (input) { input.setAttribute("data-scan-result", "queued"); }
    field.classList.remove("scan-flash-ok", "scan-flash-error");
    if (audio && audio.state === "running") {
      tone(audio.currentTime, 660, 0.08, "square");
      tone(audio.currentTime + 0.14, 660, 0.08, "square");
    }
    if (typeof navigator.vibrate === "function" && (!navigator.userActivation || navigator.userActivation.hasBeenActive)) {
      navigator.vibrate([60, 80, 60]);
    }
    setStatus(field, message(field, "queued-offline", waiting), "queued");
    refocus(field);
  }

  function feedback(field, ok, text) {
    field = current(field);
    var s = state(field);
    s.answers += 1;
    var result = ok ? "ok" : "error";
    field.setAttribute("data-scan-result", result);
    field.setAttribute("data-scan-answers", String(s.answers));
    var input = inputOf(field);
    if (input) { input.setAttribute("data-scan-result", result); }
    flash(field, ok);
    sound(ok);
    vibrate(ok);
    setStatus(field, text || "", result);
    refocus(field);
  }

  // --- photos and the live camera ------------------------------------------------------------

  function imageForm(field, blob, mode) {
    var body = new FormData(field.querySelector(".scan-form"));
    body.delete(inputOf(field).name);
    body.set("idempotency_key", newKey());
    body.set("mode", mode);
    body.set("screen", field.getAttribute("data-screen") || "");
    body.set("image", blob, mode + ".jpg");
    return body;
  }

  function toJpeg(source, width, height, maxPx, quality) {
    var scale = Math.min(1, maxPx / Math.max(width, height));
    var canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";  // transparent PNGs must not turn black
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve) {
      canvas.toBlob(function (blob) { resolve(blob); }, "image/jpeg", quality);
    });
  }

  function shrinkPhoto(file) {
    // A phone photo is 12 MP or more: send at most 2048 px on the longest side, as JPEG.
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () {
        toJpeg(img, img.naturalWidth, img.naturalHeight, PHOTO_MAX_PX, PHOTO_QUALITY).then(function (blob) {
          URL.revokeObjectURL(url);
          resolve(blob || file);
        });
      };
      img.onerror = function () {  // not an image the browser can show: the server says what is wrong
        URL.revokeObjectURL(url);
        resolve(file);
      };
      img.src = url;
    });
  }

  function decoded(field, codes) {
    if (!codes.length) {
      feedback(field, false, message(field, "no-code"));
    } else if (codes.length === 1) {
      enqueueText(field, codes[0].text);
    } else {
      showChoices(field, codes);
    }
  }

  function showChoices(field, codes) {
    var box = field.querySelector(".scan-choices");
    box.textContent = "";
    var heading = document.createElement("p");
    heading.className = "scan-result-message";
    heading.textContent = message(field, "choose");
    box.appendChild(heading);
    codes.forEach(function (code) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "scan-choice";
      button.setAttribute("data-scan-text", code.text);
      button.textContent = code.text.replace(/\x1d/g, "<GS>");
      box.appendChild(button);
    });
    box.hidden = false;
    setStatus(field, message(field, "choose"), "choose");
  }

  function detector() {
    if (!detectorPromise) {
      var available = "BarcodeDetector" in window && typeof window.BarcodeDetector.getSupportedFormats === "function";
      detectorPromise = (available ? window.BarcodeDetector.getSupportedFormats() : Promise.resolve([]))
        .then(function (supported) {
          var formats = DETECTOR_FORMATS.filter(function (f) { return supported.indexOf(f) >= 0; });
          return formats.length ? new window.BarcodeDetector({ formats: formats }) : null;
        })
        .catch(function () { return null; });
    }
    return detectorPromise;
  }

  function readFrame(field, video) {
    // Until the camera delivers its first frame the video is 0×0: nothing to read, nothing to send.
    if (video.readyState < 2 || !video.videoWidth) { return Promise.resolve(null); }
    return detector().then(function (det) {
      if (det) {
        return det.detect(video).then(function (found) { return found.length ? found[0].rawValue : null; });
      }
      // No BarcodeDetector (Firefox, desktop Chromium on Linux): the server decodes the frame.
      return toJpeg(video, video.videoWidth, video.videoHeight, FRAME_MAX_PX, FRAME_QUALITY).then(function (blob) {
        if (!blob) { return null; }
        var headers = { "X-CSRFToken": csrfToken(), "HX-Request": "true" };
        return window.fetch(field.getAttribute("data-frame-url"), {
          method: "POST", body: imageForm(field, blob, "live"), headers: headers, credentials: "same-origin",
        }).then(function (response) {
          return response.ok ? response.json() : { codes: [] };
        }).then(function (data) {
          return data.codes && data.codes.length ? data.codes[0].text : null;
        });
      });
    });
  }

  function startLive(field) {
    var s = state(field);
    if (s.live) { return; }
    if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function") {
      feedback(field, false, message(field, "camera-unavailable"));
      return;
    }
    var token = {};
    s.live = token;
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (stream) {
      if (s.live !== token) { stream.getTracks().forEach(function (t) { t.stop(); }); return; }
      token.stream = stream;
      var box = field.querySelector(".scan-live");
      var video = box.querySelector("video");
      video.srcObject = stream;
      box.hidden = false;
      field.classList.add("is-live");
      setStatus(field, message(field, "camera-looking"), "live");
      var played = video.play();
      if (played && played.catch) { played.catch(function () {}); }
      liveLoop(field, token);
    }, function (error) {
      s.live = null;
      var denied = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
      feedback(field, false, message(field, denied ? "camera-denied" : "camera-unavailable"));
    });
  }

  function stopLive(field) {
    var s = state(field);
    var token = s.live;
    s.live = null;
    if (token && token.stream) { token.stream.getTracks().forEach(function (t) { t.stop(); }); }
    var box = field.querySelector(".scan-live");
    if (box) {
      box.querySelector("video").srcObject = null;
      box.hidden = true;
    }
    field.classList.remove("is-live");
  }

  function liveLoop(field, token) {
    var s = state(field);
    if (s.live !== token) { return; }
    if (!document.body.contains(field) || document.hidden) { stopLive(field); return; }
    var video = field.querySelector(".scan-video");
    if (video.readyState < 2 || !video.videoWidth) {
      window.setTimeout(function () { liveLoop(field, token); }, 100);
      return;
    }
    var started = Date.now();
    readFrame(field, video).then(function (text) {
      if (s.live !== token) { return; }
      if (text) {
        stopLive(field);
        enqueueText(field, text);  // the same path as a typed scan
        return;
      }
      window.setTimeout(function () { liveLoop(field, token); }, Math.max(0, FRAME_INTERVAL_MS - (Date.now() - started)));
    }, function () {
      window.setTimeout(function () { liveLoop(field, token); }, 1000);
    });
  }

  // --- events (delegated: fields come and go with htmx swaps and boosted navigation) ----------

  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!input.classList || !input.classList.contains("scan-input")) { return; }
    unlockAudio();
    if (event.key !== "Enter" || event.isComposing) { return; }
    event.preventDefault();
    var field = input.closest(FIELD);
    var text = input.value;  // snapshot, then clear at once: the next scan may already be arriving
    input.value = "";
    enqueueText(field, text);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var field;
    if (form.classList.contains("scan-form")) {  // a "Go" key that submits without an Enter keydown
      event.preventDefault();
      field = form.closest(FIELD);
      var input = inputOf(field);
      var text = input.value;
      input.value = "";
      enqueueText(field, text);
    } else if (form.hasAttribute("data-scan-choice")) {  // a choice among several codes in a photo
      event.preventDefault();
      field = fieldFor(form);
      var code = form.querySelector("input[name=code]");
      if (field && code) { enqueueText(field, code.value); }
    }
  });

  function fieldFor(el) {
    var own = el.closest(FIELD);
    if (own) { return own; }
    var fields = document.querySelectorAll(FIELD);
    for (var i = 0; i < fields.length; i++) {
      var target = document.querySelector(fields[i].getAttribute("data-target"));
      if (target && target.contains(el)) { return fields[i]; }
    }
    return primaryField();
  }

  document.addEventListener("pointerdown", unlockAudio, true);

  document.addEventListener("click", function (event) {
    var el = event.target;
    var field;
    if (el.closest && el.closest(".scan-live-start")) {
      field = el.closest(FIELD);
      startLive(field);
    } else if (el.closest && el.closest(".scan-live-stop")) {
      field = el.closest(FIELD);
      stopLive(field);
    } else if (el.closest && el.closest("[data-scan-text]")) {
      var choice = el.closest("[data-scan-text]");
      field = choice.closest(FIELD);
      var box = field.querySelector(".scan-choices");
      box.hidden = true;
      box.textContent = "";
      enqueueText(field, choice.getAttribute("data-scan-text"));
    }
    // A tap anywhere but another input (or a label, which may open a file picker) brings the
    // cursor back to the scan field, so the next wedge scan lands there.
    if (isEditable(el) || (el.closest && el.closest("label, select, textarea, video, [contenteditable]"))) { return; }
    refocus(field || primaryField());
  });

  document.addEventListener("change", function (event) {
    var picker = event.target;
    if (!picker.classList || !picker.classList.contains("scan-file")) { return; }
    unlockAudio();
    var field = picker.closest(FIELD);
    var file = picker.files && picker.files[0];
    picker.value = "";  // the same photo can be chosen again
    if (!file) { return; }
    field.classList.add("is-busy");
    setStatus(field, message(field, "working"), "busy");
    shrinkPhoto(file).then(function (blob) {
      push(field, { url: field.getAttribute("data-photo-url"), body: imageForm(field, blob, "photo") });
    });
  });

  document.addEventListener("htmx:afterSettle", function () { refocus(primaryField()); });

  function stopAllLive() {
    document.querySelectorAll(FIELD).forEach(function (field) { stopLive(field); });
  }
  document.addEventListener("visibilitychange", function () { if (document.hidden) { stopAllLive(); } });
  window.addEventListener("pagehide", stopAllLive);
  document.addEventListener("htmx:beforeHistorySave", stopAllLive);

  // Ready: scans made before this script ran (kept by static/scan-early.js) go out now, in order.
  window.ScanAppScanReady = true;
  var early = window.ScanAppEarly && window.ScanAppEarly.scans;
  while (early && early.length) {
    var scan = early.shift();
    var field = document.getElementById(scan.field);
    if (field && field.matches(FIELD)) { enqueueText(field, scan.text); }
  }
})();
