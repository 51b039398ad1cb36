// Shared helpers of the Maestro dashboard pages (no dependencies).
"use strict";

// GET a JSON API path; a non-2xx answer throws an Error carrying the server's message.
async function api(path) {
  let response;
  try {
    response = await fetch(path, { cache: "no-store" });
  } catch (err) {
    throw new Error(`the dashboard server did not answer (${err.message}); is 'maestro dashboard' running?`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) {
    const error = new Error((body && body.error) || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// How a trial ended (the API's `outcome`), as shown on the badges.
const OUTCOME_TEXT = {
  success: "success", failed: "failed", budget_exhausted: "budget exhausted", cancelled: "cancelled",
  vlm_error: "VLM error", unusable_reply: "unusable reply", error: "error", interrupted: "interrupted",
  running: "running", unfinished: "unfinished",
};

function outcomeBadge(outcome, title) {
  return el("span", { class: `badge ${outcome}`, title }, OUTCOME_TEXT[outcome] || outcome);
}

// Create an element: el("td", {class: "x", title: "y"}, "text", child, ...).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function showError(message) {
  const box = document.getElementById("error");
  if (!box) return;
  box.textContent = message;
  box.hidden = !message;
}

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - 60 * m)} s`;
}

function fmtDate(unix) {
  return unix ? new Date(unix * 1000).toLocaleString() : "–";
}

// Index of the last item with item.t <= t in an array sorted by t (-1 if none).
function lastAtOrBefore(items, t) {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid].t <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

// Mark the page drawn (tests and the perf figure read these).
function markReady(name) {
  document.body.dataset[name] = "1";
  window.drawnAt = window.drawnAt || {};
  window.drawnAt[name] = performance.now();
}
