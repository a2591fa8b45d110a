// dag ui: the pages' live parts. Text from runs is set as text (textContent),
// never as markup; markup comes only from the server, which escapes it.
(function () {
  'use strict';
  var body = document.body;
  var page = body.dataset.page;
  var actions = body.dataset.actions === '1';

  function $(id) { return document.getElementById(id); }
  function enc(s) { return encodeURIComponent(s); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // As the terminal shows durations: 850ms, 1.2s, 3m 05s, 2h 01m.
  function dur(ms) {
    if (ms < 1000) return Math.round(ms) + 'ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + 's';
    var s = Math.floor(ms / 1000);
    if (s < 3600) return Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's';
    return Math.floor(s / 3600) + 'h ' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
  }
  function ago(ms) {
    var s = Math.max(0, (Date.now() - ms) / 1000);
    if (s < 60) return Math.floor(s) + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }
  function badge(state, text) { return el('span', 'badge s-' + state, text || state); }

  // An action (retry, cancel): a POST with the header only this page sends.
  function act(kind, task, note) {
    var run = body.dataset.run;
    note = note || $('action-note');
    if (note) { note.className = 'note'; note.textContent = kind === 'cancel' ? 'cancelling…' : 'retrying…'; }
    return fetch('/runs/' + enc(run) + '/' + kind, {
      method: 'POST',
      headers: { 'X-Dag-UI': '1', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: task ? 'task=' + enc(task) : ''
    }).then(function (r) {
      return r.text().then(function (t) {
        if (note) { note.className = r.ok ? 'ok' : 'err'; note.textContent = t.trim(); }
      });
    }).catch(function (e) {
      if (note) { note.className = 'err'; note.textContent = String(e); }
    });
  }

  if (page === 'runs') runsPage();
  if (page === 'run') runPage();
  if (page === 'dag') { if (window.dagTable) tableSort('duration-table'); }
  if (page === 'workers') workersPage();

  // The report's table sorting works on #task-table; the DAG page's table is
  // given that id's behaviour by renaming it for the call.
  function tableSort(id) {
    var t = $(id);
    if (!t) return;
    t.id = 'task-table';
    window.dagTable();
    t.id = id;
  }

  function runsPage() {
    var runs = [];
    var tbody = document.querySelector('#runs tbody');
    var note = $('runs-note');
    var fDag = $('f-dag'), fState = $('f-state');
    var params = new URLSearchParams(location.search);
    if (params.get('dag')) { var o = el('option', '', params.get('dag')); o.value = params.get('dag'); fDag.appendChild(o); fDag.value = params.get('dag'); }
    if (params.get('state')) fState.value = params.get('state');
    function dagNames() {
      var have = {};
      Array.prototype.forEach.call(fDag.options, function (o) { have[o.value] = true; });
      runs.forEach(function (r) {
        if (!have[r.dag]) { var o = el('option', '', r.dag); o.value = r.dag; fDag.appendChild(o); have[r.dag] = true; }
      });
    }
    function render() {
      var d = fDag.value, s = fState.value;
      var shown = runs.filter(function (r) { return (!d || r.dag === d) && (!s || r.state === s); });
      var rows = document.createDocumentFragment();
      shown.forEach(function (r) {
        var tr = el('tr');
        tr.dataset.run = r.id;
        var a = el('a', '', r.id); a.href = '/runs/' + enc(r.id);
        var td = el('td'); td.appendChild(a); tr.appendChild(td);
        var da = el('a', '', r.dag); da.href = '/dags/' + enc(r.dag);
        td = el('td'); td.appendChild(da); tr.appendChild(td);
        td = el('td'); td.appendChild(badge(r.state));
        if (r.interrupted) td.appendChild(el('span', 'note', ' interrupted'));
        tr.appendChild(td);
        var started = r.started || r.created;
        td = el('td', '', ago(started)); td.title = new Date(started).toISOString(); tr.appendChild(td);
        var end = r.ended || (r.state === 'running' && !r.interrupted ? Date.now() : null);
        tr.appendChild(el('td', 'n', r.started && end ? dur(end - r.started) : ''));
        td = el('td', 'counts');
        r.counts.forEach(function (c) { td.appendChild(badge(c[0], c[1] + ' ' + c[0].replace('_', ' '))); });
        tr.appendChild(td);
        rows.appendChild(tr);
      });
      tbody.replaceChildren(rows);
      $('runs-count').textContent = shown.length + ' of ' + runs.length + ' runs';
      note.textContent = runs.length ? '' : 'No runs yet: start one with `dag run FILE`.';
      var q = new URLSearchParams();
      if (d) q.set('dag', d);
      if (s) q.set('state', s);
      var url = location.pathname + (q.toString() ? '?' + q : '');
      if (url !== location.pathname + location.search) history.replaceState(null, '', url);
    }
    fDag.addEventListener('change', render);
    fState.addEventListener('change', render);
    var es = new EventSource('/api/runs?limit=' + (body.dataset.limit || 100));
    es.addEventListener('runs', function (e) {
      var d = JSON.parse(e.data);
      if (d.error) { note.textContent = d.error; return; }
      runs = d;
      dagNames();
      render();
    });
    setInterval(render, 5000);
  }

  function runPage() {
    var run = body.dataset.run;
    var panel = $('panel');
    var openTask = null, follow = null;
    window.dagTable();
    buttons();
    // Clicks on a task anywhere in the run (graph, timeline, table, failed
    // tasks, a mapped task's instances) open its panel.
    document.addEventListener('click', function (e) {
      var t = e.target;
      if (t.closest && t.closest('#panel-close')) { closePanel(); return; }
      var a = t.closest && t.closest('[data-act]');
      if (a) { act(a.dataset.act, a.dataset.task, a.dataset.task ? panelNote() : null); return; }
      var at = t.closest && t.closest('a[data-attempt]');
      if (at) { e.preventDefault(); showTask(openTask, at.dataset.attempt); return; }
      var row = t.closest && t.closest('[data-task]');
      if (row && (row.closest('#run-body') || row.closest('.instances'))) {
        if (t.closest('a') && !t.closest('a').dataset.attempt && t.closest('a').getAttribute('href') !== '#') return;
        e.preventDefault();
        showTask(row.dataset.task);
      }
    });
    function panelNote() {
      var n = $('panel-note');
      if (!n && panel) { n = el('p', 'note'); n.id = 'panel-note'; panel.appendChild(n); }
      return n;
    }
    function closePanel() {
      panel.hidden = true; panel.replaceChildren(); openTask = null; stopFollow();
    }
    function stopFollow() { if (follow) { clearTimeout(follow); follow = null; } }
    function showTask(name, attempt) {
      stopFollow();
      var url = '/runs/' + enc(run) + '/tasks/' + enc(name) + (attempt ? '?attempt=' + enc(attempt) : '');
      return fetch(url).then(function (r) { return r.text().then(function (t) { return [r.ok, t]; }); })
        .then(function (x) {
          openTask = name;
          if (x[0]) panel.innerHTML = x[1];
          else { panel.replaceChildren(el('p', 'err', x[1])); }
          panel.hidden = false;
          var log = $('log');
          if (log) { log.scrollTop = log.scrollHeight; if (log.dataset.running === '1') followLog(log); }
        });
    }
    // A running attempt's log: more of it every second, appended as text.
    function followLog(log) {
      follow = setTimeout(function () {
        var url = '/runs/' + enc(run) + '/tasks/' + enc(log.dataset.task) + '/log?attempt=' +
          enc(log.dataset.attempt) + '&from=' + enc(log.dataset.next);
        fetch(url).then(function (r) {
          if (!r.ok) return;
          var running = r.headers.get('x-dag-running') === '1';
          var next = r.headers.get('x-dag-next');
          return r.text().then(function (t) {
            if (!document.body.contains(log)) return;
            var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
            if (t) log.appendChild(document.createTextNode(t));
            if (next) log.dataset.next = next;
            if (atEnd) log.scrollTop = log.scrollHeight;
            if (running) followLog(log);
            else { log.dataset.running = '0'; follow = null; }
          });
        }).catch(function () { followLog(log); });
      }, 1000);
    }
    function buttons() {
      var s = $('run-state');
      var state = s ? s.textContent : '';
      var r = $('act-retry'), c = $('act-cancel');
      // A run whose driving process is gone: retry resumes it, nobody to cancel.
      var gone = !!$('run-interrupted');
      if (r) r.disabled = !(state === 'failed' || state === 'cancelled' || gone);
      if (c) c.disabled = gone || !(state === 'running' || state === 'queued');
    }
    // Live: the server says when the run changed; the body is fetched again.
    // A big page is fetched at most every other time it took to show (a run of
    // 10,000 tasks changes far more often than its page can be redrawn).
    var busy = false, again = false, first = true, notBefore = 0, timer = null;
    function refresh() {
      if (busy) { again = true; return; }
      var wait = notBefore - Date.now();
      if (wait > 0) {
        if (!timer) timer = setTimeout(function () { timer = null; refresh(); }, wait);
        return;
      }
      busy = true;
      var began = Date.now();
      fetch('/runs/' + enc(run) + '/body').then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null) {
            var scrolls = Array.prototype.map.call(document.querySelectorAll('#run-body .scroll'), function (s) { return [s.scrollLeft, s.scrollTop]; });
            var all = !$('show-all') && !!$('task-table') && document.querySelectorAll('#task-table tbody tr').length > 500;
            $('run-body').innerHTML = html;
            Array.prototype.forEach.call(document.querySelectorAll('#run-body .scroll'), function (s, i) {
              if (scrolls[i]) { s.scrollLeft = scrolls[i][0]; s.scrollTop = scrolls[i][1]; }
            });
            window.dagTable();
            if (all && $('show-all')) $('show-all').click();
            buttons();
            // The open task changed: its panel is shown again.
            var p = panel.querySelector('.task-detail');
            // A mapped task's panel counts its instances: shown again.
            if (openTask && p && p.dataset.state === 'group') showTask(openTask);
            else if (openTask && p) {
              var row = document.querySelector('#task-table tr[data-task="' + CSS.escape(openTask) + '"] .badge');
              var log = $('log');
              var following = log && log.dataset.running === '1';
              if (row && row.className.indexOf('s-' + p.dataset.state) < 0 && !following) showTask(openTask);
              else if (row && following && row.className.indexOf('s-running') < 0) showTask(openTask);
            }
            body.dataset.updated = String(Date.now());
          }
          notBefore = Date.now() + Math.max(300, 2 * (Date.now() - began));
          busy = false;
          if (again) { again = false; refresh(); }
        }).catch(function () { busy = false; });
    }
    var es = new EventSource('/runs/' + enc(run) + '/events');
    es.addEventListener('change', function () {
      if (first) { first = false; return; }
      refresh();
    });
    // A link to a task (#task=ID) opens its panel.
    var m = /^#task=(.+)$/.exec(location.hash);
    if (m) showTask(decodeURIComponent(m[1]));
  }

  // Read again 2 s after the last answer came (never two at once).
  function workersPage() {
    setTimeout(function again() {
      fetch('/workers').then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.getElementById('workers-body');
        if (fresh) $('workers-body').replaceWith(document.adoptNode(fresh));
      }).catch(function () {}).then(function () { setTimeout(again, 2000); });
    }, 2000);
  }
})();
