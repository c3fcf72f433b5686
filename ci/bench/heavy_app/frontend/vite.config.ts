import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// VITE_API_URL and VITE_LIVEKIT_URL come from the environment (Docker build args in the image).
// In `npm run dev`, /api is proxied to a backend on localhost:8000 the way nginx does it.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
  },
  server: {
    proxy: {
      "/api": {
        target: "http://localhost:8000",
        changeOrigin: true,
        rewrite: (path) => path.replace(/^\/api/, ""),
      },
    },
  },
});
