/** Runtime configuration, fixed when the bundle is built (Vite inlines import.meta.env). */
export interface AppConfig {
  /** Backend base URL without a trailing slash, e.g. "/api" or "https://api.example.com". */
  apiUrl: string;
  /** LiveKit WebSocket URL, or "" when none is configured. */
  livekitUrl: string;
  /** How often the backend's build info is polled, in milliseconds. */
  pollIntervalMs: number;
  /** How long one poll may take before it counts as failed, in milliseconds. */
  pollTimeoutMs: number;
}

const trimSlash = (url: string): string => url.replace(/\/+$/, "");

export const appConfig: Readonly<AppConfig> = Object.freeze({
  apiUrl: trimSlash(import.meta.env.VITE_API_URL?.trim() || "/api"),
  livekitUrl: import.meta.env.VITE_LIVEKIT_URL?.trim() ?? "",
  pollIntervalMs: 5000,
  pollTimeoutMs: 4000,
});
