/// GET /parallel_test: run the regular and the parallel method on the same text, watch their progress,
/// play both videos side by side, and compare stage timings, with a timeline of stages and chunks. A
/// third card streams the video (POST /api/generate_stream) into Media Source Extensions and plays it
/// while the rest renders, with the time to first frame.
enum TestPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>lipsync · regular vs parallel</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 24px; color: #1d232b; background: #f5f6f8; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  .sub { color: #5b6572; margin-bottom: 16px; }
  textarea { width: 100%; height: 90px; font: inherit; padding: 8px; box-sizing: border-box; }
  .controls { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin: 10px 0 18px; }
  select, button { font: inherit; padding: 6px 10px; }
  button { background: #2458d6; color: white; border: 0; border-radius: 6px; cursor: pointer; }
  button:disabled { background: #9aa7bd; cursor: default; }
  .grid { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: 18px; }
  .card { background: white; border-radius: 10px; padding: 14px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
  .card h2 { font-size: 17px; margin: 0 0 8px; }
  video { width: 100%; background: #111; border-radius: 6px; aspect-ratio: 1; }
  progress { width: 100%; height: 14px; }
  .status { font-size: 13px; color: #5b6572; min-height: 18px; }
  table { border-collapse: collapse; width: 100%; margin-top: 8px; }
  td, th { padding: 4px 8px; border-bottom: 1px solid #e6e8ec; text-align: right; font-variant-numeric: tabular-nums; }
  td:first-child, th:first-child { text-align: left; }
  .speedup { font-size: 20px; font-weight: 600; margin: 10px 0; }
  .timeline { position: relative; margin-top: 6px; }
  .lane { position: relative; height: 22px; margin: 3px 0 3px 120px; background: #eef0f4; border-radius: 4px; }
  .lane-label { position: absolute; left: -120px; width: 114px; text-align: right; font-size: 12px; top: 3px; color: #444; }
  .bar { position: absolute; top: 0; height: 22px; border-radius: 4px; font-size: 11px; color: white; overflow: hidden;
         white-space: nowrap; padding-left: 4px; box-sizing: border-box; line-height: 22px; }
  .axis { margin-left: 120px; font-size: 11px; color: #777; display: flex; justify-content: space-between; }
  .error { color: #b3261e; }
</style>
</head>
<body>
<h1>Regular vs parallel generation</h1>
<div class="sub">Text → speech → lip-sync → MP4. Both methods run on this server one after the other; timings are measured by the server.</div>
<textarea id="text">Добрый день! Меня зовут Алиса, и я виртуальный диктор. Сегодня я расскажу вам о том, как текст превращается в видео. Сначала синтезатор речи произносит ваш текст, затем движения губ подбираются к каждому звуку, и наконец кадры собираются в готовый ролик.</textarea>
<div class="controls">
  <label>Language <select id="language"><option value="ru">ru</option><option value="en">en</option></select></label>
  <label>Voice <select id="voice"><option value="">default</option></select></label>
  <label>Engine / model <select id="model"></select></label>
  <label>Parallel assignment <select id="assign"><option value="">auto</option><option value="split">split (GAN + NOGAN)</option><option value="same">same model</option></select></label>
  <button id="both">Run both</button>
  <button id="regular">Regular only</button>
  <button id="parallel">Parallel only</button>
  <label>Stream with <select id="stream-mode"><option value="regular">one worker</option><option value="parallel">parallel workers (fragments dealt in turn)</option></select></label>
  <button id="stream">Stream</button>
</div>
<div class="grid">
  <div class="card" id="card-regular"><h2>Regular</h2><video id="video-regular" controls playsinline></video>
    <progress id="progress-regular" max="1" value="0"></progress><div class="status" id="status-regular">idle</div></div>
  <div class="card" id="card-parallel"><h2>Parallel</h2><video id="video-parallel" controls playsinline></video>
    <progress id="progress-parallel" max="1" value="0"></progress><div class="status" id="status-parallel">idle</div></div>
  <div class="card" id="card-stream"><h2>Stream</h2><video id="video-stream" controls playsinline></video>
    <div class="status" id="ttff-stream">plays while it renders</div><div class="status" id="status-stream">idle</div></div>
</div>
<div class="card" style="margin-top:18px">
  <h2>Timings (seconds)</h2>
  <div class="speedup" id="speedup">Run both methods to compare.</div>
  <table id="timings"><thead><tr><th>stage</th><th>regular</th><th>parallel</th></tr></thead><tbody></tbody></table>
  <h2 style="margin-top:16px">Timeline</h2>
  <div class="timeline" id="timeline"></div>
</div>
<script>
const $ = id => document.getElementById(id);
const results = {};
const stageColors = { speech: '#7a5af8', 'audio/mel': '#0e9384', avatar: '#667085', render: '#2458d6', concat: '#dc6803' };
const workerColors = ['#2458d6', '#c11574', '#099250', '#dc6803'];

async function loadModels() {
  const response = await fetch('/api/models');
  const { models } = await response.json();
  const select = $('model');
  select.innerHTML = '<option value="">automatic</option>' + models.map(m =>
    `<option value="${m.engine === 'viseme' ? 'engine:viseme' : m.name}">${m.name}${m.precision ? ' (' + m.precision + ')' : ''} — ${m.description}</option>`).join('');
}

// Voices of the chosen language; "default" names the voice the server picks for it.
let voiceList = null;
async function loadVoices() {
  voiceList = await (await fetch('/api/voices')).json();
  showVoices();
}
function showVoices() {
  if (!voiceList) return;
  const language = $('language').value, family = code => code.split('-')[0];
  const chosen = voiceList.defaults[language] || 'espeak/' + language;
  const speaking = voiceList.voices.filter(v => !v.error && (v.language === language || family(v.language) === language));
  $('voice').innerHTML = `<option value="">default: ${chosen}</option>` +
    speaking.map(v => `<option value="${v.id}">${v.id} (${v.engine}, ${v.sample_rate} Hz)</option>`).join('');
}

function requestBody(mode) {
  const body = { text: $('text').value, language: $('language').value, mode };
  if ($('voice').value) body.voice = $('voice').value;
  const model = $('model').value;
  if (model.startsWith('engine:')) body.engine = model.slice(7); else if (model) body.model = model;
  if (mode === 'parallel' && $('assign').value) body.assign = $('assign').value;
  return body;
}

async function run(mode) {
  const status = $('status-' + mode), bar = $('progress-' + mode);
  status.className = 'status'; status.textContent = 'submitting…'; bar.value = 0;
  const response = await fetch('/api/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(requestBody(mode)) });
  const job = await response.json();
  if (!response.ok) { status.className = 'status error'; status.textContent = job.error; return; }
  while (true) {
    await new Promise(resolve => setTimeout(resolve, 250));
    const state = await (await fetch('/api/jobs/' + job.id)).json();
    if (state.frames_total > 0) bar.value = state.frames_done / state.frames_total;
    status.textContent = `${state.state}: ${state.stage} ${state.frames_done}/${state.frames_total} frames` +
      (state.worker ? ` on ${state.worker}${state.attempts > 1 ? ' (attempt ' + state.attempts + ')' : ''}` : '');
    if (state.state === 'done') {
      results[mode] = state.result;
      bar.value = 1;
      const r = state.result;
      status.textContent = `${r.frames} frames, ${r.duration.toFixed(1)} s of speech, engine ${r.engine}${r.precision ? ' (' + r.precision + ')' : ''}, voice ${r.voice}, total ${r.timings.total.toFixed(2)} s` +
        (r.worker ? `, rendered by ${r.worker}${state.attempts > 1 ? ' (attempt ' + state.attempts + ')' : ''}` : '') +
        (r.parallel && r.parallel.fallback_reason ? ` — ran as regular: ${r.parallel.fallback_reason}` : '');
      $('video-' + mode).src = r.video_url;
      render();
      return;
    }
    if (state.state === 'failed') { status.className = 'status error'; status.textContent = state.error; return; }
  }
}

function render() {
  const rows = ['speech', 'audio', 'avatar', 'inference', 'compositing', 'encoding', 'total'];
  const value = (mode, key) => results[mode] ? results[mode].timings[key].toFixed(2) : '–';
  let html = rows.map(key => `<tr><td>${key}</td><td>${value('regular', key)}</td><td>${value('parallel', key)}</td></tr>`).join('');
  const p = results.parallel && results.parallel.parallel;
  if (p) html += `<tr><td>planning</td><td>–</td><td>${p.planning.toFixed(3)}</td></tr><tr><td>concat</td><td>–</td><td>${p.concat.toFixed(2)}</td></tr>`;
  document.querySelector('#timings tbody').innerHTML = html;
  if (results.regular && results.parallel) {
    const speedup = results.regular.timings.total / results.parallel.timings.total;
    $('speedup').textContent = `Speed-up: ${speedup.toFixed(2)}× (regular ${results.regular.timings.total.toFixed(2)} s, parallel ${results.parallel.timings.total.toFixed(2)} s)`;
  }
  drawTimeline();
}

function drawTimeline() {
  const span = Math.max(...['regular', 'parallel'].filter(m => results[m]).map(m => results[m].timings.total), 0.001);
  const pct = s => (100 * s / span).toFixed(2) + '%';
  let html = '';
  for (const mode of ['regular', 'parallel']) {
    const r = results[mode]; if (!r) continue;
    const t = r.timings; const prep = t.speech + t.audio;
    const segments = [['speech', 0, t.speech], ['audio/mel', t.speech, t.audio], ['avatar', prep, t.avatar]];
    const renderStart = prep + t.avatar;
    const concat = r.parallel && !r.parallel.fallback_reason ? r.parallel.concat : 0;
    segments.push(['render', renderStart, Math.max(0, t.total - renderStart - concat)]);
    if (concat) segments.push(['concat', t.total - concat, concat]);
    html += `<div class="lane"><span class="lane-label">${mode}: stages</span>` + segments.map(([name, start, length]) =>
      `<div class="bar" title="${name} ${length.toFixed(2)} s" style="left:${pct(start)};width:${pct(length)};background:${stageColors[name]}">${name}</div>`).join('') + '</div>';
    if (mode === 'parallel' && r.parallel && !r.parallel.fallback_reason) {
      const workers = [...new Set(r.parallel.chunks.map(c => c.worker))];
      for (const worker of workers) {
        html += `<div class="lane"><span class="lane-label">worker ${worker}</span>` + r.parallel.chunks.filter(c => c.worker === worker).map(c =>
          `<div class="bar" title="chunk ${c.index}: ${c.frames} frames on ${c.model}, ${c.start.toFixed(2)}–${c.end.toFixed(2)} s" style="left:${pct(renderStart + c.start)};width:${pct(c.end - c.start)};background:${workerColors[worker % 4]}">#${c.index} ${c.model} (${c.frames} fr)</div>`).join('') + '</div>';
      }
    }
  }
  html += `<div class="axis"><span>0 s</span><span>${(span / 2).toFixed(1)} s</span><span>${span.toFixed(1)} s</span></div>`;
  $('timeline').innerHTML = html;
}

// Streaming: the fragmented MP4 from /api/generate_stream goes into a MediaSource as it arrives.
// window.streamState records the moments a test (or a curious user) wants: request sent, first
// fragment received, first frame shown, and whether playback began before the server had finished.
window.streamState = null;

function boxes(bytes) {
  const found = []; let offset = 0;
  while (offset + 8 <= bytes.length) {
    const size = ((bytes[offset] << 24) >>> 0) + (bytes[offset + 1] << 16) + (bytes[offset + 2] << 8) + bytes[offset + 3];
    const type = String.fromCharCode(...bytes.slice(offset + 4, offset + 8));
    if (size < 8 || offset + size > bytes.length) break;
    found.push({ type, start: offset, end: offset + size }); offset += size;
  }
  return { found, complete: offset };
}

function codecsOf(initSegment) {
  // avcC: version, profile, compatibility, level follow the box type.
  for (let i = 0; i + 8 < initSegment.length; i++) {
    if (initSegment[i] === 0x61 && initSegment[i + 1] === 0x76 && initSegment[i + 2] === 0x63 && initSegment[i + 3] === 0x43) {
      const hex = b => b.toString(16).padStart(2, '0');
      return `avc1.${hex(initSegment[i + 5])}${hex(initSegment[i + 6])}${hex(initSegment[i + 7])}, mp4a.40.2`;
    }
  }
  return 'avc1.640015, mp4a.40.2';
}

async function runStream() {
  const status = $('status-stream'), ttff = $('ttff-stream'), video = $('video-stream');
  const state = window.streamState = { requestAt: performance.now(), firstFragmentAt: null, firstFrameAt: null, doneAt: null,
                                       playingBeforeDone: null, bytes: 0, error: null };
  status.className = 'status'; status.textContent = 'requesting…'; ttff.textContent = '';
  const body = requestBody($('stream-mode').value);
  const response = await fetch('/api/generate_stream', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) { const e = await response.json(); state.error = e.error; status.className = 'status error'; status.textContent = e.error; return; }
  const media = new MediaSource();
  video.src = URL.createObjectURL(media);
  await new Promise(resolve => media.addEventListener('sourceopen', resolve, { once: true }));
  let buffer = null, pending = new Uint8Array(0), queue = [];
  const appendNext = () => { if (buffer && !buffer.updating && queue.length) buffer.appendBuffer(queue.shift()); };
  const onFrame = () => {
    if (state.firstFrameAt === null && video.currentTime > 0) {
      state.firstFrameAt = performance.now();
      state.playingBeforeDone = state.doneAt === null;
      ttff.textContent = `first frame after ${((state.firstFrameAt - state.requestAt) / 1000).toFixed(2)} s` +
        (state.playingBeforeDone ? ' (still rendering)' : '');
    }
  };
  video.addEventListener('timeupdate', onFrame);
  const reader = response.body.getReader();
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    state.bytes += value.length;
    const joined = new Uint8Array(pending.length + value.length); joined.set(pending); joined.set(value, pending.length);
    const { found, complete } = boxes(joined);
    pending = joined.slice(complete);
    if (!found.length) continue;
    const whole = joined.slice(0, complete);
    if (!buffer) {
      buffer = media.addSourceBuffer(`video/mp4; codecs="${codecsOf(whole)}"`);
      buffer.addEventListener('updateend', appendNext);
    }
    queue.push(whole); appendNext();
    if (state.firstFragmentAt === null && found.some(b => b.type === 'mdat')) {
      state.firstFragmentAt = performance.now();
      video.play().catch(() => { video.muted = true; video.play(); });
    }
    status.textContent = `receiving: ${(state.bytes / 1e6).toFixed(1)} MB, first fragment after ${((state.firstFragmentAt - state.requestAt) / 1000).toFixed(2)} s`;
  }
  state.doneAt = performance.now();
  const finish = () => { if (buffer.updating || queue.length) { setTimeout(finish, 50); return; } if (media.readyState === 'open') media.endOfStream(); };
  finish();
  status.textContent = `done: ${(state.bytes / 1e6).toFixed(1)} MB in ${((state.doneAt - state.requestAt) / 1000).toFixed(2)} s`;
}

function lock(busy) { for (const id of ['both', 'regular', 'parallel', 'stream']) $(id).disabled = busy; }
$('stream').onclick = async () => { lock(true); try { await runStream(); } catch (e) { $('status-stream').textContent = String(e); } finally { lock(false); } };
$('both').onclick = async () => { lock(true); try { await run('regular'); await run('parallel'); } finally { lock(false); } };
$('regular').onclick = async () => { lock(true); try { await run('regular'); } finally { lock(false); } };
$('parallel').onclick = async () => { lock(true); try { await run('parallel'); } finally { lock(false); } };
// ?run=both (or regular, parallel, stream) starts on load, e.g. from a bookmark or a headless browser.
$('language').addEventListener('change', showVoices);
Promise.all([loadModels(), loadVoices()]).then(() => { const run = new URLSearchParams(location.search).get('run'); if (run && $(run)) $(run).click(); });
</script>
</body>
</html>
"""#
}
