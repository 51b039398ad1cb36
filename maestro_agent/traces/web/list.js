// The trial list: every trial in the store, newest first; refreshes while a trial is running.
"use strict";

function trialRow(t) {
  const link = el("a", { href: `/trial?id=${encodeURIComponent(t.id)}` }, t.id);
  const progress = t.progress === null || t.progress < 0 ? "–" : `${Math.round(t.progress)}%`;
  const calls = t.failed_calls ? `${t.calls} (${t.failed_calls} failed)` : String(t.calls);
  return el(
    "tr",
    { dataset: { id: t.id } },
    el("td", { class: "mono" }, link),
    el("td", {}, fmtDate(t.started)),
    el("td", {}, t.task_type || "–"),
    el("td", { class: "instruction", title: t.instruction }, t.instruction),
    el("td", {}, outcomeBadge(t.outcome, t.summary || undefined)),
    el("td", { class: "num" }, progress),
    el("td", { class: "num" }, fmtDuration(t.duration)),
    el("td", { class: "num" }, t.substeps),
    el("td", { class: "num" }, t.replans),
    el("td", { class: "num" }, calls),
    el("td", {}, t.vlm || "–"),
  );
}

async function loadTrials() {
  let running = false;
  try {
    const body = await api("/api/trials");
    const tbody = document.querySelector("#trials tbody");
    tbody.replaceChildren(...body.trials.map(trialRow));
    running = body.trials.some((t) => t.outcome === "running");
    const n = body.trials.length;
    document.getElementById("summary").textContent = n
      ? `${n} trial(s) in ${body.store}. Open one to replay it.`
      : `No trials in ${body.store} yet: run a task with the trace store enabled.`;
    showError("");
  } catch (err) {
    showError(err.message);
    document.getElementById("summary").textContent = "";
  }
  markReady("drawn");
  setTimeout(loadTrials, running ? 2000 : 10000);
}

loadTrials();
