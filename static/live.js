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
(function () {
  'use strict';

  var TYPES = ['lead.created', 'lead.updated', 'lead.moved', 'lead.deleted', 'lead.restored'];
  var STAGE_TYPES = ['stage.created', 'stage.updated', 'stage.deleted', 'stage.reordered'];
  var STAGE_VERBS = {
    'stage.created': 'added the stage', 'stage.updated': 'changed the stage',
    'stage.deleted': 'deleted the stage', 'stage.reordered': 'reordered the stages'
  };
  var stageTimer = null;
  var VERBS = {
    'lead.created': 'added', 'lead.updated': 'changed', 'lead.moved': 'moved',
    'lead.deleted': 'deleted', 'lead.restored': 'restored'
  };
  var HIGHLIGHT_MS = 2000;

  function byId(id) { return document.getElementById(id); }
  function cardOf(leadID) { return byId('lead-' + leadID); }

  var pending = [];   // events waiting for a drag or a dialog to end
  var timer = null;

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
    if (!ev.lead || applied(ev)) return;
    announce(describe(ev));
    if (openLead() === ev.lead.id) noticeInDialog(ev);
    pending.push(ev);
    // Events that arrive together are applied together, in one request.
    if (!timer) timer = setTimeout(flush, 30);
  }

  // onStageEvent renders the board again once no card is being dragged or
  // saved; several stage events in a row make one request.
  function onStageEvent(e) {
    var ev;
    try { ev = JSON.parse(e.data); } catch (err) { return; }
    var who = (ev.actor && ev.actor.name) || 'Someone';
    announce(who + ' ' + STAGE_VERBS[ev.type] + (ev.stage ? ' ' + ev.stage.name : '') + '.');
    if (stageTimer) return;
    var redraw = function () {
      if (dragging()) { stageTimer = setTimeout(redraw, 250); return; }
      stageTimer = null;
      htmx.trigger(document.body, 'leads-changed');
    };
    stageTimer = setTimeout(redraw, 30);
  }

  function start() {
    var board = byId('board');
    if (!board || !window.EventSource || !window.htmx) return;
    var since = board.dataset.eventsSince;
    var source = new EventSource('/events/' + (since ? '?since=' + encodeURIComponent(since) : ''));
    TYPES.forEach(function (t) { source.addEventListener(t, onEvent); });
    STAGE_TYPES.forEach(function (t) { source.addEventListener(t, onStageEvent); });
    // Too far behind: render the whole board again (it listens for this).
    source.addEventListener('reset', function () { htmx.trigger(document.body, 'leads-changed'); });
    window.addEventListener('pagehide', function () { source.close(); });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
