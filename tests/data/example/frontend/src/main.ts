import "./style.css";
import { appConfig } from "./config";
import {
  compareCommits,
  formatDate,
  frontendBuild,
  parseBackendInfo,
  type BackendBuildInfo,
  type BuildSummary,
  type CommitStatus,
} from "./buildInfo";

/** Creates an element with a class, attributes and children (text is never parsed as HTML). */
function h(
  tag: string,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.append(...children);
  return el;
}

interface Badge {
  root: HTMLElement;
  date: HTMLElement;
  commit: HTMLElement;
  note: HTMLElement;
}

function badge(testId: string, title: string): Badge {
  const date = h("dd", { class: "date" }, "…");
  const commit = h("code", { class: "commit" }, "…");
  const note = h("p", { class: "note" });
  const root = h(
    "article",
    { class: "badge", "data-testid": testId, "data-commit": "" },
    h("h2", {}, title),
    h("dl", {}, h("dt", {}, "Built"), date, h("dt", {}, "Commit"), h("dd", {}, commit)),
    note,
  );
  return { root, date, commit, note };
}

function showBuild(b: Badge, build: BuildSummary | null): void {
  b.date.textContent = build ? formatDate(build.buildDate) : "—";
  b.commit.textContent = build ? build.gitCommit : "—";
  b.root.dataset.commit = build ? build.gitCommit : "";
}

const app = document.querySelector<HTMLElement>("#app");
if (!app) throw new Error("#app is missing from index.html");

const frontend = badge("frontend-badge", "Frontend");
const backend = badge("backend-badge", "Backend");
const status = h("p", { class: "status", "data-testid": "commit-status", "data-status": "unknown" });

app.append(
  h("h1", {}, "Mainza"),
  h("p", { class: "lead" }, "Which builds are running"),
  h("section", { class: "badges" }, frontend.root, backend.root),
  status,
);

const ownBuild = frontendBuild(window.BUILD_INFO);
showBuild(frontend, ownBuild);
frontend.note.textContent = window.BUILD_INFO ? "" : "no /build-info.js (development server?)";

let polls = 0;
let backendBuild: BuildSummary | null = null;
backend.root.dataset.polls = "0";
backend.root.dataset.state = "loading";
backend.note.textContent = `waiting for ${appConfig.apiUrl}/build/info`;

function showStatus(): void {
  const result: CommitStatus = backendBuild
    ? compareCommits(ownBuild.gitCommit, backendBuild.gitCommit)
    : "unknown";
  status.dataset.status = result;
  // Each service is built from the commit that last changed its own sources: different commits are
  // normal after a commit that touched only one of them, not a fault to flag.
  status.className = `status ${result === "mismatch" ? "differ" : result}`;

  if (result === "match") {
    status.textContent = `match: both are built from ${ownBuild.gitCommit}`;
  } else if (result === "mismatch") {
    status.textContent = "each built from the commit that last changed its own sources";
  } else if (backend.root.dataset.state === "unreachable") {
    status.textContent = "unknown: the backend is unreachable";
  } else if (!backendBuild) {
    status.textContent = "unknown: waiting for the backend";
  } else {
    status.textContent = "unknown: a commit is not known";
  }
}

function onBackendInfo(info: BackendBuildInfo): void {
  polls += 1;
  backendBuild = { buildDate: info.build_date, gitCommit: info.git_commit };
  showBuild(backend, backendBuild);
  backend.root.dataset.polls = String(polls);
  backend.root.dataset.state = "ok";
  backend.root.classList.remove("unreachable");
  backend.note.textContent = `Python ${info.python_version} · ${info.status} · started ${formatDate(info.container_started)}`;
  showStatus();
}

function onBackendError(reason: string): void {
  backendBuild = null;
  showBuild(backend, null);
  backend.root.dataset.state = "unreachable";
  backend.root.classList.add("unreachable");
  backend.note.textContent = `Backend unreachable (${reason}); retrying every ${appConfig.pollIntervalMs / 1000} s`;
  showStatus();
}

function describe(error: unknown): string {
  if (error instanceof DOMException && error.name === "AbortError") return "timed out";
  if (error instanceof TypeError) return "network error";
  return error instanceof Error ? error.message : String(error);
}

async function poll(): Promise<void> {
  const controller = new AbortController();
  const timer = window.setTimeout(() => controller.abort(), appConfig.pollTimeoutMs);
  try {
    const res = await fetch(`${appConfig.apiUrl}/build/info`, {
      cache: "no-store",
      headers: { Accept: "application/json" },
      signal: controller.signal,
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    onBackendInfo(parseBackendInfo(await res.json()));
  } catch (error) {
    onBackendError(describe(error));
  } finally {
    window.clearTimeout(timer);
    window.setTimeout(() => void poll(), appConfig.pollIntervalMs);
  }
}

showStatus();
void poll();
