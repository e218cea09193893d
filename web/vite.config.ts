import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// `npm run dev` serves the app on Vite's dev server and forwards the API to
// a `parley dev` on PARLEY_URL (default http://127.0.0.1:3210); `npm run
// build` writes dist/, which `parley dev` serves at /.
const target = process.env.PARLEY_URL ?? "http://127.0.0.1:3210";

export default defineConfig({
  esbuild: { jsx: "automatic" },
  resolve: {
    // @parley/client is linked from ../client-ts, which has its own
    // node_modules: one React, one Vue and one convex for the whole app.
    dedupe: ["react", "react-dom", "convex", "vue"],
  },
  server: {
    proxy: {
      "/api": { target, ws: true },
      "/dev": { target },
    },
  },
  build: {
    outDir: "dist",
    sourcemap: true,
    chunkSizeWarningLimit: 1000,
    rollupOptions: {
      input: {
        main: fileURLToPath(new URL("index.html", import.meta.url)),
        // The API document's React snippet as a Convex app (convex-app/):
        // dist/convex-app/index.html.
        snippet: fileURLToPath(new URL("convex-app/index.html", import.meta.url)),
        // The Vue composables of @parley/client/vue: dist/vue-app/index.html.
        vue: fileURLToPath(new URL("vue-app/index.html", import.meta.url)),
      },
    },
  },
});
