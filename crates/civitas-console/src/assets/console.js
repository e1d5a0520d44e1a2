// The civitas console's only script. It fills the page the server rendered with the JSON of
// /console/api/* and the workflow API. Every value from an event or a store is put into the
// page as text (textContent, createTextNode), never as HTML: event data is attacker-controlled.
'use strict';

(() => {
  const MAX_LIVE = 500;       // events kept in the live list
  const MAX_PAUSED = 5000;    // events held while paused; older ones are dropped (and counted)
  const PER_FRAME = 50;       // live records drawn per animation frame

  const $ = (selector) => document.querySelector(selector);
  const params = new URLSearchParams(location.search);

  // An element with attributes and children; strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function ready() {
    if (document.body.dataset.ready === '1') return;
    document.body.dataset.ready = '1';
    window.__readyAt = performance.now();
  }

  // A search or summary that read for its full minute answers with what it found.
  const CUT_SHORT = 'The read stopped after 60 s: what is shown is incomplete. Narrow the time range.';
  function noteCutShort(result) {
    if (result && result.cut_short) showError(CUT_SHORT);
  }

  function showError(message) {
    const box = $('#error');
    box.textContent = message;
    box.hidden = false;
  }

  function clearError() {
    const box = $('#error');
    box.textContent = '';
    box.hidden = true;
  }

  // Signed in (--auth-issuer): the session's CSRF token goes with every state-changing request.
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.getAttribute('content') : null;
  const signIn = () => { location.href = `/console/auth/login?next=${encodeURIComponent(location.pathname + location.search)}`; };

  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (response.status === 401 && csrf) { signIn(); throw new Error('the session has ended: signing in again'); }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = body && (body.detail || body.message) ? (body.detail || body.message) : response.statusText;
      throw new Error(`${path.split('?')[0]}: ${response.status} ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
    }
    return body;
  }

  function fillForm(form) {
    if (!form) return;
    for (const input of form.elements) {
      if (!input.name || !params.has(input.name)) continue;
      if (input.type === 'checkbox') input.checked = ['1', 'true', 'on'].includes(params.get(input.name));
      else input.value = params.get(input.name);
    }
  }

  const searchHref = (id) => `/console/search?q=${encodeURIComponent(id)}`;
  const corrLink = (id) => el('a', { class: 'corr', href: searchHref(id), title: 'every record of this id' }, id);

  function time(text) {
    if (!text) return '-';
    const t = new Date(text);
    return Number.isNaN(t.getTime()) ? String(text) : t.toISOString().replace('T', ' ').replace('Z', '');
  }

  function duration(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) return '-';
    if (ms < 10000) return `${Math.round(ms)} ms`;
    if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
    return `${(ms / 60000).toFixed(1)} min`;
  }

  // The record's one-line form; its correlation id and its object (`system/type/id`) are links
  // to their timelines.
  function lineWithLinks(entry) {
    const span = el('span', { class: 'line' });
    const marks = [];
    if (entry.correlation_id) {
      const at = entry.line.indexOf(`corr=${entry.correlation_id}`);
      if (at >= 0) marks.push({ at: at + 5, text: entry.correlation_id, link: corrLink(entry.correlation_id) });
    }
    if (entry.subject) {
      const at = entry.line.indexOf(entry.subject, marks.length ? marks[0].at + marks[0].text.length : 0);
      if (at >= 0) marks.push({ at, text: entry.subject, link: el('a', { class: 'subject', href: searchHref(entry.subject), title: 'every record of this object' }, entry.subject) });
    }
    marks.sort((a, b) => a.at - b.at);
    let from = 0;
    for (const mark of marks) {
      if (mark.at < from) continue;
      span.append(entry.line.slice(from, mark.at), mark.link);
      from = mark.at + mark.text.length;
    }
    span.append(entry.line.slice(from));
    return span;
  }

  function showDetail(entry) {
    const detail = $('#detail');
    if (detail) detail.textContent = JSON.stringify(entry.record, null, 2);
  }

  function eventItem(entry) {
    const item = el('li', {
      class: entry.failure ? 'event failure' : 'event',
      'data-correlation-id': entry.correlation_id || '',
      'data-ts': entry.timestamp || '',
      'data-coordinates': `${entry.record.topic}/${entry.record.partition}/${entry.record.offset}`,
      tabindex: 0,
    }, lineWithLinks(entry));
    const open = (e) => {
      if (e.target.closest('a')) return;
      for (const selected of document.querySelectorAll('li.selected')) selected.classList.remove('selected');
      item.classList.add('selected');
      showDetail(entry);
    };
    item.addEventListener('click', open);
    item.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(e); });
    return item;
  }

  function rows(tbody, list, cells, attrs) {
    tbody.replaceChildren(...list.map((row) => el('tr', attrs ? attrs(row) : {}, ...cells(row).map((c) => el('td', {}, c)))));
  }

  // SVG elements for the charts; text goes in as text, like everywhere else.
  const SVG_NS = 'http://www.w3.org/2000/svg';
  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(key, String(value));
    }
    return node;
  }
  function svgChart(id, cls, width, height) {
    return svgEl('svg', { id, class: cls, viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' });
  }
  function svgText(x, y, content, cls) {
    const t = svgEl('text', { x, y, class: cls });
    t.textContent = content;
    return t;
  }

  // A horizontal bar chart as SVG: one bar a label.
  function barChart(id, bars, unit) {
    const rowHeight = 22;
    const width = 720;
    const labelWidth = 260;
    const height = Math.max(1, bars.length) * rowHeight + 8;
    const svg = svgChart(id, 'bars', width, height);
    const max = Math.max(1, ...bars.map((b) => b.value));
    if (bars.length === 0) svg.append(svgText(4, 18, 'nothing to show', 'empty'));
    bars.forEach((bar, i) => {
      const y = 4 + i * rowHeight;
      const rect = svgEl('rect', {
        x: labelWidth,
        y,
        height: rowHeight - 6,
        width: Math.max(1, ((width - labelWidth - 90) * bar.value) / max),
        class: bar.cls || 'bar',
      });
      svg.append(svgText(4, y + 13, bar.label.length > 40 ? `${bar.label.slice(0, 39)}…` : bar.label), rect,
        svgText(labelWidth + 6 + ((width - labelWidth - 90) * bar.value) / max, y + 13, `${bar.value}${unit || ''}`, 'value'));
    });
    return svg;
  }

  // ---- live ----------------------------------------------------------------------------
  function live() {
    const form = $('#live-filters');
    fillForm(form);
    const list = $('#live-list');
    const status = $('#live-status');
    const count = $('#live-count');
    const pause = $('#pause');
    const seen = new Set();
    let queue = [];
    let paused = false;
    let dropped = 0;
    let skipped = 0;
    let scheduled = false;

    pause.addEventListener('click', () => {
      paused = !paused;
      pause.textContent = paused ? 'Resume' : 'Pause';
      if (!paused) schedule();
    });

    const query = new URLSearchParams();
    for (const key of ['topic', 'failed', 'system', 'action', 'correlation_id', 'header']) {
      if (params.get(key)) query.set(key, params.get(key));
    }
    const source = new EventSource(`/console/api/live?${query}`);
    source.addEventListener('connected', (e) => {
      clearError();
      status.textContent = `live: ${e.data.split(',').join(', ')}`;
      ready();
    });
    source.addEventListener('failure', (e) => {
      status.textContent = 'stopped';
      showError(`the live stream stopped: ${e.data}`);
      source.close();
      ready();
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        status.textContent = 'closed';
        showError('the live stream was refused (reload to try again)');
        ready();
      } else {
        status.textContent = 'reconnecting…';
      }
    };
    source.onmessage = (e) => {
      let entry;
      try { entry = JSON.parse(e.data); } catch { return; }
      const key = `${entry.record.topic}/${entry.record.partition}/${entry.record.offset}`;
      if (seen.has(key)) return; // a reconnect sends the last few again
      seen.add(key);
      queue.push(entry);
      if (queue.length > MAX_PAUSED) { dropped += queue.length - MAX_PAUSED; queue = queue.slice(-MAX_PAUSED); }
      schedule();
    };

    function schedule() {
      if (scheduled || paused) return;
      scheduled = true;
      requestAnimationFrame(flush);
    }

    // Newest first, in event time: a record lands above the first older one. At most
    // PER_FRAME records a frame, so a burst is drawn over a few frames instead of blocking one;
    // of a burst larger than the list only the newest MAX_LIVE are drawn (the rest would be
    // pushed out at once), and the count says how many were skipped.
    function flush() {
      scheduled = false;
      if (paused) return;
      if (queue.length > MAX_LIVE) {
        skipped += queue.length - MAX_LIVE;
        queue = queue.slice(-MAX_LIVE);
      }
      const batch = queue.splice(0, PER_FRAME);
      if (queue.length) schedule();
      for (const entry of batch) {
        const item = eventItem(entry);
        const ts = entry.timestamp || '';
        let before = list.firstElementChild;
        while (before && (before.dataset.ts || '') > ts) before = before.nextElementSibling;
        list.insertBefore(item, before);
      }
      while (list.children.length > MAX_LIVE) {
        const last = list.lastElementChild;
        seen.delete(last.dataset.coordinates);
        last.remove();
      }
      count.textContent = `${list.children.length} shown${skipped ? `, ${skipped} skipped in bursts` : ''}${dropped ? `, ${dropped} dropped while paused` : ''}`;
    }
  }

  // ---- search --------------------------------------------------------------------------
  async function search() {
    fillForm($('#search-form'));
    const q = (params.get('q') || '').trim();
    const counter = $('#timeline-count');
    if (!q) {
      counter.textContent = 'Enter a correlation id (of a request, a workflow run or a saga) or an object id like local/user/max.';
      ready();
      return;
    }
    counter.textContent = 'searching…';
    const since = params.get('since') || '24h';
    const result = await getJson(`/console/api/search?q=${encodeURIComponent(q)}&since=${encodeURIComponent(since)}`);
    const shown = result.shown < result.matched ? ` (the first ${result.shown} shown)` : '';
    counter.replaceChildren(`${result.matched} record(s) for ${result.kind === 'object' ? 'object' : 'id'} `,
      el('strong', {}, q), ` in ${result.topics} topic(s)${shown}`);
    noteCutShort(result);
    const list = $('#timeline');
    let previous = null;
    list.replaceChildren(...result.records.map((entry) => {
      const offset = entry.offset_ms;
      const delta = previous === null || offset === null ? null : offset - previous;
      previous = offset;
      const item = eventItem(entry);
      item.className = entry.failure ? 'entry failure' : 'entry';
      item.prepend(
        el('span', { class: 'gap' }, offset === null ? '' : `+${Math.round(offset)} ms`),
        el('span', { class: 'delta' }, delta === null ? '' : `(${duration(delta)} later)`),
        el('span', { class: 'topic' }, entry.record.topic),
      );
      return item;
    }));
    ready();
  }

  // A summary over a time range (failures, secrets): the form filled from the address, the
  // JSON read, a read cut short said so.
  async function summary(name, fallback) {
    fillForm(document.querySelector('main form'));
    const since = params.get('since') || fallback;
    const result = await getJson(`/console/api/${name}?since=${encodeURIComponent(since)}`);
    noteCutShort(result);
    return { since, result };
  }

  // ---- failures ------------------------------------------------------------------------
  async function failures() {
    const { since, result } = await summary('failures', '1h');
    $('#failures-chart-box').replaceChildren(
      el('p', {}, `${result.total} failure(s) in the last ${since === '24h' ? '24 h' : 'hour'}`),
      barChart('failures-chart', result.groups.slice(0, 15).map((g) => ({ label: `${g.system} · ${g.action}`, value: g.count, cls: 'bar bad' }))),
    );
    rows($('#failures-groups tbody'), result.groups, (g) => [g.system, g.action, String(g.count)], () => ({ class: 'group' }));
    rows($('#failure-messages tbody'), result.messages, (m) => [m.message, String(m.count)], () => ({ class: 'message' }));
    $('#failures-list').replaceChildren(...result.latest.map(eventItem));
    ready();
  }

  // ---- sagas ---------------------------------------------------------------------------
  const sagaHref = (id) => `/console/sagas?id=${encodeURIComponent(id)}`;

  function sagaDuration(saga) {
    const start = Date.parse(saga.createdAt);
    const end = saga.finishedAt ? Date.parse(saga.finishedAt) : Date.now();
    return duration(end - start);
  }

  function sagaFailure(saga) {
    const f = saga.failure;
    return f ? `${f.stepId}: ${typeof f.error === 'string' ? f.error : JSON.stringify(f.error)}` : '';
  }

  async function sagas() {
    const id = params.get('id');
    if (id) await sagaDetail(id);
    const result = await getJson('/console/api/sagas?limit=100');
    const empty = $('#sagas-empty');
    if (result.sagas.length === 0) {
      empty.textContent = result.note || 'No saga yet: publish a dataset.create.requested (civitas saga request) to start one.';
      empty.hidden = false;
    }
    rows($('#sagas tbody'), result.sagas, (s) => [
      el('a', { class: 'saga-link', href: sagaHref(s.sagaId) }, s.sagaId),
      el('span', { class: `status s-${String(s.status).toLowerCase()}` }, s.status),
      s.datasetId || '-',
      sagaDuration(s),
      sagaFailure(s),
      time(s.createdAt),
    ], (s) => ({ class: 'saga', 'data-status': s.status }));
    ready();
  }

  async function sagaDetail(id) {
    const saga = await getJson(`/console/api/sagas/${encodeURIComponent(id)}`);
    $('#saga-detail').hidden = false;
    $('#saga-title').textContent = `Saga ${saga.sagaId}`;
    $('#saga-summary').replaceChildren(
      el('span', { class: `status s-${String(saga.status).toLowerCase()}` }, saga.status),
      ` · dataset ${saga.datasetId || '-'} · ${sagaDuration(saga)} · correlation `,
      saga.correlationId ? corrLink(saga.correlationId) : '-',
      saga.failure ? ` · failed: ${sagaFailure(saga)}` : '',
    );
    const steps = Array.isArray(saga.steps) ? saga.steps : [];
    $('#saga-steps').replaceChildren(...steps.map((step) => {
      const parts = [el('strong', {}, step.stepId), ' ', el('span', { class: `status s-${String(step.status).toLowerCase()}` }, step.status)];
      if (step.finishedAt) parts.push(` · finished ${time(step.finishedAt)}`);
      if (step.attempts) parts.push(` · ${step.attempts} HTTP attempt(s)`);
      if (step.error) parts.push(el('div', { class: 'err' }, `error: ${typeof step.error === 'string' ? step.error : JSON.stringify(step.error)}`));
      if (step.compensation) parts.push(el('div', { class: 'comp' }, `compensation: ${JSON.stringify(step.compensation)}`));
      return el('li', { class: 'step', 'data-status': step.status }, ...parts);
    }), ...(Array.isArray(saga.timeline) ? saga.timeline : []).map((t) =>
      el('li', { class: 'note' }, `${time(t.at)} `, el('strong', {}, t.event), t.detail ? ` ${t.detail}` : '')));
    $('#saga-json').textContent = JSON.stringify(saga, null, 2);
  }

  // ---- workflows -----------------------------------------------------------------------
  const runHref = (id) => `/console/workflows?run=${encodeURIComponent(id)}`;

  async function decide(task, decision, button) {
    for (const b of button.parentElement.querySelectorAll('button')) b.disabled = true;
    const key = `console-${task.task_id}-${decision}-${crypto.randomUUID()}`;
    const response = await fetch(task.resume.url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'If-Match': String(task.state_version), ...(csrf ? { 'X-CSRF-Token': csrf } : {}) },
      body: JSON.stringify({ decision, state_version: task.state_version, idempotency_key: key }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      showError(`${decision} was refused: ${response.status} ${body.detail ? (typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail)) : ''}`);
    } else {
      clearError();
    }
    await workflows();
  }

  async function inbox() {
    const result = await getJson('/tasks?assignee=me&status=PENDING&limit=100');
    const box = $('#inbox');
    $('#inbox-empty').hidden = result.tasks.length > 0;
    box.replaceChildren(...result.tasks.map((task) => {
      const actions = el('div', { class: 'actions' });
      if (task.you_may_decide) {
        const approve = el('button', { type: 'button', class: 'approve' }, 'Approve');
        const reject = el('button', { type: 'button', class: 'reject' }, 'Reject');
        approve.addEventListener('click', () => decide(task, 'approve', approve).catch((e) => showError(e.message)));
        reject.addEventListener('click', () => decide(task, 'reject', reject).catch((e) => showError(e.message)));
        actions.append(approve, reject);
      }
      return el('div', { class: 'task', 'data-task-id': task.task_id, 'data-run-id': task.run_id },
        el('strong', {}, task.title || `${task.workflow_name}: ${task.node}`),
        el('div', {}, `${task.workflow_name} · step ${task.node} · ${task.approvals}/${task.required} approval(s) · since ${time(task.created_at)}`,
          task.expires_at ? ` · expires ${time(task.expires_at)}` : ''),
        el('div', {}, 'run ', el('a', { class: 'run-link', href: runHref(task.run_id) }, task.run_id), ' · started by ', task.started_by || 'anonymous'),
        actions);
    }));
  }

  async function runDetail(id) {
    const run = await getJson(`/workflow/status/${encodeURIComponent(id)}`);
    $('#run-detail').hidden = false;
    $('#run-title').textContent = `Run ${run.id} (${run.workflow_name})`;
    $('#run-summary').replaceChildren(
      el('span', { class: `status s-${String(run.status).toLowerCase()}` }, run.status),
      ` · version ${run.state_version} · started ${time(run.created_at)} by ${run.started_by || 'anonymous'} · events: `,
      corrLink(run.id),
      run.error ? ` · error: ${run.error}` : '',
    );
    const nodes = Array.isArray(run.nodes) ? run.nodes : [];
    const timeline = Array.isArray(run.timeline) ? run.timeline : [];
    $('#run-timeline').replaceChildren(
      ...nodes.map((n) => el('li', { class: 'node', 'data-status': n.status },
        el('strong', {}, n.id), ` (${n.type}) `, el('span', { class: `status s-${String(n.status).toLowerCase()}` }, n.status),
        n.started_at ? ` · ${time(n.started_at)}` : '',
        n.finished_at && n.started_at ? ` · ${duration(Date.parse(n.finished_at) - Date.parse(n.started_at))}` : '',
        n.attempts > 1 ? ` · ${n.attempts} attempts` : '',
        n.error ? el('div', { class: 'err' }, `error: ${n.error}`) : '')),
      ...timeline.map((t) => el('li', { class: 'note' }, `${time(t.at)} `, t.node ? el('strong', {}, t.node) : '', ` ${t.what}`)),
    );
  }

  async function workflows() {
    const id = params.get('run');
    const loads = [inbox(), getJson('/workflow/runs?limit=100')];
    if (id) loads.push(runDetail(id));
    const [, runs] = await Promise.all(loads);
    $('#runs-empty').hidden = runs.runs.length > 0;
    $('#runs-empty').textContent = 'No run yet: POST /workflow/start starts one.';
    rows($('#runs tbody'), runs.runs, (r) => [
      el('a', { class: 'run-link', href: runHref(r.id) }, r.id),
      r.workflow_name,
      el('span', { class: `status s-${String(r.status).toLowerCase()}` }, r.status),
      (r.waiting_on || []).join(', ') || '-',
      time(r.created_at),
      time(r.updated_at),
    ], (r) => ({ class: 'run', 'data-status': r.status, 'data-run-id': r.id }));
    ready();
  }

  // ---- secrets -------------------------------------------------------------------------
  async function secrets() {
    const { result } = await summary('secrets', '24h');
    rows($('#secrets-groups tbody'), result.groups, (g) => [g.provider, g.outcome, String(g.count)],
      (g) => ({ class: g.outcome === 'error' ? 'group failure' : 'group' }));
    $('#secrets-list').replaceChildren(...result.latest.map(eventItem));
    ready();
  }

  // ---- topics --------------------------------------------------------------------------
  async function topics() {
    const result = await getJson('/console/api/topics');
    const show = (topic) => {
      $('#access').hidden = false;
      $('#access-topic').textContent = `Who may use ${topic.name}`;
      const list = (names) => {
        if (!names) return [el('li', { class: 'none' }, result.access_note || 'unknown')];
        return names.length ? names.map((n) => el('li', {}, n)) : [el('li', { class: 'none' }, 'nobody')];
      };
      $('#writers').replaceChildren(...list(topic.writers));
      $('#readers').replaceChildren(...list(topic.readers));
    };
    const tbody = $('#topics tbody');
    tbody.replaceChildren(...result.topics.map((t) => {
      const row = el('tr', { class: 'topic', 'data-topic': t.name, tabindex: 0, title: Object.entries(t.configs).map(([k, v]) => `${k}=${v}`).join('\n') },
        el('td', {}, t.name), el('td', {}, t.family), el('td', {}, String(t.partitions)), el('td', {}, String(t.replicas)),
        el('td', {}, t.retention), el('td', {}, t.cleanup),
        el('td', {}, t.on_cluster === null ? 'broker not reached' : t.on_cluster ? 'yes' : 'not created'));
      row.addEventListener('click', () => show(t));
      row.addEventListener('keydown', (e) => { if (e.key === 'Enter') show(t); });
      return row;
    }));
    const chosen = result.topics.find((t) => t.name === params.get('topic'));
    if (chosen) show(chosen);
    ready();
  }

  // ---- health --------------------------------------------------------------------------
  const number = (v) => (typeof v === 'number' ? v : Number(v) || 0);

  // Columns over time: one a snapshot, oldest left.
  function seriesChart(id, points, unit) {
    const width = 560;
    const height = 140;
    const left = 48;
    const svg = svgChart(id, 'bars series', width, height);
    const max = Math.max(1, ...points.map((p) => p.value));
    svg.append(svgText(0, 12, `${Math.round(max * 100) / 100}${unit || ''}`, 'value'), svgText(0, height - 22, '0', 'value'));
    const slot = (width - left) / Math.max(1, points.length);
    points.forEach((p, i) => {
      const h = ((height - 40) * p.value) / max;
      const rect = svgEl('rect', {
        x: left + i * slot + 1,
        y: height - 26 - h,
        width: Math.max(1, slot - 2),
        height: Math.max(0.5, h),
        class: p.cls || 'bar',
      });
      const title = svgEl('title');
      title.textContent = `${time(p.at)}: ${p.value}${unit || ''}`;
      rect.append(title);
      svg.append(rect);
    });
    if (points.length) {
      svg.append(svgText(left, height - 6, time(points[0].at).slice(11, 19), 'value'),
        svgText(width - 60, height - 6, time(points[points.length - 1].at).slice(11, 19), 'value'));
    } else {
      svg.append(svgText(left, 40, 'no snapshot yet', 'empty'));
    }
    return svg;
  }

  function metricCharts(snapshots, history) {
    const charts = [];
    const section = (title, ...content) => el('section', { class: 'chart' }, el('h2', {}, title), ...content);
    const series = (kind, pick) => (history[kind] || []).map((s) => ({ at: s.timestamp, value: number(pick(s.values || {})) }));
    if (history.execute) {
      charts.push(section('Requests per window', seriesChart('chart-requests', series('execute', (v) => v.requests))));
      charts.push(section('Failures per window', seriesChart('chart-failures', series('execute', (v) => v.failures).map((p) => ({ ...p, cls: 'bar bad' })))));
      charts.push(section('p95 latency per window', seriesChart('chart-p95', series('execute', (v) => (v.latency_ms || {}).p95), ' ms')));
    }
    if (history.publisher) {
      charts.push(section('Outbox backlog (events waiting for the broker)', seriesChart('chart-backlog', series('publisher', (v) => v.outbox_backlog_events))));
    }
    const latest = snapshots.execute && snapshots.execute.values;
    if (latest) {
      const latency = latest.latency_ms || {};
      charts.push(section(`Latest window (${snapshots.execute.window_seconds} s): latency`,
        barChart('chart-latency', ['p50', 'p95', 'p99'].map((q) => ({ label: q, value: number(latency[q]) })), ' ms')));
    }
    for (const [kind, snapshot] of Object.entries(snapshots)) {
      if (kind === 'execute') continue;
      const flat = Object.entries(snapshot.values || {}).filter(([, v]) => typeof v === 'number').map(([k, v]) => ({ label: k, value: v }));
      if (flat.length) charts.push(section(`Latest ${kind} snapshot`, barChart(`chart-${kind}`, flat.slice(0, 12))));
    }
    return charts;
  }

  async function health() {
    const response = await fetch('/health', { headers: { Accept: 'application/json' } });
    const report = await response.json();
    $('#health-status').textContent = report.status;
    $('#health-status').className = `status s-${report.status}`;
    $('#health-updated').textContent = `as of ${new Date().toISOString().replace('T', ' ').slice(0, 19)}`;
    $('#health-reasons').replaceChildren(...(report.reasons || []).map((r) => el('li', {}, r)));
    $('#health-json').textContent = JSON.stringify(report, null, 2);
    const metrics = await getJson('/console/api/metrics');
    const charts = metricCharts(metrics.snapshots || {}, metrics.history || {});
    $('#metrics-charts').replaceChildren(...(charts.length ? charts : [el('p', {}, 'No crud.metrics snapshot yet (one a minute; --metrics-interval-secs).')]));
    ready();
  }

  const views = { live, search, failures, sagas, workflows, secrets, topics, health };

  document.addEventListener('DOMContentLoaded', () => {
    const logout = $('#logout');
    if (logout) {
      logout.addEventListener('click', async () => {
        await fetch('/console/auth/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf || '' } });
        location.href = '/console/live';
      });
    }
    const view = views[document.body.dataset.view];
    if (!view) return;
    Promise.resolve()
      .then(view)
      .catch((error) => { showError(error.message); ready(); });
    if (document.body.dataset.view === 'health') setInterval(() => health().catch((e) => showError(e.message)), 15000);
  });
})();
