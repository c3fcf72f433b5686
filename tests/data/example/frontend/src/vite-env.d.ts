/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Backend base URL as the browser sees it; "/api" is proxied by the frontend's nginx. */
  readonly VITE_API_URL?: string;
  /** LiveKit WebSocket URL; may be empty. */
  readonly VITE_LIVEKIT_URL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}

/** Written into /build-info.js when the image is built. */
interface FrontendBuildInfo {
  buildDate: string;
  gitCommit: string;
  cacheBust: string;
  buildTimestamp: number;
  sourceDigest?: string;
}

interface Window {
  BUILD_INFO?: FrontendBuildInfo;
}
