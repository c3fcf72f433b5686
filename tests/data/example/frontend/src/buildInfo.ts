/** What a badge shows: one service's build. */
export interface BuildSummary {
  buildDate: string;
  gitCommit: string;
}

/** Body of the backend's GET /build/info. */
export interface BackendBuildInfo {
  build_date: string;
  git_commit: string;
  cache_bust: string;
  source_digest: string;
  python_version: string;
  container_started: string;
  status: string;
}

export type CommitStatus = "match" | "mismatch" | "unknown";

const UNKNOWN = "unknown";

const str = (value: unknown): string =>
  typeof value === "string" && value.trim() !== "" ? value.trim() : UNKNOWN;

/** The frontend's own build, from window.BUILD_INFO (absent under `npm run dev`). */
export function frontendBuild(info: FrontendBuildInfo | undefined): BuildSummary {
  return { buildDate: str(info?.buildDate), gitCommit: str(info?.gitCommit) };
}

/** Checks the shape of the backend's answer; throws on anything that is not an object. */
export function parseBackendInfo(body: unknown): BackendBuildInfo {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new Error("unexpected response from /build/info");
  }
  const b = body as Record<string, unknown>;
  return {
    build_date: str(b.build_date),
    git_commit: str(b.git_commit),
    cache_bust: str(b.cache_bust),
    source_digest: str(b.source_digest),
    python_version: str(b.python_version),
    container_started: str(b.container_started),
    status: str(b.status),
  };
}

const HEX = /^[0-9a-f]{7,40}$/;

/**
 * Compares two commits. A short and a full hash of the same commit match; "unknown" on either
 * side gives "unknown".
 */
export function compareCommits(a: string, b: string): CommitStatus {
  const x = a.trim().toLowerCase();
  const y = b.trim().toLowerCase();
  if (!x || !y || x === UNKNOWN || y === UNKNOWN) return "unknown";
  if (x === y) return "match";
  if (HEX.test(x) && HEX.test(y) && (x.startsWith(y) || y.startsWith(x))) return "match";
  return "mismatch";
}

/** "2026-11-23T10:00:00Z" -> "2026-11-23 10:00:00 UTC"; anything unparsable is shown as is. */
export function formatDate(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}
