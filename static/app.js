// app.js: the board's behaviour that htmx attributes cannot express on their own.
// The server renders every piece of HTML; this file only wires SortableJS to the
// move endpoint, opens and closes the lead dialog, shows error messages for
// responses that carry none, and keeps scroll positions across re-renders.
// No inline script or style anywhere, so a strict Content-Security-Policy can be
// turned on without touching the pages.
(function () {
  'use strict';

  var SEARCH_ID = 'board-search';
  var FLASH_ID = 'flash';
  var DIALOG_ID = 'lead-dialog';
  var DIALOG_BODY_ID = 'lead-dialog-body';

  function byId(id) { return document.getElementById(id); }

  // ---- Messages -------------------------------------------------------------

  // showMessage puts a message in the flash region, the same markup the server
  // renders (views.Flash), for failures where no server message arrives.
  function showMessage(text, kind) {
    var flash = byId(FLASH_ID);
    if (!flash) return;
    var box = document.createElement('div');
    box.className = 'toast toast-' + (kind || 'error');
    box.setAttribute('role', kind === 'ok' ? 'status' : 'alert');
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
    scheduleDismiss(box);
  }

  // Success messages fade after a few seconds; errors stay until dismissed.
  function scheduleDismiss(box) {
    if (!box.classList.contains('toast-ok')) return;
    setTimeout(function () { box.remove(); }, 5000);
  }

  document.addEventListener('click', function (e) {
    var btn = e.target.closest('[data-dismiss]');
    if (btn) {
      var toast = btn.closest('.toast');
      if (toast) toast.remove();
    }
  });

  // ---- htmx glue ------------------------------------------------------------

  // Every board request carries the current search and how many cards each
  // column shows, so the columns the server re-renders keep the filter and do not
  // shrink back to their first page.
  document.addEventListener('htmx:configRequest', function (evt) {
    var elt = evt.detail.elt;
    if (!elt.closest || !elt.closest('[data-board-scope]')) return;
    var isRefresh = elt.id === 'board';
    if (evt.detail.verb === 'get' && !isRefresh) return;
    var params = evt.detail.parameters;
    var search = byId(SEARCH_ID);
    if (search && params.q === undefined) params.q = search.value;
    params.shown = JSON.stringify(shownCounts());
  });

  function shownCounts() {
    var out = {};
    document.querySelectorAll('.cards[data-status]').forEach(function (list) {
      out[list.dataset.status] = list.querySelectorAll(':scope > .card').length;
    });
    return out;
  }

  // Error responses are swapped only when the server says where (HX-Retarget):
  // that is the HTML error adapter's message. Anything else (a proxy's 502, a
  // JSON error) is not HTML meant for the page and gets a generic message.
  document.addEventListener('htmx:beforeSwap', function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr.status >= 400 && xhr.getResponseHeader('HX-Retarget')) {
      evt.detail.shouldSwap = true;
    }
    saveScroll(evt.detail.requestConfig && evt.detail.requestConfig.elt);
  });

  document.addEventListener('htmx:responseError', function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr.getResponseHeader('HX-Retarget')) return; // the server's message is shown
    if (evt.detail.elt && evt.detail.elt.id === 'chat-panel') return; // the assistant's own business
    showMessage('Something went wrong (HTTP ' + xhr.status + '). Reload the page to see the current state.');
  });

  document.addEventListener('htmx:sendError', function () {
    showMessage('Could not reach the server. Check the connection and try again.');
  });

  // Keep the scroll position of the board and of each column across swaps that
  // re-render them (moves, edits, the assistant's changes), but not for a new
  // search, which starts at the top.
  var savedScroll = {};
  function saveScroll(elt) {
    savedScroll = {};
    if (elt && elt.id === SEARCH_ID) return;
    document.querySelectorAll('[data-keep-scroll][id]').forEach(function (el) {
      savedScroll[el.id] = [el.scrollLeft, el.scrollTop];
    });
  }

  htmx.onLoad(function (root) {
    var scope = root.querySelectorAll ? root : document;
    var lists = [];
    if (root.matches && root.matches('.cards')) lists.push(root);
    scope.querySelectorAll('.cards').forEach(function (l) { lists.push(l); });
    lists.forEach(initSortable);

    var keep = [];
    if (root.matches && root.matches('[data-keep-scroll]')) keep.push(root);
    scope.querySelectorAll('[data-keep-scroll][id]').forEach(function (el) { keep.push(el); });
    keep.forEach(function (el) {
      var pos = savedScroll[el.id];
      if (pos) {
        el.scrollLeft = pos[0];
        el.scrollTop = pos[1];
      }
    });
    scope.querySelectorAll('.toast-ok').forEach(scheduleDismiss);
  });

  // ---- Drag and drop ----------------------------------------------------------

  function initSortable(list) {
    if (list.dataset.sortable) return;
    list.dataset.sortable = 'on';
    Sortable.create(list, {
      group: 'board',
      draggable: '.card',
      // Pressing a control inside a card must not start a drag.
      filter: '.card-controls',
      preventOnFilter: false,
      // Pointer-event based dragging: the same code path for mouse, pen and touch,
      // and drop targets that can be styled.
      forceFallback: true,
      fallbackOnBody: true,
      fallbackTolerance: 4,
      // On touch screens a card is dragged after a short press, so a swipe still
      // scrolls the column.
      delay: 180,
      delayOnTouchOnly: true,
      animation: 150,
      ghostClass: 'card-ghost',
      chosenClass: 'card-chosen',
      dragClass: 'card-dragging',
      onStart: function () { document.body.classList.add('is-dragging'); },
      onEnd: onDrop
    });
  }

  function cardOrder(el) { return parseInt(el.dataset.order, 10); }

  function siblingCard(el, dir) {
    var s = dir < 0 ? el.previousElementSibling : el.nextElementSibling;
    while (s && !s.classList.contains('card')) {
      s = dir < 0 ? s.previousElementSibling : s.nextElementSibling;
    }
    return s;
  }

  // targetOrder is the card_order the dropped card should take: right after the
  // card above it or, at the top, where the card below it is. Positions come from
  // the rendered cards (data-order), so they are right in a filtered board too,
  // where the cards shown are not all the cards of the column.
  function targetOrder(item, from, to) {
    var same = from === to;
    var cur = cardOrder(item);
    var prev = siblingCard(item, -1);
    if (prev) {
      var p = cardOrder(prev);
      return same && cur < p ? p : p + 1;
    }
    var next = siblingCard(item, 1);
    if (next) {
      var n = cardOrder(next);
      return same && cur < n ? n - 1 : n;
    }
    return 0;
  }

  function onDrop(evt) {
    document.body.classList.remove('is-dragging');
    var item = evt.item, from = evt.from, to = evt.to;
    if (from === to && evt.oldDraggableIndex === evt.newDraggableIndex) return;
    var order = targetOrder(item, from, to);
    var oldIndex = evt.oldIndex;
    item.classList.add('card-saving');
    item.addEventListener('htmx:afterRequest', function (e) {
      // On success and on refused moves the server re-renders the columns, which
      // replaces this element. If it is still here, no columns came back (server
      // error, network down): put the card back where it was.
      if (!item.isConnected || e.detail.successful) return;
      item.classList.remove('card-saving');
      item.remove();
      from.insertBefore(item, from.children[oldIndex] || null);
    }, { once: true });
    htmx.ajax('POST', item.dataset.moveUrl, {
      source: item,
      target: '#' + FLASH_ID,
      swap: 'innerHTML',
      // The version the card was rendered at: a drop of a card someone else
      // changed meanwhile is refused, and the board shows where it really is.
      values: { status: to.dataset.status, from: from.dataset.status, order: String(order), version: item.dataset.version || '' }
    });
  }

  // ---- Lead dialog ------------------------------------------------------------

  var dialogOpener = null;

  // A modal dialog sits in the top layer, above everything else on the page and
  // making it inert: while one is open, the message region moves into it, so
  // messages (a refused save, a 502) show above the dialog and can be dismissed.
  // It keeps its id, so every hx-target="#flash" still finds it.
  var flashHome = null;
  function flashIntoDialog(dlg) {
    var flash = byId(FLASH_ID);
    if (!flash || flash.parentNode === dlg) return;
    flashHome = { parent: flash.parentNode, next: flash.nextSibling };
    dlg.appendChild(flash);
  }
  function flashBack() {
    var flash = byId(FLASH_ID);
    if (!flash || !flashHome) return;
    flashHome.parent.insertBefore(flash, flashHome.next);
    flashHome = null;
  }

  function syncDialog() {
    var dlg = byId(DIALOG_ID), body = byId(DIALOG_BODY_ID);
    if (!dlg || !body) return;
    var hasContent = body.children.length > 0;
    if (hasContent && !dlg.open) {
      var active = document.activeElement;
      dialogOpener = active && active.id ? active.id : null;
      dlg.showModal();
      flashIntoDialog(dlg);
      var focus = body.querySelector('[autofocus]') || body.querySelector('input, select, textarea, button');
      if (focus) focus.focus();
    } else if (!hasContent && dlg.open) {
      dlg.close();
    }
  }

  // After settle, not after swap: htmx focuses [autofocus] while settling,
  // which cannot work in a closed dialog and would steal the focus from an open one.
  document.addEventListener('htmx:afterSettle', function (evt) {
    if (evt.detail.target && evt.detail.target.id === DIALOG_BODY_ID) syncDialog();
  });
  document.addEventListener('htmx:oobAfterSwap', function (evt) {
    if (evt.detail.target && evt.detail.target.id === DIALOG_BODY_ID) syncDialog();
  });

  document.addEventListener('click', function (e) {
    if (e.target.closest('[data-dialog-close]')) {
      var dlg = byId(DIALOG_ID);
      if (dlg && dlg.open) dlg.close();
    }
  });

  function onDialogClose() {
    var body = byId(DIALOG_BODY_ID);
    if (body) body.replaceChildren();
    flashBack();
    // A lead opened from its own URL leaves that URL when its dialog closes.
    if (location.pathname !== '/') {
      var search = byId(SEARCH_ID);
      var q = search ? search.value.trim() : '';
      history.replaceState(null, '', q ? '/?q=' + encodeURIComponent(q) : '/');
    }
    if (dialogOpener) {
      var opener = byId(dialogOpener);
      if (opener) opener.focus();
    }
    dialogOpener = null;
  }

  // ---- Chat panel -------------------------------------------------------------

  document.addEventListener('click', function (e) {
    var btn = e.target.closest('[data-chat-toggle]');
    if (!btn) return;
    var panel = byId(btn.getAttribute('aria-controls'));
    if (!panel) return;
    var visible = getComputedStyle(panel).display !== 'none';
    var wide = window.matchMedia('(min-width: 1100px)').matches;
    // Wide windows show the panel unless hidden; narrow ones hide it unless shown.
    if (wide) document.body.classList.toggle('chat-hidden', visible);
    else document.body.classList.toggle('chat-shown', !visible);
    btn.setAttribute('aria-expanded', String(!visible));
  });

  // ---- Keyboard ---------------------------------------------------------------

  // "/" focuses the search box, as on most sites with one.
  document.addEventListener('keydown', function (e) {
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t.closest('input, textarea, select, [contenteditable], dialog[open]')) return;
    var search = byId(SEARCH_ID);
    if (search) {
      e.preventDefault();
      search.focus();
      search.select();
    }
  });

  // ---- Start --------------------------------------------------------------------

  function start() {
    var dlg = byId(DIALOG_ID);
    if (dlg) dlg.addEventListener('close', onDialogClose);
    // A full page for /board/leads/... arrives with the dialog already filled.
    syncDialog();
    var btn = document.querySelector('[data-chat-toggle]');
    var panel = btn && byId(btn.getAttribute('aria-controls'));
    if (panel) btn.setAttribute('aria-expanded', String(getComputedStyle(panel).display !== 'none'));
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
