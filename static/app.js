// app.js: the board's behaviour that htmx attributes cannot express on their own.
// The server renders every piece of HTML; this file wires SortableJS and the
// move menu to the move endpoint, moves the keyboard focus around the board
// (one Tab stop, arrow keys), opens and closes the lead dialog (with its URL in
// the address bar), collapses columns, shows error messages for responses that
// carry none, and keeps scroll positions across re-renders.
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
    if (!box.classList.contains('toast-ok') || box.dataset.dismissing) return;
    box.dataset.dismissing = 'on';
    // A message with Undo stays long enough to reach its button.
    setTimeout(function () { box.remove(); }, box.hasAttribute('data-undo') ? 12000 : 5000);
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
    // The board filters (views/board_filter.templ), likewise, in the URL:
    // a posted lead form has fields of the same names (source).
    var filters = byId('board-filters');
    if (filters) {
      var extra = new URLSearchParams();
      new FormData(filters).forEach(function (v, k) { if (v !== '') extra.set(k, v); });
      if (extra.toString()) {
        evt.detail.path += (evt.detail.path.indexOf('?') < 0 ? '?' : '&') + extra.toString();
      }
    }
    params.shown = JSON.stringify(shownCounts());
  });

  // boardAddress is the board's URL with the search and filters shown.
  function boardAddress() {
    var params = new URLSearchParams();
    var search = byId(SEARCH_ID);
    var q = search ? search.value.trim() : '';
    if (q) params.set('q', q);
    var filters = byId('board-filters');
    if (filters) {
      new FormData(filters).forEach(function (v, k) { if (v !== '') params.set(k, v); });
    }
    var qs = params.toString();
    return qs ? '/?' + qs : '/';
  }

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
    applyCollapsed(scope);
    ensureRoving();
    refocus();
    scheduleMore();
    applySelection(scope);
  });

  // ---- Drag and drop ----------------------------------------------------------

  function initSortable(list) {
    if (list.dataset.sortable) return;
    list.dataset.sortable = 'on';
    Sortable.create(list, {
      group: 'board',
      draggable: '.card',
      // Pressing the card's menu button must not start a drag.
      filter: '.card-menu-btn, .card-check',
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
      onStart: function () {
        dragging = true;
        document.body.classList.add('is-dragging');
      },
      onEnd: onDrop
    });
  }

  // Escape during a drag puts the card back: the drop is ended at once
  // (SortableJS listens for the pointer's release) and onDrop, told it was
  // cancelled, returns the card to where it was and saves nothing.
  var dragging = false, dragCancelled = false;
  document.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape' || !dragging) return;
    e.preventDefault();
    e.stopPropagation();
    dragCancelled = true;
    document.dispatchEvent(new PointerEvent('pointerup', { bubbles: true }));
    if (dragging) document.dispatchEvent(new MouseEvent('mouseup', { bubbles: true }));
  }, true);

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
    dragging = false;
    document.body.classList.remove('is-dragging');
    var item = evt.item, from = evt.from, to = evt.to;
    if (dragCancelled) {
      dragCancelled = false;
      item.remove();
      from.insertBefore(item, from.children[evt.oldIndex] || null);
      return;
    }
    if (from === to && evt.oldDraggableIndex === evt.newDraggableIndex) return;
    var order = targetOrder(item, from, to);
    var oldIndex = evt.oldIndex;
    item.classList.add('card-saving');
    // Into a lost stage: the lost-reason dialog first. The card waits in its
    // new place (marked saving, so live updates wait too); Cancel puts it back.
    if (from !== to && isLostStage(to.dataset.status)) {
      var link = item.querySelector('.card-name');
      askLost({
        what: cardName(item), stage: to.dataset.status,
        focus: function () { if (link && link.isConnected) setRoving(link, true); },
        cancel: function () {
          item.classList.remove('card-saving');
          item.remove();
          from.insertBefore(item, from.children[oldIndex] || null);
        },
        send: function (outcome) { sendDrop(item, from, to, order, oldIndex, outcome); }
      });
      return;
    }
    sendDrop(item, from, to, order, oldIndex, null);
  }

  // sendDrop posts a drop (with the lost-reason dialog's outcome, if any).
  function sendDrop(item, from, to, order, oldIndex, outcome) {
    var link = item.querySelector('.card-name');
    if (outcome && link) focusAfterSwap = link.id;
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
      values: withOutcome({ status: to.dataset.status, from: from.dataset.status, order: String(order), version: item.dataset.version || '', from_order: item.dataset.order }, outcome)
    });
  }

  // ---- Moves without a drag: the move menu and the keyboard -----------------------

  // postMove moves a card to stage status at position order; order undefined
  // puts it at the end of the column, as the API, the assistant and the lead
  // form do. from_order lets the server offer Undo.
  function postMove(card, status, order) {
    var list = card.closest('.cards');
    // Into another stage that is lost: the lost-reason dialog first.
    if (list && list.dataset.status !== status && isLostStage(status)) {
      var link = card.querySelector('.card-name');
      askLost({
        what: cardName(card), stage: status,
        focus: function () { if (link && link.isConnected) setRoving(link, true); },
        cancel: function () {},
        send: function (outcome) { sendMove(card, status, order, outcome); }
      });
      return;
    }
    sendMove(card, status, order, null);
  }

  function sendMove(card, status, order, outcome) {
    var list = card.closest('.cards');
    // The version the card was rendered at, as for a drop: a stale move is refused.
    var values = { status: status, from: list ? list.dataset.status : '', from_order: card.dataset.order, version: card.dataset.version || '' };
    if (order !== undefined) values.order = String(order);
    var link = card.querySelector('.card-name');
    if (link) focusAfterSwap = link.id;
    card.classList.add('card-saving');
    htmx.ajax('POST', card.dataset.moveUrl, { source: card, target: '#' + FLASH_ID, swap: 'innerHTML', values: withOutcome(values, outcome) });
  }

  // ---- The lost-reason dialog (views.LostDialog) ---------------------------------

  function cardName(card) {
    var a = card.querySelector('.card-name');
    return a ? a.textContent.trim() : '';
  }

  // isLostStage says whether the board's column of stage status is a lost one.
  function isLostStage(status) {
    return columns().some(function (c) { return c.dataset.status === status && c.classList.contains('kind-lost'); });
  }

  // withOutcome adds the dialog's answer to a move's form values.
  function withOutcome(values, outcome) {
    if (outcome && outcome.reason) values.lost_reason = outcome.reason;
    if (outcome && outcome.note) values.lost_note = outcome.note;
    return values;
  }

  // askLost opens the dialog for a move of what (a lead's name, or "3 leads")
  // into stage. Save calls ask.send({reason, note}); Skip ask.send({}) (a
  // move without a reason, refused by the server when the team requires
  // one); Cancel, × or Escape calls ask.cancel(). Then the focus goes where
  // ask.focus puts it (the card).
  var lostAsk = null;
  function askLost(ask) {
    var dlg = byId('lost-dialog'), form = byId('lost-form');
    if (!dlg || !form || !dlg.showModal) { ask.send({}); return; }
    if (lostAsk) { ask.cancel(); return; } // one question at a time
    lostAsk = ask;
    form.reset();
    setLostError('');
    byId('lost-dialog-what').textContent = 'Moving ' + ask.what + ' to ' + ask.stage + '.';
    dlg.showModal();
    var first = form.querySelector('input[name=lost_choice]') || byId('lost-reason-text');
    if (first) first.focus();
  }

  function setLostError(text) {
    var err = byId('lost-error');
    if (err) err.textContent = text;
    var input = byId('lost-reason-text');
    if (!input) return;
    if (text) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', 'lost-error');
    } else {
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-describedby');
    }
  }

  // finishLost closes the dialog, answering the question with outcome (null:
  // cancelled).
  function finishLost(outcome) {
    var ask = lostAsk, dlg = byId('lost-dialog');
    lostAsk = null;
    if (dlg && dlg.open) dlg.close();
    if (!ask) return;
    if (outcome) ask.send(outcome);
    else ask.cancel();
    ask.focus();
  }

  function lostReasonGiven() {
    var text = byId('lost-reason-text');
    var typed = text ? text.value.trim() : '';
    if (typed) return typed;
    var checked = document.querySelector('#lost-form input[name=lost_choice]:checked');
    return checked ? checked.value : '';
  }

  document.addEventListener('submit', function (e) {
    if (e.target.id !== 'lost-form') return;
    e.preventDefault();
    var reason = lostReasonGiven();
    var dlg = byId('lost-dialog');
    if (!reason && dlg && dlg.hasAttribute('data-required')) {
      setLostError('Choose or type a reason: your team requires one (lost_reason).');
      var first = document.querySelector('#lost-form input[name=lost_choice]') || byId('lost-reason-text');
      if (first) first.focus();
      return;
    }
    var note = byId('lost-note');
    finishLost({ reason: reason, note: note ? note.value.trim() : '' });
  });

  document.addEventListener('click', function (e) {
    if (!e.target.closest) return;
    if (e.target.closest('[data-lost-skip]')) finishLost({});
    else if (e.target.closest('[data-lost-cancel]')) finishLost(null);
  });

  // A reason of one's own replaces the choice, and a choice the words.
  document.addEventListener('input', function (e) {
    if (e.target.id === 'lost-reason-text' && e.target.value) {
      document.querySelectorAll('#lost-form input[name=lost_choice]').forEach(function (r) { r.checked = false; });
    }
  });
  document.addEventListener('change', function (e) {
    if (e.target.name === 'lost_choice' && e.target.closest('#lost-form')) {
      var text = byId('lost-reason-text');
      if (text) text.value = '';
      setLostError('');
    }
  });

  function columnOf(card) { return card.closest('.column'); }
  function columns() { return Array.prototype.slice.call(document.querySelectorAll('#board > .column')); }
  function cardsOf(col) { return Array.prototype.slice.call(col.querySelectorAll('.cards > .card')); }

  // moveStep moves a card one place up (-1) or down (1) its column.
  function moveStep(card, dir) {
    var order = parseInt(card.dataset.order, 10) + dir;
    if (order < 0) return;
    postMove(card, columnOf(card).dataset.status, order);
  }

  // moveColumn moves a card to the end of the stage before (-1) or after (1).
  function moveColumn(card, dir) {
    var cols = columns(), i = cols.indexOf(columnOf(card)) + dir;
    if (i < 0 || i >= cols.length) return;
    postMove(card, cols[i].dataset.status);
  }

  // The board's one move menu (views.MoveMenu), for the card it was opened on.
  var menuCard = null;
  function openMoveMenu(card, anchor) {
    var menu = byId('move-menu');
    if (!menu || !menu.showPopover) return;
    menuCard = card.id;
    var name = card.querySelector('.card-name').textContent.trim();
    byId('move-menu-title').textContent = 'Move ' + name;
    var status = columnOf(card).dataset.status;
    menu.querySelectorAll('[data-move-to]').forEach(function (b) { b.hidden = b.dataset.moveTo === status; });
    var up = menu.querySelector('[data-move="up"]');
    if (up) up.disabled = card.dataset.order === '0';
    if (!menu.matches(':popover-open')) menu.showPopover();
    var r = (anchor || card).getBoundingClientRect();
    var w = menu.offsetWidth, h = menu.offsetHeight;
    var left = Math.max(8, Math.min(r.left, innerWidth - w - 8));
    var top = r.bottom + 4 + h > innerHeight - 8 ? Math.max(8, r.top - h - 4) : r.bottom + 4;
    menu.style.setProperty('left', left + 'px');
    menu.style.setProperty('top', top + 'px');
    var first = menuItems()[0];
    if (first) first.focus();
  }

  function menuItems() {
    var menu = byId('move-menu');
    return menu ? Array.prototype.slice.call(menu.querySelectorAll('[role=menuitem]')).filter(function (b) { return !b.hidden && !b.disabled; }) : [];
  }

  function closeMoveMenu(refocusCard) {
    var menu = byId('move-menu');
    if (menu && menu.matches(':popover-open')) menu.hidePopover();
    var card = menuCard && byId(menuCard);
    if (refocusCard && card) setRoving(card.querySelector('.card-name'), true);
  }

  document.addEventListener('click', function (e) {
    var btn = e.target.closest('.card-menu-btn');
    if (btn) {
      e.preventDefault();
      openMoveMenu(btn.closest('.card'), btn);
      return;
    }
    var item = e.target.closest('#move-menu [role=menuitem]');
    if (!item) return;
    var card = menuCard && byId(menuCard);
    closeMoveMenu(true);
    if (!card) return;
    if (item.dataset.move === 'up') moveStep(card, -1);
    else if (item.dataset.move === 'down') moveStep(card, 1);
    else if (item.dataset.moveTo) postMove(card, item.dataset.moveTo);
  });

  document.addEventListener('keydown', function (e) {
    if (!e.target.closest || !e.target.closest('#move-menu')) return;
    var items = menuItems(), i = items.indexOf(document.activeElement), next = null;
    if (e.key === 'ArrowDown') next = items[(i + 1) % items.length];
    else if (e.key === 'ArrowUp') next = items[(i - 1 + items.length) % items.length];
    else if (e.key === 'Home') next = items[0];
    else if (e.key === 'End') next = items[items.length - 1];
    else if (e.key === 'Escape' || e.key === 'Tab') { e.preventDefault(); closeMoveMenu(true); return; }
    else return;
    e.preventDefault();
    if (next) next.focus();
  });

  // ---- Keyboard on the board: one Tab stop, arrow keys --------------------------

  // The board is one Tab stop: the link of one card has tabindex 0, every other
  // card's -1 (a roving tabindex). Arrow keys move it between cards (up, down)
  // and columns (left, right), Home and End to a column's first and last card;
  // Enter opens the lead; M (or the context-menu key, or Shift+F10) opens the
  // move menu; Alt with the arrow keys moves the card itself.
  var currentCard = null, focusAfterSwap = null;

  function setRoving(link, focus) {
    if (!link) return;
    document.querySelectorAll('#board .card-name[tabindex="0"]').forEach(function (a) { if (a !== link) a.tabIndex = -1; });
    link.tabIndex = 0;
    currentCard = link.id;
    if (focus) {
      link.focus();
      link.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    }
  }

  function ensureRoving() {
    var board = byId('board');
    if (!board) return;
    var cur = currentCard && byId(currentCard);
    if (cur && board.contains(cur)) {
      if (cur.tabIndex !== 0) setRoving(cur, false);
      return;
    }
    setRoving(board.querySelector('.column:not(.collapsed) .card-name') || board.querySelector('.card-name'), false);
  }

  // refocus puts the focus back on the card it was on before a swap replaced
  // it (a move re-renders the columns): focus follows the card.
  function refocus() {
    if (!focusAfterSwap) return;
    var a = document.activeElement;
    if (a && a !== document.body && a.isConnected && a.id !== focusAfterSwap) return;
    var link = byId(focusAfterSwap);
    if (link && link !== a) setRoving(link, true);
    if (link) focusAfterSwap = null;
  }

  document.addEventListener('focusin', function (e) {
    if (e.target.matches && e.target.matches('#board .card-name')) setRoving(e.target, false);
  });

  function cardAcross(card, dir) {
    var cols = columns().filter(function (c) { return !c.classList.contains('collapsed') && cardsOf(c).length > 0; });
    var col = columnOf(card), i = cols.indexOf(col);
    var idx = cardsOf(col).indexOf(card);
    for (var j = i + dir; j >= 0 && j < cols.length; j += dir) {
      var list = cardsOf(cols[j]);
      if (list.length) return list[Math.min(idx, list.length - 1)];
    }
    return null;
  }

  document.addEventListener('keydown', function (e) {
    var link = e.target.closest && e.target.closest('#board .card-name');
    if (!link || e.ctrlKey || e.metaKey) return;
    var card = link.closest('.card'), k = e.key, target = null;
    if (e.altKey) {
      if (k === 'ArrowUp' || k === 'ArrowDown') moveStep(card, k === 'ArrowUp' ? -1 : 1);
      else if (k === 'ArrowLeft' || k === 'ArrowRight') moveColumn(card, k === 'ArrowLeft' ? -1 : 1);
      else return;
      e.preventDefault();
      return;
    }
    if (k === 'x' || k === 'X' || k === ' ') {
      e.preventDefault();
      if (e.shiftKey) selectRange(card, true);
      else toggleSelected(card, !isSelected(card), true);
      return;
    }
    if (k === 'Escape' && selectedCount() > 0) {
      e.preventDefault();
      clearSelection(true);
      return;
    }
    if (k === 'm' || k === 'M' || k === 'ContextMenu' || (k === 'F10' && e.shiftKey)) {
      e.preventDefault();
      openMoveMenu(card, link);
      return;
    }
    var list = cardsOf(columnOf(card));
    if (k === 'ArrowDown') target = siblingCard(card, 1);
    else if (k === 'ArrowUp') target = siblingCard(card, -1);
    else if (k === 'Home') target = list[0];
    else if (k === 'End') target = list[list.length - 1];
    else if (k === 'ArrowRight') target = cardAcross(card, 1);
    else if (k === 'ArrowLeft') target = cardAcross(card, -1);
    else return;
    e.preventDefault();
    if (target) setRoving(target.querySelector('.card-name'), true);
  });

  // ---- Selection and the bulk bar (views.BulkBar) ------------------------------------

  // The selected leads, by id, kept here rather than in the page: a re-render
  // of the board (a move, someone else's change, a stage edit) draws new cards,
  // and applySelection checks those whose lead is still selected. A lead whose
  // card is gone from the board (deleted, filtered out) leaves the selection.
  var selected = {}, selectAnchor = null;

  function selectedIDs() { return Object.keys(selected); }
  function selectedCount() { return selectedIDs().length; }
  function isSelected(card) { return !!selected[card.dataset.id]; }

  function markCard(card) {
    var on = isSelected(card);
    card.classList.toggle('card-selected', on);
    var box = card.querySelector('.card-check input');
    if (box && box.checked !== on) box.checked = on;
  }

  // announceQuiet says text through the page's live region (#flash) without
  // a visible message, and without replacing one that is showing.
  function announceQuiet(text) {
    var flash = byId(FLASH_ID);
    if (!flash) return;
    var p = flash.querySelector('[data-announce]');
    if (!p) {
      p = document.createElement('p');
      p.className = 'sr-only';
      p.setAttribute('data-announce', '');
      flash.appendChild(p);
    }
    p.textContent = text;
  }

  function toggleSelected(card, on, announce) {
    if (!card || !card.dataset.id) return;
    if (on) selected[card.dataset.id] = true;
    else delete selected[card.dataset.id];
    selectAnchor = card.dataset.id;
    markCard(card);
    updateBulkBar();
    if (announce) announceQuiet(cardName(card) + (on ? ' selected. ' : ' not selected. ') + selectedCount() + ' selected.');
  }

  // selectRange selects the cards of a column from the last one (de)selected
  // to card, both included (Shift-click, Shift+X). Without an anchor in the
  // same column, only card.
  function selectRange(card, announce) {
    var list = cardsOf(columnOf(card));
    var anchor = selectAnchor && byId('lead-' + selectAnchor);
    var a = anchor ? list.indexOf(anchor) : -1, b = list.indexOf(card);
    if (a < 0) { toggleSelected(card, true, announce); return; }
    var lo = Math.min(a, b), hi = Math.max(a, b);
    for (var i = lo; i <= hi; i++) {
      selected[list[i].dataset.id] = true;
      markCard(list[i]);
    }
    selectAnchor = card.dataset.id;
    updateBulkBar();
    if (announce) announceQuiet((hi - lo + 1) + ' cards selected in ' + columnOf(card).dataset.status + '. ' + selectedCount() + ' selected.');
  }

  function clearSelection(announce) {
    selected = {};
    selectAnchor = null;
    document.querySelectorAll('#board .card-selected').forEach(markCard);
    document.querySelectorAll('#board .card-check input:checked').forEach(function (b) { b.checked = false; });
    updateBulkBar();
    if (announce) announceQuiet('Selection cleared.');
  }

  // Cards are marked as soon as they are swapped in (htmx.onLoad comes after
  // the settle, a moment later), so a re-rendered column never shows its
  // selected cards unselected.
  ['htmx:afterSwap', 'htmx:oobAfterSwap'].forEach(function (name) {
    document.addEventListener(name, function (evt) {
      var t = evt.detail && evt.detail.target;
      if (t && t.isConnected) applySelection(t);
      else if (name === 'htmx:oobAfterSwap') applySelection(byId('board') || document);
    });
  });

  // applySelection marks the cards of a swapped-in part of the board, and
  // (once the swaps of a response are all in) forgets leads no longer shown.
  var prunePending = false;
  function applySelection(scope) {
    if (!selectedCount()) return;
    var cards = [];
    if (scope.matches && scope.matches('.card')) cards.push(scope);
    scope.querySelectorAll('.card').forEach(function (c) { cards.push(c); });
    cards.forEach(markCard);
    if (prunePending) return;
    prunePending = true;
    setTimeout(function () {
      prunePending = false;
      if (document.querySelector('.card-saving')) return; // a drop in flight: its columns are not back yet
      var gone = selectedIDs().filter(function (id) { return !byId('lead-' + id); });
      if (!gone.length) return;
      gone.forEach(function (id) { delete selected[id]; });
      updateBulkBar();
    }, 100);
  }

  // updateBulkBar shows the bar while cards are selected, with their count,
  // and the board's stages to move them to.
  function updateBulkBar() {
    var bar = byId('bulk-bar');
    if (!bar) return;
    var n = selectedCount();
    var wasHidden = bar.hidden;
    bar.hidden = n === 0;
    document.body.classList.toggle('selecting', n > 0);
    byId('bulk-count').textContent = n + ' selected';
    var sel = byId('bulk-stage');
    var stages = columns().map(function (c) { return c.dataset.status; });
    var have = Array.prototype.map.call(sel.options, function (o) { return o.value; });
    if (have.join('\n') !== stages.join('\n')) {
      var keep = sel.value;
      sel.replaceChildren.apply(sel, stages.map(function (st) {
        var o = document.createElement('option');
        o.value = st;
        o.textContent = st;
        return o;
      }));
      if (stages.indexOf(keep) >= 0) sel.value = keep;
    }
    if (wasHidden !== bar.hidden) scheduleMore();
  }

  document.addEventListener('click', function (e) {
    var box = e.target.closest && e.target.closest('#board .card-check input');
    if (!box) return;
    var card = box.closest('.card');
    if (e.shiftKey) {
      selectRange(card, false);
    } else {
      toggleSelected(card, box.checked, false);
    }
    markCard(card);
  });

  // postBulk sends the bulk bar's action for the selected leads (with the
  // versions their cards show: a lead changed meanwhile refuses the whole
  // action, and the board shows it as it is now).
  function postBulk(values, focusBack) {
    var bar = byId('bulk-bar');
    // In board order: moved leads keep it in their new stage.
    var ids = Array.prototype.map.call(document.querySelectorAll('#board .card'), function (c) { return c.dataset.id; })
      .filter(function (id) { return selected[id]; });
    var versions = {};
    ids.forEach(function (id) {
      var card = byId('lead-' + id);
      if (card && card.dataset.version) versions[id] = parseInt(card.dataset.version, 10);
    });
    values.ids = ids.join(',');
    values.versions = JSON.stringify(versions);
    bar.addEventListener('htmx:afterRequest', function (e) {
      if (e.detail.successful) clearSelection(false);
      if (focusBack) {
        var link = byId(focusBack);
        if (link) setRoving(link, true);
      }
    }, { once: true });
    htmx.ajax('POST', '/board/bulk', { source: bar, target: '#' + FLASH_ID, swap: 'innerHTML', values: values });
  }

  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('#bulk-bar [data-bulk]');
    if (!btn) return;
    var action = btn.dataset.bulk, n = selectedCount();
    // After the action the focus goes back to the board, to the card it was on.
    var back = currentCard;
    if (action === 'clear') {
      clearSelection(true);
      var link = back && byId(back);
      if (link) setRoving(link, true);
      return;
    }
    if (!n) return;
    if (action === 'move') {
      var status = byId('bulk-stage').value;
      if (isLostStage(status)) {
        askLost({
          what: n + (n === 1 ? ' lead' : ' leads'), stage: status,
          focus: function () { if (!selectedCount()) return; btn.focus(); },
          cancel: function () {},
          send: function (outcome) { postBulk(withOutcome({ action: 'move', status: status }, outcome), back); }
        });
        return;
      }
      postBulk({ action: 'move', status: status }, back);
    } else if (action === 'assign') {
      postBulk({ action: 'assign', owner: byId('bulk-owner').value }, back);
    } else if (action === 'delete') {
      postBulk({ action: 'delete' }, back);
    }
  });

  // ---- Columns: collapse, and the ones off-screen ------------------------------

  // Collapsed columns are remembered in this browser's localStorage, per
  // signed-in person (the key holds their email), not on the server: it is a
  // preference of one screen, and a phone and a desktop may want different ones.
  function collapseKey() {
    var b = byId('board');
    return 'crm.collapsed.' + (b && b.dataset.user ? b.dataset.user : '');
  }
  function collapsedStages() {
    try { return JSON.parse(localStorage.getItem(collapseKey()) || '[]'); } catch (err) { return []; }
  }
  function setCollapsed(col, on) {
    // Columns are rendered expanded: touch nothing (no restyle of a large
    // board) unless the state changes.
    if (col.classList.contains('collapsed') === on) return;
    col.classList.toggle('collapsed', on);
    var btn = col.querySelector('[data-collapse]');
    if (!btn) return;
    var label = (on ? 'Expand ' : 'Collapse ') + col.dataset.status;
    btn.setAttribute('aria-expanded', String(!on));
    btn.setAttribute('aria-label', label);
    btn.title = label;
    btn.textContent = on ? '\u203a' : '\u2039';
  }
  function applyCollapsed(scope) {
    var stages = collapsedStages();
    var cols = [];
    if (scope.matches && scope.matches('.column')) cols.push(scope);
    scope.querySelectorAll('.column').forEach(function (c) { cols.push(c); });
    cols.forEach(function (c) { setCollapsed(c, stages.indexOf(c.dataset.status) >= 0); });
  }

  document.addEventListener('click', function (e) {
    var btn = e.target.closest('[data-collapse]');
    if (!btn) return;
    var col = btn.closest('.column'), stages = collapsedStages();
    var on = !col.classList.contains('collapsed');
    stages = stages.filter(function (s) { return s !== col.dataset.status; });
    if (on) stages.push(col.dataset.status);
    try { localStorage.setItem(collapseKey(), JSON.stringify(stages)); } catch (err) { /* private mode: not remembered */ }
    setCollapsed(col, on);
    ensureRoving();
    scheduleMore();
  });

  // The buttons at the board's edges say how many stages are off-screen on
  // each side, and scroll to them.
  var moreQueued = false;
  function scheduleMore() {
    if (moreQueued) return;
    moreQueued = true;
    requestAnimationFrame(function () { moreQueued = false; updateMore(); });
  }
  function updateMore() {
    var board = byId('board');
    if (!board) return;
    var br = board.getBoundingClientRect(), left = 0, right = 0;
    columns().forEach(function (c) {
      var r = c.getBoundingClientRect(), mid = r.left + r.width / 2;
      if (mid > br.right) right++;
      else if (mid < br.left) left++;
    });
    document.querySelectorAll('[data-board-more]').forEach(function (b) {
      var n = b.dataset.boardMore === '1' ? right : left;
      b.hidden = n === 0;
      var words = n + (n === 1 ? ' more stage' : ' more stages');
      b.textContent = b.dataset.boardMore === '1' ? words + ' \u2192' : '\u2190 ' + words;
    });
  }
  document.addEventListener('click', function (e) {
    var b = e.target.closest('[data-board-more]');
    var board = byId('board');
    if (!b || !board) return;
    board.scrollBy({ left: parseInt(b.dataset.boardMore, 10) * board.clientWidth * 0.8, behavior: 'smooth' });
  });
  document.addEventListener('scroll', function (e) { if (e.target.id === 'board') scheduleMore(); }, true);
  window.addEventListener('resize', scheduleMore);

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

  // What the lead form held when it was shown, to tell unsaved changes.
  var formSnapshot = null;
  function formState() {
    var form = byId('lead-form');
    return form ? new URLSearchParams(new FormData(form)).toString() : null;
  }
  function hasUnsaved() {
    var now = formState();
    return now !== null && formSnapshot !== null && now !== formSnapshot;
  }
  // mayClose asks before unsaved changes are thrown away.
  function mayClose() {
    return !hasUnsaved() || window.confirm('Discard your unsaved changes to this lead?');
  }

  // A lead's dialog puts the lead's URL in the address bar (a history entry of
  // its own), so the link can be copied; Back closes the dialog.
  function pushLeadURL() {
    var form = byId('lead-form');
    var url = form && form.dataset.url;
    if (!url || location.pathname === url) return;
    history.pushState({ leadDialog: true }, '', url + location.search);
  }

  window.addEventListener('popstate', function () {
    var dlg = byId(DIALOG_ID);
    if (!dlg || !dlg.open) return;
    var form = byId('lead-form');
    if (form && form.dataset.url === location.pathname) return;
    if (!mayClose()) {
      history.pushState({ leadDialog: true }, '', form.dataset.url + location.search);
      return;
    }
    formSnapshot = null;
    dlg.close();
  });

  function syncDialog() {
    var dlg = byId(DIALOG_ID), body = byId(DIALOG_BODY_ID);
    if (!dlg || !body) return;
    var hasContent = body.children.length > 0;
    // A form re-rendered with its errors keeps what was typed, still unsaved.
    if (!dlg.open || !body.querySelector('.form-alert')) formSnapshot = formState();
    if (hasContent) pushLeadURL();
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
      if (dlg && dlg.open && mayClose()) dlg.close();
    }
  });

  function onDialogClose() {
    var body = byId(DIALOG_BODY_ID);
    if (body) body.replaceChildren();
    formSnapshot = null;
    flashBack();
    // The dialog's own history entry is left the way Back would; a lead opened
    // from its own URL replaces that URL with the board's.
    if (history.state && history.state.leadDialog) {
      history.back();
    } else if (location.pathname !== '/') {
      history.replaceState(null, '', boardAddress());
    }
    if (dialogOpener) {
      var opener = byId(dialogOpener);
      if (opener) opener.focus();
    }
    dialogOpener = null;
  }

  // The lead form's lost reason and note follow its stage select: shown (and
  // posted) for a lost stage, hidden and disabled otherwise.
  document.addEventListener('change', function (e) {
    if (e.target.id !== 'lead-status') return;
    var opt = e.target.selectedOptions[0];
    var lost = !!opt && opt.dataset.kind === 'lost';
    document.querySelectorAll('#lead-form [data-lost-field]').forEach(function (f) {
      f.hidden = !lost;
      f.querySelectorAll('input, textarea').forEach(function (i) { i.disabled = !lost; });
    });
  });

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

  // "Clear the search" of an empty result empties the search box, and the board
  // searches again, for everything, as when the box is cleared by hand.
  document.addEventListener('click', function (e) {
    var link = e.target.closest('[data-clear-search]');
    var search = byId(SEARCH_ID);
    if (!link || !search) return;
    e.preventDefault();
    search.value = '';
    htmx.trigger(search, 'search');
    search.focus();
  });

  // A card's link opens the lead in the dialog. One listener serves every card,
  // so htmx does not wire 300 links on a large board; a click with a modifier
  // key (a new tab or window) stays an ordinary link.
  document.addEventListener('click', function (e) {
    var link = e.target.closest('a[data-open-lead]');
    if (!link || e.button !== 0) return;
    // Shift-click on a card while cards are selected selects the range to it.
    if (e.shiftKey && selectedCount() > 0 && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      selectRange(link.closest('.card'), false);
      return;
    }
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    htmx.ajax('GET', link.getAttribute('href'), { source: link, target: '#' + DIALOG_BODY_ID, swap: 'innerHTML' });
  });

  // ---- Start --------------------------------------------------------------------

  function start() {
    var lost = byId('lost-dialog');
    if (lost) {
      // Escape (the dialog's cancel) and any other close: the move is cancelled.
      lost.addEventListener('close', function () { if (lostAsk) finishLost(null); });
    }
    var dlg = byId(DIALOG_ID);
    if (dlg) {
      dlg.addEventListener('close', onDialogClose);
      // Escape asks too before unsaved changes are lost.
      dlg.addEventListener('cancel', function (e) { if (!mayClose()) e.preventDefault(); });
    }
    applyCollapsed(document);
    ensureRoving();
    scheduleMore();
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
