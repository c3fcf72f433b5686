// The heavy profile's React panel (bench --heavy): the frontend's own build info in Material UI, so the
// build bundles React, MUI and Emotion as the build guide's app does. The badges of main.ts stay as they are.
import { Chip, Stack, ThemeProvider, createTheme } from "@mui/material";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

interface BuildInfo {
  buildDate?: string;
  gitCommit?: string;
}

function Panel({ info }: { info: BuildInfo }) {
  return (
    <Stack direction="row" spacing={1}>
      <Chip label={`commit ${info.gitCommit ?? "unknown"}`} />
      <Chip label={`built ${info.buildDate ?? "unknown"}`} variant="outlined" />
    </Stack>
  );
}

const root = document.getElementById("panel");
if (root) {
  const info = (window as unknown as { BUILD_INFO?: BuildInfo }).BUILD_INFO ?? {};
  createRoot(root).render(
    <StrictMode>
      <ThemeProvider theme={createTheme()}>
        <Panel info={info} />
      </ThemeProvider>
    </StrictMode>,
  );
}
