// Trial replay: every panel shows the trial as it stood at the timeline's current time.
"use strict";

const trialId = new URLSearchParams(location.search).get("id") || "";
const $ = (id) => document.getElementById(id);
const S = {
  trial: null, t0: 0, tEnd: 0, now: 0, lastT: 0,
  events: [], calls: [], images: [], video: [],
  seen: { events: new Set(), calls: new Set(), images: new Set(), video: new Set() },
  d: null, playing: false, speed: 1, follow: false, frame: 0, shown: {},
};
const TOOL_ROWS = 150; // tool calls drawn at once (the latest ones)
const NOTE_ROWS = 40;

function merge(list, rows, seen) {
  let added = 0;
  for (const row of rows) {
    if (seen.has(row.id)) continue;
    seen.add(row.id);
    list.push(row);
    added++;
  }
  if (added) list.sort((a, b) => a.t - b.t || a.id - b.id);
  return added;
}

// Split the events by what each panel needs; build the timeline markers.
function derive() {
  const d = { plans: [], codes: [], lines: [], notes: [], stdout: [], outcome: null, failedUpTo: [] };
  for (const e of S.events) {
    if (e.kind === "phase" || e.kind === "plan" || e.kind === "replan") d.plans.push(e);
    if (e.kind === "code") d.codes.push(e);
    else if (e.kind === "line") d.lines.push(e);
    else if (e.kind === "stdout") d.stdout.push(e);
    else if (e.kind === "outcome") d.outcome = e;
    if (["plan", "judgement", "replan", "reflection"].includes(e.kind)) d.notes.push(e);
  }
  let failed = 0;
  for (const c of S.calls) d.failedUpTo.push((failed += c.success ? 0 : 1));
  d.camera = S.images.filter((i) => /camera|scene|wrist/i.test(i.label));
  if (!d.camera.length) d.camera = S.images;
  S.d = d;
  S.shown = {};
  drawMarkers();
}

function addMarker(seen, t, kind, title) {
  const span = S.tEnd - S.t0;
  const pos = span > 0 ? Math.min(1, Math.max(0, (t - S.t0) / span)) : 0;
  const key = `${kind}:${Math.round(pos * 500)}`; // one marker per kind and pixel bucket
  if (seen.has(key)) return null;
  seen.add(key);
  const mark = el("span", { class: `marker ${kind}`, title, style: `left:${(pos * 100).toFixed(3)}%` });
  mark.addEventListener("click", () => seek(t));
  return mark;
}

function drawMarkers() {
  const seen = new Set();
  const marks = [];
  for (const e of S.d.codes) marks.push(addMarker(seen, e.t, "substep", `substep ${e.substep}`));
  for (const c of S.calls) {
    if (!c.success) marks.push(addMarker(seen, c.t, "failure", `${c.module}.${c.function} failed: ${c.message}`));
  }
  for (const e of S.events) {
    if (e.kind === "replan") {
      const kind = e.data.decision === "retry" ? "retry" : "replan";
      marks.push(addMarker(seen, e.t, kind, `${e.data.decision || "replan"}: ${e.data.reason || ""}`));
    } else if (e.kind === "judgement" && e.data.decision === "failed") {
      marks.push(addMarker(seen, e.t, "failure", `judged failed: ${e.data.reason || ""}`));
    }
  }
  $("markers").replaceChildren(...marks.filter(Boolean));
}

// -- panels ------------------------------------------------------------------------------------
function drawSubtasks(T) {
  const d = S.d;
  const k = lastAtOrBefore(d.plans, T);
  let plan = [];
  for (let i = k; i >= 0; i--) {
    if (Array.isArray(d.plans[i].data.plan) && d.plans[i].data.plan.length) {
      plan = d.plans[i].data.plan;
      break;
    }
  }
  const latest = k >= 0 ? d.plans[k] : null;
  const current = latest ? latest.data.current_subtask ?? latest.subtask : -1;
  const finished = d.outcome && d.outcome.t <= T;
  const allDone = finished && d.outcome.data.success;
  const key = `${k}:${finished}`;
  if (S.shown.subtasks === key) return;
  S.shown.subtasks = key;
  const ended = allDone ? "success" : OUTCOME_TEXT[d.outcome?.data.outcome] || "failed";
  $("phase").textContent = finished ? `done: ${ended}` : latest?.data.phase || "";
  $("subtasks").replaceChildren(
    ...plan.map((text, i) => {
      const state = allDone || i < current ? "done" : i === current && !finished ? "current" : "";
      return el("li", { class: state, dataset: { index: i } }, text);
    }),
  );
  if (!plan.length) $("subtasks").append(el("p", { class: "muted" }, "no plan yet"));
}

function noteEntry(e) {
  const at = `${(e.t - S.t0).toFixed(1)} s`;
  const x = e.data;
  if (e.kind === "plan") return el("div", { class: "note plan" }, el("b", {}, `plan · ${at}`), el("p", {}, x.reasoning || ""));
  if (e.kind === "judgement") {
    const progress = x.progress !== undefined && x.progress !== null ? ` · progress ${x.progress}` : "";
    return el(
      "div", { class: `note judgement ${x.decision}` },
      el("b", {}, `substep ${e.substep}: ${x.decision}${progress} · ${at}`),
      el("p", {}, x.reason || ""), x.reasoning ? el("p", { class: "muted" }, x.reasoning) : null,
    );
  }
  if (e.kind === "replan") {
    const plan = Array.isArray(x.plan) ? ` → ${x.plan.join("; ")}` : "";
    return el("div", { class: `note replan ${x.decision}` }, el("b", {}, `${x.decision || "replan"} · ${at}`),
      el("p", {}, `${x.reason || ""}${plan}`));
  }
  const frames = Array.isArray(x.keyframes) && x.keyframes.length ? `keyframes: ${x.keyframes.join("; ")}` : "";
  return el("div", { class: "note reflection" }, el("b", {}, `reflection · ${at}`), el("p", {}, x.text || ""),
    frames ? el("p", { class: "muted" }, frames) : null);
}

function drawReasoning(T) {
  const k = lastAtOrBefore(S.d.notes, T);
  if (S.shown.notes === k) return;
  S.shown.notes = k;
  const box = $("reasoning");
  box.replaceChildren(...S.d.notes.slice(Math.max(0, k - NOTE_ROWS + 1), k + 1).map(noteEntry));
  box.scrollTop = box.scrollHeight;
}

function drawCode(T) {
  const d = S.d;
  const box = $("code");
  const k = lastAtOrBefore(d.codes, T);
  const code = k >= 0 ? d.codes[k] : null;
  if (S.shown.code !== (code && code.id)) {
    S.shown.code = code && code.id;
    S.shown.line = undefined;
    const lines = code ? String(code.data.code || "").split("\n") : [];
    box.replaceChildren(...lines.map((text, i) =>
      el("div", { class: "line", dataset: { line: i + 1 }, title: "show when this line ran",
        onclick: () => seekLine(code, i + 1) }, el("span", { class: "ln" }, i + 1), text || " ")));
    if (!code) box.append(el("p", { class: "muted" }, "no code yet"));
    box.dataset.substep = code ? code.substep : "";
  }
  const j = lastAtOrBefore(d.lines, T);
  const line = code && j >= 0 && d.lines[j].t >= code.t && d.lines[j].substep === code.substep ? d.lines[j].line : 0;
  if (S.shown.line === line) return;
  S.shown.line = line;
  box.querySelector(".line.current")?.classList.remove("current");
  box.dataset.line = line || "";
  const row = line ? box.querySelector(`.line[data-line="${line}"]`) : null;
  if (row) {
    row.classList.add("current");
    box.scrollTop = Math.max(0, row.offsetTop - box.clientHeight / 2);
  }
  $("code-head").textContent = code ? `substep ${code.substep}${line ? `, line ${line}` : ""}` : "";
}

// Seek to the first time `line` of this code ran (in its substep, before the next code).
function seekLine(code, line) {
  const next = S.d.codes.find((c) => c.t > code.t);
  const ran = S.d.lines.find((e) => e.t >= code.t && (!next || e.t < next.t) && e.substep === code.substep &&
    e.line === line);
  if (ran) seek(ran.t);
}

function toolRow(c) {
  const status = c.success ? "✓" : `✗ ${c.error_code ? `[${c.error_code}] ` : ""}${c.message}`;
  return el(
    "div", { class: `call ${c.success ? "ok" : "failed"}`, style: `padding-left:${c.depth * 16 + 4}px`,
      dataset: { id: c.id, depth: c.depth } },
    el("span", { class: "muted" }, `${(c.t - S.t0).toFixed(1)}s L${c.line} `),
    `${c.module}.${c.function}(${c.arguments}) `,
    el("span", { class: "muted" }, `${c.duration.toFixed(2)}s `),
    el("span", { class: "status" }, status),
  );
}

function drawTools(T) {
  const k = lastAtOrBefore(S.calls, T);
  if (S.shown.calls !== k) {
    S.shown.calls = k;
    const box = $("tools");
    box.replaceChildren(...S.calls.slice(Math.max(0, k - TOOL_ROWS + 1), k + 1).map(toolRow));
    box.scrollTop = box.scrollHeight;
    const failed = k >= 0 ? S.d.failedUpTo[k] : 0;
    $("tools-head").textContent = `${k + 1} call(s) so far${failed ? `, ${failed} failed` : ""}`;
  }
  const s = lastAtOrBefore(S.d.stdout, T);
  if (S.shown.stdout !== s) {
    S.shown.stdout = s;
    const text = S.d.stdout.slice(Math.max(0, s - 19), s + 1).map((e) => e.data.text || "").join("");
    $("stdout").textContent = text;
    $("stdout").hidden = !text;
  }
}

function setImage(prefix, image, onMissing) {
  const key = image ? image.id : null;
  if (S.shown[prefix] === key) return;
  S.shown[prefix] = key;
  const img = $(`${prefix}-img`);
  const missing = $(`${prefix}-missing`);
  $(`${prefix}-none`).hidden = Boolean(image);
  $(`${prefix}-label`).textContent = image ? `${image.label} · ${(image.t - S.t0).toFixed(1)} s` : "";
  if (!image) {
    img.hidden = missing.hidden = true;
    return;
  }
  img.onload = () => {
    if (S.shown[prefix] !== key) return;
    img.hidden = false;
    missing.hidden = true;
  };
  img.onerror = () => {
    if (S.shown[prefix] !== key) return;
    if (onMissing) return onMissing(image);
    img.hidden = true;
    missing.hidden = false;
    missing.textContent = `image missing: ${image.path} (the file was deleted or never written)`;
  };
  img.dataset.imageId = image.id;
  img.dataset.label = image.label;
  img.src = image.url;
}

// The video frame at T (the last one taken at or before it); the cursor under it is the timeline's.
function drawVideo(T) {
  const k = lastAtOrBefore(S.video, T);
  const frame = k >= 0 ? S.video[k] : null;
  const step = frame && (frame.substep ? `substep ${frame.substep}` : "planning");
  const shown = frame && { ...frame, label: `frame ${k + 1}/${S.video.length} · ${step}` };
  setImage("video", shown, (gone) => {
    // thinned out while the trial ran (a long trial keeps every other frame): show its neighbour
    S.video = S.video.filter((f) => f.id !== gone.id);
    S.shown.video = undefined;
    drawVideo(S.now);
  });
  $("video-img").dataset.frameId = frame ? frame.id : "";
  $("video-none").textContent = S.video.length ? "no video frame yet" : "no video recorded";
  $("video-cursor").value = $("slider").value;
}

function render() {
  if (!S.d) return;
  const T = S.now;
  drawSubtasks(T);
  drawReasoning(T);
  drawCode(T);
  drawTools(T);
  const cam = lastAtOrBefore(S.d.camera, T);
  setImage("camera", cam >= 0 ? S.d.camera[cam] : null);
  const last = lastAtOrBefore(S.images, T);
  setImage("perception", last >= 0 ? S.images[last] : null);
  $("slider").value = Math.round((T - S.t0) * 1000);
  drawVideo(T);
  $("clock").textContent = `${(T - S.t0).toFixed(1)} s / ${(S.tEnd - S.t0).toFixed(1)} s`;
}

// -- timeline ----------------------------------------------------------------------------------
function seek(t) {
  S.now = Math.min(S.tEnd, Math.max(S.t0, t));
  S.follow = S.now >= S.tEnd && !S.trial.ended;
  render();
}

function setPlaying(on) {
  S.playing = on;
  $("play").textContent = on ? "❚❚" : "▶";
  if (!on) return;
  if (S.now >= S.tEnd && S.trial.ended) S.now = S.t0;
  let last = performance.now();
  const tick = (stamp) => {
    if (!S.playing) return;
    S.now = Math.min(S.tEnd, S.now + ((stamp - last) / 1000) * S.speed);
    last = stamp;
    if (S.now >= S.tEnd && S.trial.ended) setPlaying(false);
    render();
    S.frame = requestAnimationFrame(tick);
  };
  S.frame = requestAnimationFrame(tick);
}

function describe(trial) {
  const outcome = trial.ended === null ? "running" : trial.outcome || (trial.success ? "success" : "failed");
  const progress = trial.progress === null || trial.progress < 0 ? "" : ` · progress ${Math.round(trial.progress)}%`;
  $("title").replaceChildren(`Trial ${trial.id} `, outcomeBadge(outcome));
  $("meta").textContent = `“${trial.instruction}” · task ${trial.task_type || "–"} · VLM ${trial.vlm || "–"}` +
    ` · ${trial.substeps} substep(s), ${trial.replans} replan(s)${progress} · started ${fmtDate(trial.started)}` +
    (trial.summary ? ` · ${trial.summary}` : "");
  $("live").hidden = trial.ended !== null;
}

function ingest(body) {
  S.trial = body.trial;
  const added =
    merge(S.events, body.events, S.seen.events) +
    merge(S.calls, body.tool_calls, S.seen.calls) +
    merge(S.images, body.images, S.seen.images) +
    merge(S.video, body.video || [], S.seen.video);
  const last = [S.events, S.calls, S.images, S.video].map((l) => (l.length ? l[l.length - 1].t : 0));
  S.lastT = Math.max(S.lastT, ...last);
  S.t0 = S.trial.started;
  S.tEnd = Math.max(S.t0, S.trial.ended ?? S.lastT, S.lastT);
  $("slider").max = $("video-cursor").max = Math.round((S.tEnd - S.t0) * 1000);
  describe(S.trial);
  return added;
}

async function poll() {
  try {
    const body = await api(`/api/trials/${encodeURIComponent(trialId)}?since=${S.lastT}`);
    const following = S.follow || S.now >= S.tEnd;
    if (ingest(body)) derive();
    if (following) S.now = S.tEnd;
    render();
    showError("");
  } catch (err) {
    showError(`live update failed (retrying): ${err.message}`);
  }
  if (S.trial.ended === null) setTimeout(poll, 1000);
}

async function start() {
  if (!trialId) {
    showError("no trial id: open a trial from the trial list at /");
    return;
  }
  let body;
  try {
    body = await api(`/api/trials/${encodeURIComponent(trialId)}`);
  } catch (err) {
    $("title").textContent = err.status === 404 ? "Trial not found" : "Trial unavailable";
    showError(err.message);
    markReady("drawn");
    return;
  }
  ingest(body);
  derive();
  // A finished trial opens on its first plan (else its first code), a running one at its latest row.
  const opening = S.events.find((e) => e.kind === "plan") || S.d.codes[0];
  S.now = S.trial.ended === null ? S.tEnd : opening ? opening.t : S.t0;
  S.follow = S.trial.ended === null;
  render();
  markReady("drawn");
  if (S.trial.ended === null) setTimeout(poll, 1000);
}

for (const id of ["slider", "video-cursor"]) {
  $(id).addEventListener("input", (ev) => {
    const at = Number(ev.target.value);
    seek(at >= Number(ev.target.max) ? S.tEnd : S.t0 + at / 1000); // the end snaps to the last row
  });
}
$("play").addEventListener("click", () => setPlaying(!S.playing));
$("speed").addEventListener("change", (ev) => (S.speed = Number(ev.target.value)));
document.addEventListener("keydown", (ev) => {
  if (ev.code === "Space" && ev.target.tagName !== "SELECT") {
    ev.preventDefault();
    setPlaying(!S.playing);
  }
});
start();
