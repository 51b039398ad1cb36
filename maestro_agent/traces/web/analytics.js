// Orchestration analytics: which modules the generated code called, and in what order (depth-0 calls).
"use strict";

const taskSelect = document.getElementById("task-type");
const vlaSelect = document.getElementById("vla");

function query() {
  const q = new URLSearchParams();
  if (taskSelect.value) q.set("task_type", taskSelect.value);
  if (vlaSelect.value) q.set("vla", vlaSelect.value);
  return q.toString();
}

// The transition matrix as a table; cells shaded by count (row: from, column: to).
function drawMatrix(labels, grid) {
  const table = document.getElementById("matrix");
  if (!labels.length) {
    table.replaceChildren(el("tr", {}, el("td", { class: "muted" }, "no tool calls match the filters")));
    return;
  }
  const max = Math.max(1, ...grid.flat());
  const head = el("tr", {}, el("th", { class: "corner" }, "from \\ to"), ...labels.map((m) => el("th", {}, m)));
  const rows = labels.map((from, i) =>
    el("tr", {}, el("th", {}, from), ...labels.map((to, j) => {
      const n = grid[i][j];
      const alpha = n ? 0.12 + 0.88 * (n / max) : 0;
      return el("td", {
        class: n / max > 0.55 ? "cell dark" : "cell",
        style: `background: rgba(37, 99, 171, ${alpha.toFixed(3)})`,
        title: `${from} → ${to}: ${n}`,
        dataset: { from, to, count: n },
      }, n);
    })),
  );
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

function drawBars(id, counts, failures) {
  const entries = Object.entries(counts);
  const max = Math.max(1, ...entries.map(([, n]) => n));
  const box = document.getElementById(id);
  if (!entries.length) {
    box.replaceChildren(el("p", { class: "muted" }, "none"));
    return;
  }
  box.replaceChildren(...entries.slice(0, 25).map(([name, n]) => {
    const failed = failures && failures[name] ? ` (${failures[name]} failed)` : "";
    return el("div", { class: "bar-row", dataset: { name, count: n } },
      el("span", { class: "bar-label", title: name }, name),
      el("span", { class: "bar", style: `width:${((70 * n) / max).toFixed(2)}%` }),
      el("span", { class: "bar-value" }, `${n}${failed}`));
  }));
}

function drawBigrams(bigrams) {
  const table = document.getElementById("bigrams");
  table.replaceChildren(
    el("tr", {}, el("th", {}, "#"), el("th", {}, "then"), el("th", {}, "next"), el("th", {}, "count")),
    ...bigrams.map(([a, b, n], i) =>
      el("tr", { dataset: { from: a, to: b, count: n } }, el("td", {}, i + 1), el("td", { class: "mono" }, a),
        el("td", { class: "mono" }, b), el("td", { class: "num" }, n))),
  );
}

function drawTrials(trials) {
  const table = document.getElementById("per-trial");
  table.replaceChildren(
    el("tr", {}, ...["trial", "task", "outcome", "calls", "failed", "VLA", "duration"].map((h) => el("th", {}, h))),
    // each trial's own outcome: a cancelled or interrupted trial is not counted as a failure
    ...trials.map((t) => el("tr", {},
      el("td", { class: "mono" }, el("a", { href: `/trial?id=${encodeURIComponent(t.id)}` }, t.id)),
      el("td", {}, t.task_type || "–"), el("td", {}, outcomeBadge(t.outcome || "running")),
      el("td", { class: "num" }, t.calls), el("td", { class: "num" }, t.failed_calls),
      el("td", {}, t.vla ? "yes" : "no"), el("td", { class: "num" }, fmtDuration(t.duration)))),
  );
}

async function load() {
  const q = query();
  history.replaceState(null, "", q ? `/analytics?${q}` : "/analytics");
  document.getElementById("csv").href = `/export/analytics.csv${q ? `?${q}` : ""}`;
  document.getElementById("png").href = `/export/analytics.png${q ? `?${q}` : ""}`;
  delete document.body.dataset.drawn;
  try {
    const a = await api(`/api/analytics${q ? `?${q}` : ""}`);
    const known = new Set([...taskSelect.options].map((o) => o.value));
    for (const t of a.task_types) if (t && !known.has(t)) taskSelect.append(el("option", { value: t }, t));
    document.getElementById("summary").textContent =
      `${a.calls} depth-0 tool call(s) in ${a.trials.length} trial(s)` +
      ` · ${Object.entries(a.outcomes).map(([k, n]) => `${n} ${OUTCOME_TEXT[k] || k}`).join(", ") || "no trials"}` +
      ` · task type: ${a.task_type || "any"} · VLA: ${a.vla === null ? "any" : a.vla ? "yes" : "no"}`;
    drawMatrix(a.transition_labels, a.transition_matrix);
    drawBars("modules", a.modules, a.failures);
    drawBars("categories", a.categories);
    drawBars("functions", a.functions);
    drawBigrams(a.bigrams);
    drawTrials(a.trials);
    showError("");
  } catch (err) {
    showError(err.message);
    document.getElementById("summary").textContent = "";
  }
  markReady("drawn");
}

const initial = new URLSearchParams(location.search);
if (initial.get("task_type")) {
  const t = initial.get("task_type");
  taskSelect.append(el("option", { value: t }, t));
  taskSelect.value = t;
}
vlaSelect.value = initial.get("vla") || "";
taskSelect.addEventListener("change", load);
vlaSelect.addEventListener("change", load);
load();
