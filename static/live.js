// live.js: the board follows other people's changes as they happen. It listens
// to the event stream (GET /events/, Server-Sent Events) and, for a change this
// page does not show yet, asks the server for the columns it touched
// (GET /board/columns, swapped out of band), so every card is rendered by the
// server's templates; then it highlights the card and says what happened in the
// message region.
//
// - A change this tab made itself is already on the page: a card whose
//   data-version is the event's version or newer, or a deleted card that is
//   gone, is left alone.
// - While a card is being dragged or saved, changes wait until the drop is
//   done; while a lead's dialog is open, its own changes wait until it closes,
//   and the dialog says that someone changed the lead.
// - The browser reconnects by itself with Last-Event-ID; when it was too far
//   behind, the server sends "reset" and the whole board is rendered again.
// - A stage change (stage.created, .updated, .deleted, .reordered) renders the
//   whole board again, as the server now has it: columns appear, disappear,
//   change name or order. It waits, like the others, while a card is dragged.
// - A burst (an import's thousands of lead.created, a bulk action): the
//   stream is opened with burst=reset, so more than the server's BurstEvents
//   waiting events come as one reset; and once more than BURST events wait
//   here together, each further one is only counted. Either way the whole
//   board is rendered again at once, then at most every BURST_REDRAW_MS while
//   events or resets keep coming and once after they stop, and the message
//   region says it once ("… added 120 leads.", or "Many leads changed" when
//   the server skipped them). Card by card, an import of 20,000 rows kept the
//   tab busy for 3.5 s in pieces of up to a third of a second, and put 20,000
//   messages in the live region (TestBrowserLiveBoardImportBurst logs what it
//   costs now).
// - Messages are said once per batch of events applied (the one, or how many
//   changed), as they are applied: not once per event, and not for this
//   tab's own change whose event came before its answer.
// - import.finished (an event without an id, not in the history) puts a
//   notice with a link to the import's page in the board's notices, until it
//   is dismissed; import.undone makes it say the import was undone.
(function () {
  'use strict';

  var TYPES = ['lead.created', 'lead.updated', 'lead.moved', 'lead.deleted', 'lead.restored'];
  var STAGE_TYPES = ['stage.created', 'stage.updated', 'stage.deleted', 'stage.reordered'];
  var STAGE_VERBS = {
    'stage.created': 'added the stage', 'stage.updated': 'changed the stage',
    'stage.deleted': 'deleted the stage', 'stage.reordered': 'reordered the stages'
  };
  var VERBS = {
    'lead.created': 'added', 'lead.updated': 'changed', 'lead.moved': 'moved',
    'lead.deleted': 'deleted', 'lead.restored': 'restored'
  };
  var HIGHLIGHT_MS = 2000;
  var BURST = 50;
  var BURST_REDRAW_MS = 2000;
  var BURST_QUIET_MS = 1500;
  var MAX_NOTICES = 3;

  function byId(id) { return document.getElementById(id); }
  function cardOf(leadID) { return byId('lead-' + leadID); }

  var pending = [];   // events waiting for a drag or a dialog to end
  var timer = null;
  // burst counts the events of a burst: {n, who (actor name, '' for several,
  // null for not known), created (all lead.created), skipped (the stream
  // skipped some: reset), dirty (events since the last redraw), last (when the
  // last came), drawnAt, tick (its interval)}.
  var burst = null;
  var redrawTimer = null;

  // ---- What the page already shows ---------------------------------------------

  function applied(ev) {
    var card = cardOf(ev.lead.id);
    if (ev.type === 'lead.deleted') return !card;
    if (!card) return false;
    var v = parseInt(card.dataset.version || '0', 10);
    return v >= ev.lead.version;
  }

  function dragging() {
    return document.body.classList.contains('is-dragging') || !!document.querySelector('.card-saving');
  }

  // openLead is the id of the lead whose dialog is open, if any.
  function openLead() {
    var dlg = byId('lead-dialog');
    if (!dlg || !dlg.open) return null;
    var form = dlg.querySelector('form[action^="/board/leads/"]');
    var m = form && form.getAttribute('action').match(/\/board\/leads\/([0-9a-f-]{36})/);
    return m ? m[1] : null;
  }

  function waits(ev) { return dragging() || openLead() === ev.lead.id; }

  // ---- Telling the person ------------------------------------------------------

  function describe(ev) {
    var who = (ev.actor && ev.actor.name) || 'Someone';
    var name = ev.lead.name || 'a lead';
    var text = who + ' ' + VERBS[ev.type] + ' ' + name;
    if (ev.type === 'lead.moved' || ev.type === 'lead.created' || ev.type === 'lead.restored') {
      text += ' (' + ev.lead.status + ')';
    } else if (ev.type === 'lead.updated' && ev.changes && ev.changes.length) {
      text += ': ' + ev.changes.map(function (c) { return c.field; }).join(', ');
    }
    return text + '.';
  }

  // describeMany says what a batch of n events by who (the actor's name, ''
  // for several, null for not known) did; skipped: the stream skipped some of
  // them (reset), so n is not all.
  function describeMany(n, who, created, skipped) {
    if (skipped && who === null) return 'Many leads changed; the board shows them.';
    who = who || 'Several people';
    if (skipped) return who + ' changed many leads; the board shows them.';
    return who + ' ' + (created ? 'added ' : 'changed ') + n.toLocaleString() + ' leads.';
  }

  // say says the events about to be applied: the one, or how many. They are
  // said when they are applied, not when they arrive: by then this tab's own
  // change, whose event may come before its answer, is on the page.
  function say(evs) {
    if (!evs.length) return;
    if (evs.length === 1) {
      announce(describe(evs[0]));
      return;
    }
    var who = evs[0].actor && evs[0].actor.name, created = true;
    evs.forEach(function (ev) {
      if (!ev.actor || ev.actor.name !== who) who = '';
      if (ev.type !== 'lead.created') created = false;
    });
    announce(describeMany(evs.length, who, created));
  }

  // announce puts the message in the page's live region (#flash, a polite
  // status region), as a success toast like the server's, unless an error
  // message is showing there.
  function announce(text) {
    var flash = byId('flash');
    if (!flash || flash.querySelector('.toast-error')) return;
    var box = document.createElement('div');
    box.className = 'toast toast-ok toast-live';
    box.setAttribute('role', 'status');
    var p = document.createElement('p');
    p.textContent = text;
    var close = document.createElement('button');
    close.type = 'button';
    close.className = 'toast-close';
    close.setAttribute('data-dismiss', '');
    close.setAttribute('aria-label', 'Dismiss message');
    close.textContent = '\u00d7';
    box.append(p, close);
    flash.replaceChildren(box);
    setTimeout(function () { box.remove(); }, 5000);
  }

  // noticeInDialog tells the person whose dialog shows the lead that someone
  // else just changed it.
  function noticeInDialog(ev) {
    var body = byId('lead-dialog-body');
    if (!body) return;
    var note = body.querySelector('.live-notice');
    if (!note) {
      note = document.createElement('p');
      note.className = 'live-notice';
      note.setAttribute('role', 'status');
      body.prepend(note);
    }
    note.textContent = ev.type === 'lead.deleted'
      ? describe(ev) + ' Saving will not bring it back; the trash can.'
      : describe(ev) + ' Saving keeps their changes to fields you did not edit and asks about the ones you did.';
  }

  function highlight(ids) {
    ids.forEach(function (id) {
      var card = cardOf(id);
      if (!card) return;
      card.classList.add('card-live');
      setTimeout(function () { card.classList.remove('card-live'); }, HIGHLIGHT_MS);
    });
  }

  // ---- Applying changes --------------------------------------------------------

  function stagesOf(ev, out) {
    out[ev.lead.status] = true;
    var card = cardOf(ev.lead.id);
    var list = card && card.closest('.cards[data-status]');
    if (list) out[list.dataset.status] = true;
    (ev.changes || []).forEach(function (c) {
      if (c.field === 'status' && c.old) out[c.old] = true;
    });
  }

  function apply(evs) {
    evs = evs.filter(function (ev) { return !applied(ev); });
    say(evs);
    if (!evs.length) return;
    var board = byId('board');
    if (!board) return;
    var stages = {};
    var ids = [];
    evs.forEach(function (ev) {
      stagesOf(ev, stages);
      if (ev.type !== 'lead.deleted') ids.push(ev.lead.id);
    });
    var query = Object.keys(stages).map(function (s) { return 'stage=' + encodeURIComponent(s); }).join('&');
    // The board as source: app.js adds the search and the shown counts.
    htmx.ajax('GET', '/board/columns?' + query, { source: board, swap: 'none' }).then(function () {
      highlight(ids);
    });
  }

  function flush() {
    timer = null;
    var ready = [], later = [];
    pending.forEach(function (ev) { (waits(ev) ? later : ready).push(ev); });
    pending = later;
    if (ready.length) apply(ready);
    if (pending.length) timer = setTimeout(flush, 250);
  }

  function onEvent(e) {
    var ev;
    try { ev = JSON.parse(e.data); } catch (err) { return; }
    if (!ev.lead) return;
    if (burst) {
      countBurst(ev);
      if (openLead() === ev.lead.id) noticeInDialog(ev);
      return;
    }
    if (applied(ev)) return;
    if (openLead() === ev.lead.id) noticeInDialog(ev);
    pending.push(ev);
    if (pending.length > BURST) {
      startBurst(pending);
      return;
    }
    // Events that arrive together are applied together, in one request.
    if (!timer) timer = setTimeout(flush, 30);
  }

  // ---- Bursts ------------------------------------------------------------------

  // startBurst begins a burst with the events waiting (none for a reset):
  // the board is rendered again instead of their columns.
  function startBurst(evs) {
    clearTimeout(timer);
    timer = null;
    pending = [];
    burst = { n: 0, who: evs.length ? (evs[0].actor && evs[0].actor.name) || '' : null, created: true,
      skipped: false, dirty: false, last: Date.now(), drawnAt: 0, tick: 0 };
    evs.forEach(countBurst);
    redrawBurst();
    burst.tick = setInterval(burstTick, 250);
  }

  function countBurst(ev) {
    burst.n++;
    burst.dirty = true;
    burst.last = Date.now();
    if (burst.who && (!ev.actor || ev.actor.name !== burst.who)) burst.who = '';
    if (ev.type !== 'lead.created') burst.created = false;
  }

  function redrawBurst() {
    burst.dirty = false;
    burst.drawnAt = Date.now();
    redraw();
  }

  // burstTick redraws while a burst goes on, and ends it when the events
  // stop.
  function burstTick() {
    var now = Date.now();
    if (now - burst.last >= BURST_QUIET_MS) {
      clearInterval(burst.tick);
      if (burst.dirty) redraw();
      announce(describeMany(burst.n, burst.who, burst.created, burst.skipped));
      burst = null;
      return;
    }
    if (burst.dirty && now - burst.drawnAt >= BURST_REDRAW_MS) redrawBurst();
  }

  // redraw renders the whole board again once no card is being dragged or
  // saved; several calls in a row make one request.
  function redraw() {
    if (redrawTimer) return;
    var go = function () {
      if (dragging()) { redrawTimer = setTimeout(go, 250); return; }
      redrawTimer = null;
      htmx.trigger(document.body, 'leads-changed');
    };
    redrawTimer = setTimeout(go, 30);
  }

  // ---- Imports -----------------------------------------------------------------

  // onImportFinished shows a notice of a finished import, linking to its
  // page, until it is dismissed (the newest MAX_NOTICES at most).
  // noticeText is what a notice says of import imp, before its link.
  function noticeText(imp) {
    if (imp.state === 'undone') return 'Import of ' + imp.file_name + ' undone \u2014 ';
    var n = function (x) { return (x || 0).toLocaleString(); };
    var parts = [n(imp.created) + ' added'];
    if (imp.updated) parts.push(n(imp.updated) + ' updated');
    if (imp.skipped) parts.push(n(imp.skipped) + ' skipped');
    if (imp.failed) parts.push(n(imp.failed) + ' failed');
    return 'Import of ' + imp.file_name + (imp.state === 'failed' ? ' stopped' : '') + ': ' + parts.join(', ') + ' \u2014 ';
  }

  // onImportUndone: the notice of an import undone since says so.
  function onImportUndone(e) {
    var imp;
    try { imp = JSON.parse(e.data); } catch (err) { return; }
    var box = byId('board-notices');
    if (!box || !imp.id) return;
    Array.prototype.forEach.call(box.querySelectorAll('.toast-notice'), function (toast) {
      if (toast.dataset.importId !== imp.id) return;
      var p = toast.querySelector('p'), link = p.querySelector('a');
      p.textContent = noticeText(imp);
      p.appendChild(link);
    });
  }

  function onImportFinished(e) {
    var imp;
    try { imp = JSON.parse(e.data); } catch (err) { return; }
    var box = byId('board-notices'); // views.NoticesID
    if (!box || !imp.id) return;
    var toast = document.createElement('div');
    toast.className = 'toast toast-notice';
    toast.dataset.importId = imp.id;
    var p = document.createElement('p');
    p.textContent = noticeText(imp);
    var link = document.createElement('a');
    link.href = box.dataset.importPath + '?id=' + encodeURIComponent(imp.id);
    link.textContent = 'View';
    link.setAttribute('aria-label', 'View the import of ' + imp.file_name);
    p.appendChild(link);
    var close = document.createElement('button');
    close.type = 'button';
    close.className = 'toast-close';
    close.setAttribute('data-dismiss', '');
    close.setAttribute('aria-label', 'Dismiss the notice');
    close.textContent = '\u00d7';
    toast.append(p, close);
    box.append(toast);
    while (box.children.length > MAX_NOTICES) box.firstElementChild.remove();
  }

  // onReset: the stream skipped events (more than the server's BurstEvents
  // were waiting, or this page was too far behind): the board is rendered
  // again, as in a burst, which the resets of a long import stay part of.
  function onReset() {
    if (!burst) {
      startBurst([]);
    } else {
      burst.dirty = true;
      burst.last = Date.now();
    }
    burst.skipped = true;
  }

  // onStageEvent renders the board again once no card is being dragged or
  // saved; several stage events in a row make one request.
  function onStageEvent(e) {
    var ev;
    try { ev = JSON.parse(e.data); } catch (err) { return; }
    var who = (ev.actor && ev.actor.name) || 'Someone';
    announce(who + ' ' + STAGE_VERBS[ev.type] + (ev.stage ? ' ' + ev.stage.name : '') + '.');
    redraw();
  }

  function start() {
    var board = byId('board');
    if (!board || !window.EventSource || !window.htmx) return;
    var since = board.dataset.eventsSince;
    // burst=reset: more than a few hundred events at once come as one reset.
    var source = new EventSource('/events/?burst=reset' + (since ? '&since=' + encodeURIComponent(since) : ''));
    TYPES.forEach(function (t) { source.addEventListener(t, onEvent); });
    STAGE_TYPES.forEach(function (t) { source.addEventListener(t, onStageEvent); });
    // Too far behind: render the whole board again (it listens for this).
    source.addEventListener('reset', onReset);
    source.addEventListener('import.finished', onImportFinished);
    source.addEventListener('import.undone', onImportUndone);
    window.addEventListener('pagehide', function () { source.close(); });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
