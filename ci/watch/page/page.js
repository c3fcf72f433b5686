// watch's live page: the state and the services' lines from /events (Server-Sent Events), drawn with
// textContent alone: every text from outside stays text, whatever it holds.
"use strict";

const LOG_LINES = 200; // as the board's rings keep them (ci/watch/board.py)
const PARTS = [["build", "build_seconds"], ["sync", "sync_seconds"], ["up", "up_seconds"], ["verify", "verify_seconds"]];
const cards = new Map(); // service -> its card's parts

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function seconds(value) {
  return `${value.toFixed(1)}s`;
}

function filesOf(turn) {
  if (!turn.files.length) return "(catch-up)";
  return turn.files.join(", ") + (turn.more_files ? ` (+${turn.more_files})` : "");
}

function resultClass(turn) {
  return turn.result === "running" ? "running" : turn.ok ? "ok" : "bad";
}

// Where a turn's time went: a bar per part, its width its share.
function timeBar(turn) {
  const bar = el("div", "bar");
  const total = PARTS.reduce((sum, [, key]) => sum + turn[key], 0);
  for (const [name, key] of PARTS) {
    if (!turn[key]) continue;
    const part = el("span", `part ${name}`, `${name} ${seconds(turn[key])}`);
    part.title = `${name} ${turn[key].toFixed(2)}s`;
    part.style.flexGrow = String(total ? turn[key] / total : 1);
    bar.append(part);
  }
  return bar;
}

function card(name) {
  if (cards.has(name)) return cards.get(name);
  const root = el("article", "service");
  const title = el("h2");
  const label = el("span", "name", name);
  const badge = el("span", "badge");
  title.append(label, badge);
  const why = el("p", "why");
  const facts = el("dl", "facts");
  const last = el("div", "last");
  const logs = el("pre", "logs");
  logs.setAttribute("aria-label", `${name}'s own lines`);
  root.dataset.service = name;
  root.append(title, why, facts, last, el("h3", "", "its lines"), logs);
  const parts = { root, badge, why, facts, last, logs };
  cards.set(name, parts);
  return parts;
}

function fact(list, term, value) {
  if (!value) return;
  list.append(el("dt", "", term), el("dd", "", value));
}

function drawService(service, turns) {
  const parts = card(service.name);
  parts.root.dataset.state = service.state;
  parts.root.className = `service state-${service.state}`;
  parts.badge.textContent = service.state;
  parts.why.textContent = service.why;
  parts.why.hidden = !service.why;
  parts.facts.replaceChildren();
  fact(parts.facts, "target", service.target);
  fact(parts.facts, "image", service.runs.image && `${service.runs.image} (${service.runs.reference})`);
  fact(parts.facts, "commit", service.runs.commit);
  fact(parts.facts, "sources", service.runs.sources);
  fact(parts.facts, "synced", service.runs.synced && `tree ${service.runs.synced}, onto the image`);
  parts.last.replaceChildren();
  const turn = turns.find((t) => t.number === service.last_turn);
  if (!turn) {
    parts.last.append(el("p", "quiet", "no turn yet"));
    return;
  }
  const head = el("p", `turn-head ${resultClass(turn)}`);
  head.append(el("strong", "", `turn ${turn.number}`), ` ${turn.action}: ${filesOf(turn)} · `,
    el("span", "result", turn.result));
  parts.last.append(head, timeBar(turn));
  if (turn.detail) parts.last.append(el("p", turn.ok ? "proof" : "cause", turn.detail));
}

function drawTurns(turns) {
  const body = document.querySelector("#turns tbody");
  const rows = turns.map((turn) => {
    const row = el("tr", resultClass(turn));
    row.dataset.result = turn.result;
    row.dataset.number = String(turn.number);
    const result = el("td", "result");
    result.append(el("strong", "", turn.result));
    if (turn.detail) result.append(el("div", turn.ok ? "proof" : "cause", turn.detail));
    const at = turn.ended ? new Date(turn.ended * 1000).toLocaleTimeString() : "…";
    const time = el("td");
    time.append(timeBar(turn));
    row.append(el("td", "", String(turn.number)), el("td", "", (turn.services.length ? turn.services : turn.targets).join(", ")),
      el("td", "files", filesOf(turn)), el("td", "", turn.action), result, time,
      el("td", "", turn.ended ? seconds(turn.from_change_seconds) : "…"), el("td", "", at));
    return row;
  });
  body.replaceChildren(...rows);
  document.getElementById("no-turns").hidden = turns.length > 0;
}

function drawState(state) {
  document.getElementById("project").textContent = state.project;
  const order = state.services.map((s) => s.name);
  for (const name of [...cards.keys()]) {
    if (!order.includes(name)) {
      cards.get(name).root.remove();
      cards.delete(name);
    }
  }
  const section = document.getElementById("services");
  for (const service of state.services) {
    drawService(service, state.turns);
    section.append(card(service.name).root); // in the definitions' order
  }
  drawTurns(state.turns);
  const failed = state.services.some((s) => s.state === "failed" || s.state === "unhealthy");
  document.title = `${failed ? "✗" : "✓"} watch ${state.project}`;
}

function drawLogs(lines) {
  const touched = new Set();
  for (const line of lines) {
    const parts = card(line.service);
    const stuck = parts.logs.scrollTop + parts.logs.clientHeight >= parts.logs.scrollHeight - 4;
    parts.logs.append(el("div", "line", line.text));
    while (parts.logs.childElementCount > LOG_LINES) parts.logs.firstElementChild.remove();
    if (stuck) touched.add(parts.logs);
  }
  for (const logs of touched) logs.scrollTop = logs.scrollHeight;
}

function connect() {
  const link = document.getElementById("link");
  const events = new EventSource("/events");
  events.addEventListener("open", () => {
    link.textContent = "live";
    link.className = "link live";
    for (const parts of cards.values()) parts.logs.replaceChildren(); // a reconnect sends the rings again
  });
  events.addEventListener("state", (event) => {
    const state = JSON.parse(event.data);
    drawState(state);
    if (state.closed) {
      events.close();
      link.textContent = "watch ended";
      link.className = "link ended";
    }
  });
  events.addEventListener("logs", (event) => drawLogs(JSON.parse(event.data)));
  events.addEventListener("error", () => {
    if (events.readyState !== EventSource.CLOSED) {
      link.textContent = "reconnecting";
      link.className = "link lost";
    }
  });
}

connect();
