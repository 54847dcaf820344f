// pipeline.js: dragging stages into a new order on the pipeline settings page
// (views/pipeline.templ). Dropping a stage posts the whole order as a plain
// form (one "order" field per stage id), so the server answers with the page
// as it now is. Without script, or with the keyboard, the Move up and Move
// down buttons do the same one step at a time.
(function () {
  'use strict';

  function start() {
    var list = document.getElementById('stage-list');
    if (!list || !window.Sortable) return;
    window.Sortable.create(list, {
      handle: '.stage-handle',
      animation: 150,
      onEnd: function (evt) {
        if (evt.oldIndex === evt.newIndex) return;
        var form = document.createElement('form');
        form.method = 'post';
        form.action = list.dataset.orderUrl;
        list.querySelectorAll(':scope > .stage-item').forEach(function (item) {
          var input = document.createElement('input');
          input.type = 'hidden';
          input.name = 'order';
          input.value = item.dataset.id;
          form.appendChild(input);
        });
        document.body.appendChild(form);
        form.submit();
      }
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
