// The import page (views/imports.templ): a file is previewed through
// POST /imports/preview/ (nothing written), its columns' fields can be
// changed (each change previews again), then POST /imports/ queues the job,
// whose progress comes from the event stream; the result lists the failed
// rows, links their CSV, and offers the undo.
//
// Progress. The page opens GET /events/?only=import when it loads (before
// any import it follows starts, so it misses none of its events): every
// server sends import.progress, import.finished and import.undone, each the
// whole import without its errors (handlers/hub_imports.go). When the import
// finishes, GET /imports/{id}/ is read once for its errors. These events are
// not replayed, so the page reads the import once whenever the stream
// (re)opens while it follows one. Polling GET /imports/{id}/ twice a second
// is only the fallback: without EventSource, or while the stream is down (the
// browser reconnects by itself; a stream refused for good stays polled); and a
// stream that says nothing of a running import for 15 s (a lost message) gets
// it read once.
(function () {
  "use strict";
  var page = document.getElementById("import-page");
  if (!page) return;
  var api = page.getAttribute("data-api");
  var $ = function (id) { return document.getElementById(id); };
  var fileInput = $("import-file"), drop = $("import-drop"), status = $("import-status");
  var mappingBox = $("import-mapping"), runBox = $("import-run");
  var file = null, mapping = {}, fields = [], current = null, polling = 0;
  var POLL_MS = 500, QUIET_MS = 15000;
  var stream = null, streamUp = false, quiet = 0;
  // latest holds the last event of each import, for the events that arrive
  // before the answer to POST /imports/ says which import is ours.
  var latest = {};

  function say(el, text, isError) {
    el.textContent = text;
    el.classList.toggle("import-error", !!isError);
    el.setAttribute("role", isError ? "alert" : "status");
  }

  // line sets the progress line: not a live region (it changes a few times a
  // second; import-announce says the end), an alert when the job stopped.
  function line(text, isError) {
    var el = $("import-progress-text");
    el.textContent = text;
    el.classList.toggle("import-error", !!isError);
    if (isError) el.setAttribute("role", "alert"); else el.removeAttribute("role");
  }

  function duplicates() {
    var r = document.querySelector('input[name="duplicates"]:checked');
    return r ? r.value : "skip";
  }

  function form() {
    var fd = new FormData();
    fd.append("mapping", JSON.stringify(mapping));
    fd.append("duplicates", duplicates());
    fd.append("file", file, file.name);
    return fd;
  }

  // send posts or gets JSON and returns the decoded answer; a refusal is
  // thrown with the server's message.
  function send(method, url, body) {
    return fetch(url, { method: method, body: body, credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) {
        return res.text().then(function (text) {
          var data = null;
          try { data = JSON.parse(text); } catch (e) { /* not JSON */ }
          if (!res.ok) {
            var msg = data && data.error ? data.error : "The server answered " + res.status + ".";
            if (data && data.fields && data.fields.file) msg = "This file cannot be imported: " + data.fields.file + ".";
            throw new Error(msg);
          }
          return data;
        });
      });
  }

  function cell(tag, text, attrs) {
    var el = document.createElement(tag);
    if (text !== undefined && text !== null) el.textContent = text;
    if (attrs) Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    return el;
  }

  function preview() {
    if (!file) return;
    say(status, "Reading " + file.name + "…");
    send("POST", api + "/preview/", form()).then(function (p) {
      fields = p.fields;
      showPreview(p);
      say(status, "");
    }).catch(function (err) {
      mappingBox.hidden = true;
      say(status, err.message, true);
    });
  }

  function showPreview(p) {
    $("import-file-info").textContent = p.file_name + ": " + p.rows.toLocaleString() + " " + (p.rows === 1 ? "row" : "rows") +
      ", " + p.encoding + ", separated by " + p.delimiter + "s.";
    var body = document.querySelector("#import-columns tbody");
    body.textContent = "";
    p.columns.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.appendChild(cell("th", c.header || "(no header)", { scope: "row" }));
      var first = p.sample.length && p.sample[0].cells[c.index] !== undefined ? p.sample[0].cells[c.index] : "";
      tr.appendChild(cell("td", first, { "class": "import-first import-wrap" }));
      var td = document.createElement("td");
      var sel = document.createElement("select");
      sel.id = "import-col-" + c.index;
      sel.setAttribute("aria-label", "Import the column “" + c.header + "” as");
      sel.setAttribute("data-header", c.header);
      sel.appendChild(cell("option", "Not imported", { value: "" }));
      fields.forEach(function (f) {
        var o = cell("option", f.label, { value: f.field });
        if (f.field === c.field) o.selected = true;
        sel.appendChild(o);
      });
      sel.addEventListener("change", function () {
        mapping[c.header] = sel.value;
        preview();
      });
      td.appendChild(sel);
      tr.appendChild(td);
      body.appendChild(tr);
    });
    var head = document.querySelector("#import-sample thead"), rows = document.querySelector("#import-sample tbody");
    head.textContent = "";
    rows.textContent = "";
    var htr = document.createElement("tr");
    htr.appendChild(cell("th", "Row", { scope: "col" }));
    htr.appendChild(cell("th", "Will", { scope: "col" }));
    htr.appendChild(cell("th", "Problems", { scope: "col" }));
    p.columns.forEach(function (c) { htr.appendChild(cell("th", c.header, { scope: "col" })); });
    head.appendChild(htr);
    var verbs = { create: "create a lead", update: "update a lead", skip: "skip", fail: "fail" };
    p.sample.forEach(function (r) {
      var tr = document.createElement("tr");
      if (r.action === "fail") tr.className = "import-row-fail";
      tr.appendChild(cell("th", String(r.row), { scope: "row" }));
      tr.appendChild(cell("td", verbs[r.action] + (r.note ? " (" + r.note + ")" : ""), { "class": "import-wrap" }));
      var problems = Object.keys(r.errors || {}).sort().map(function (k) { return k + ": " + r.errors[k]; });
      tr.appendChild(cell("td", problems.join("; "), { "class": problems.length ? "import-problem import-wrap" : "import-wrap" }));
      p.columns.forEach(function (c) { tr.appendChild(cell("td", r.cells[c.index] || "")); });
      rows.appendChild(tr);
    });
    $("import-start").textContent = "Import " + p.rows.toLocaleString() + " " + (p.rows === 1 ? "row" : "rows");
    mappingBox.hidden = false;
    runBox.hidden = true;
  }

  function choose(f) {
    if (!f) return;
    file = f;
    mapping = {};
    preview();
  }

  fileInput.addEventListener("change", function () { choose(fileInput.files[0]); });
  ["dragenter", "dragover"].forEach(function (ev) {
    drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add("import-drop-over"); });
  });
  ["dragleave", "drop"].forEach(function (ev) {
    drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove("import-drop-over"); });
  });
  drop.addEventListener("drop", function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) choose(e.dataTransfer.files[0]);
  });
  document.querySelectorAll('input[name="duplicates"]').forEach(function (r) {
    r.addEventListener("change", preview);
  });
  $("import-cancel").addEventListener("click", function () {
    file = null;
    fileInput.value = "";
    mappingBox.hidden = true;
    fileInput.focus();
  });
  $("import-again").addEventListener("click", function () {
    file = null;
    fileInput.value = "";
    runBox.hidden = true;
    fileInput.focus();
  });

  $("import-start").addEventListener("click", function () {
    var button = $("import-start");
    button.disabled = true;
    send("POST", api + "/", form()).then(function (imp) {
      mappingBox.hidden = true;
      follow(imp);
      // The button pressed is gone with the mapping: the keyboard goes on
      // from the import's heading, and a screen reader hears it started.
      $("import-h-run").focus();
      say($("import-announce"), "Import of " + imp.file_name + " started.");
    }).catch(function (err) {
      say(status, err.message, true);
    }).then(function () { button.disabled = false; });
  });

  function running(imp) { return imp.state === "queued" || imp.state === "running"; }

  // newer says whether import b is a later state of the same import than a.
  function newer(a, b) {
    if (!a || !b || a.id !== b.id) return false;
    if (running(a) !== running(b)) return running(a);
    if (running(a)) return b.rows_done > a.rows_done || (a.state === "queued" && b.state === "running");
    return a.state !== "undone" && b.state === "undone";
  }

  // follow shows an import's progress until its job is over, then its result:
  // imp is what GET /imports/{id}/ or an event says.
  function follow(imp) {
    if (latest[imp.id] && newer(imp, latest[imp.id])) imp = latest[imp.id];
    current = imp;
    runBox.hidden = false;
    $("import-result").hidden = true;
    say($("import-announce"), "");
    clearTimeout(polling);
    clearTimeout(quiet);
    if (running(imp)) {
      showProgress(imp);
      watch();
      return;
    }
    finished(imp);
  }

  // showProgress draws a running import's bar and line.
  function showProgress(imp) {
    var bar = $("import-bar");
    var done = imp.rows_done.toLocaleString() + " of " + imp.rows_total.toLocaleString() + " rows";
    bar.value = imp.progress;
    bar.setAttribute("aria-valuetext", done);
    line((imp.state === "queued" && imp.rows_done === 0 ? "Waiting for a worker… " : "") + "Imported " + done + "…");
  }

  // watch waits for the running import's next news: from the stream, with a
  // read after QUIET_MS of silence; else by polling.
  function watch() {
    clearTimeout(polling);
    clearTimeout(quiet);
    if (!current || !running(current)) return;
    if (streamUp) {
      quiet = setTimeout(refresh, QUIET_MS);
    } else {
      polling = setTimeout(refresh, POLL_MS);
    }
  }

  // refresh reads the import followed once.
  function refresh() {
    if (!current) return;
    var id = current.id;
    send("GET", current.url).then(function (imp) {
      if (current && current.id === id) follow(imp);
    }).catch(function (err) { line(err.message, true); watch(); });
  }

  // finished shows an import whose job is over; an event carries no errors,
  // so they are read once.
  function finished(imp) {
    var bar = $("import-bar");
    bar.value = 1;
    bar.setAttribute("aria-valuetext", imp.rows_total.toLocaleString() + " rows, finished");
    var failed = imp.state === "failed";
    // An import opened from the recent ones may have been undone since.
    var end = failed ? "The import stopped." : imp.state === "undone" ? "The import was undone." : "The import is finished.";
    line(failed ? "The import stopped: " + imp.error : end, failed);
    if (!imp.errors) {
      refresh();
      return;
    }
    showResult(imp);
    say($("import-announce"), end + " " + $("import-summary").textContent);
  }

  // onImportEvent takes an import event of the stream.
  function onImportEvent(e) {
    var imp;
    try { imp = JSON.parse(e.data); } catch (err) { return; }
    if (!latest[imp.id] || !newer(imp, latest[imp.id])) latest[imp.id] = imp;
    if (!current || current.id !== imp.id || !newer(current, imp)) return;
    if (e.type === "import.undone") {
      current.state = "undone";
      undone(imp.undo_result ? imp.undo_result.message : "The import was undone.");
      return;
    }
    if (e.type === "import.finished") {
      follow(imp);
      return;
    }
    current = imp;
    showProgress(imp);
    watch();
  }

  function openStream() {
    if (!window.EventSource) return;
    stream = new EventSource("/events/?only=import");
    ["import.progress", "import.finished", "import.undone"].forEach(function (t) {
      stream.addEventListener(t, onImportEvent);
    });
    stream.addEventListener("open", function () {
      streamUp = true;
      // What was sent while the stream was down is not replayed.
      if (current && running(current)) refresh();
    });
    stream.addEventListener("error", function () {
      streamUp = false;
      watch();
    });
    window.addEventListener("pagehide", function () { stream.close(); });
  }

  function showResult(imp) {
    var n = function (x) { return x.toLocaleString(); };
    var parts = [n(imp.created) + " created", n(imp.updated) + " updated", n(imp.skipped) + " skipped (already there)", n(imp.failed) + " failed"];
    $("import-summary").textContent = imp.file_name + ": " + parts.join(", ") + ".";
    var box = $("import-errors-box"), body = document.querySelector("#import-errors tbody");
    body.textContent = "";
    (imp.errors || []).forEach(function (e) {
      var tr = document.createElement("tr");
      tr.appendChild(cell("th", String(e.row), { scope: "row" }));
      tr.appendChild(cell("td", e.field));
      tr.appendChild(cell("td", e.message, { "class": "import-wrap" }));
      body.appendChild(tr);
    });
    box.hidden = imp.failed === 0 || !imp.failed_csv;
    $("import-failed").setAttribute("href", imp.failed_csv || "#");
    var undo = $("import-undo");
    undo.hidden = !imp.undo || imp.state === "undone" || (imp.created === 0 && imp.updated === 0);
    say($("import-undo-result"), imp.undo_result ? imp.undo_result.message : (imp.expired_message || ""));
    $("import-result").hidden = false;
  }

  // undone hides Undo and says what the undo did; the keyboard, when it was
  // on the button (pressed: it is disabled while the undo runs, which takes
  // the focus off it), goes on from the message.
  function undone(message, pressed) {
    var undo = $("import-undo"), result = $("import-undo-result");
    var focused = pressed || document.activeElement === undo;
    undo.hidden = true;
    say(result, message);
    if (focused) result.focus();
  }

  $("import-undo").addEventListener("click", function () {
    if (!current) return;
    var undo = $("import-undo");
    undo.disabled = true;
    say($("import-undo-result"), "Undoing the import…");
    send("POST", current.undo).then(function (rep) {
      current.state = "undone";
      undone(rep.message, true);
    }).catch(function (err) {
      say($("import-undo-result"), err.message, true);
    }).then(function () {
      undo.disabled = false;
      // Refused: the keyboard is back on the button it pressed.
      if (!undo.hidden && document.activeElement === document.body) undo.focus();
    });
  });

  openStream();

  // ?id= shows an earlier import (from the list of recent ones).
  var id = new URLSearchParams(location.search).get("id");
  if (id && /^[0-9a-f-]{36}$/.test(id)) {
    send("GET", api + "/" + id + "/").then(follow).catch(function (err) { say(status, err.message, true); });
  }
})();
