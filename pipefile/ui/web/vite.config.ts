import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The build ships inside the wheel: relative asset paths (served under any prefix), no hashes
// that depend on the machine, one output folder owned by this front end. OUT_DIR lets CI build
// elsewhere and diff against the committed copy.
export default defineConfig({
  plugins: [react()],
  base: "./",
  build: {
    outDir: process.env.OUT_DIR ?? "../static",
    emptyOutDir: true,
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 4000,
  },
  worker: { format: "es" },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
