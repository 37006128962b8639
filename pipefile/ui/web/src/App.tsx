// The designer's pages, chosen by the URL's hash (the server serves one index.html): the
// pipeline (#/), the job list (#/jobs), a job (#/jobs/ID), two jobs compared (#/compare/A/B).
import { useEffect, useState } from "react";
import { PipelineView } from "./views/PipelineView";
import { JobsList } from "./views/JobsList";
import { JobPage } from "./views/JobPage";
import { Compare } from "./views/Compare";

function useHash(): string {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const on = () => setHash(window.location.hash);
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return hash;
}

export function go(path: string): void {
  window.location.hash = path;
}

export function App() {
  const hash = useHash().replace(/^#/, "") || "/";
  const parts = hash.split("/").filter(Boolean);
  let page;
  if (parts[0] === "jobs" && parts[1]) page = <JobPage key={parts[1]} id={decodeURIComponent(parts[1])} />;
  else if (parts[0] === "jobs") page = <JobsList />;
  else if (parts[0] === "compare" && parts[1] && parts[2])
    page = <Compare key={hash} a={decodeURIComponent(parts[1])} b={decodeURIComponent(parts[2])} />;
  else page = <PipelineView />;
  const tab = parts[0] === "jobs" || parts[0] === "compare" ? "jobs" : "pipeline";
  return (
    <div className="app">
      <nav className="topnav">
        <span className="brand">pipe ui</span>
        <a href="#/" className={tab === "pipeline" ? "active" : ""} data-testid="nav-pipeline">
          Pipeline
        </a>
        <a href="#/jobs" className={tab === "jobs" ? "active" : ""} data-testid="nav-jobs">
          Jobs
        </a>
      </nav>
      <main className="page">{page}</main>
    </div>
  );
}
