// The codex-swarm board. Plain script, no build step, no network beyond this server.
// Every text that comes from a task (prompts, messages, commands, diffs) is put in the page with
// textContent or createTextNode: nothing from the API is ever parsed as HTML.
"use strict";

(function () {
  const page = document.body.dataset.page;
  let csrf = "";
  let lastSwarm = null;
  let swarmAt = 0; // client time of the last swarm snapshot, for ticking elapsed times

  // ---- building elements -------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "href") node.setAttribute("href", safeHref(value));
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function safeHref(value) {
    // Only the board's own paths are ever linked.
    return typeof value === "string" && value.startsWith("/") && !value.startsWith("//") && !value.includes("\\") ? value : "#";
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function $(id) {
    return document.getElementById(id);
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + " s";
    const m = Math.floor(seconds / 60), s = seconds % 60;
    if (m < 60) return m + " m " + String(s).padStart(2, "0") + " s";
    const h = Math.floor(m / 60);
    return h + " h " + String(m % 60).padStart(2, "0") + " m";
  }

  function short(n) {
    n = Number(n) || 0;
    if (n >= 1e6) return (n / 1e6).toFixed(n < 1e7 ? 1 : 0) + "M";
    if (n >= 1e3) return (n / 1e3).toFixed(n < 1e4 ? 1 : 0) + "k";
    return String(n);
  }

  function phase(status) {
    return el("span", { class: "phase phase-" + status, text: status });
  }

  function outlookBadge(o) {
    if (!o) return el("span", { class: "muted", text: "no branch" });
    const words = {
      clean: "merges cleanly", empty: "no changes", conflicts: "conflicts",
      merged: "landed", removed: "cleaned up", pending: "after it ends", error: "git error",
    };
    const badge = el("span", { class: "outlook-" + o.state, text: words[o.state] || o.state });
    if (o.state === "conflicts" && o.conflicts && o.conflicts.length) {
      badge.title = "conflicts in " + o.conflicts.join(", ");
    }
    if (o.files) {
      return el("span", {}, badge, el("span", { class: "muted", text: " +" + (o.insertions || 0) + " −" + (o.deletions || 0) }));
    }
    return badge;
  }

  function repoHref(repo) {
    return "/repo?path=" + encodeURIComponent(repo);
  }

  function notice(text, ok) {
    const box = $("notice");
    if (!box) return;
    box.hidden = false;
    box.className = "notice " + (ok ? "good" : "bad");
    box.textContent = text;
  }

  // A landing's repository is its git directory: inside the repository's path (or that path).
  function inRepo(landing, repo) {
    const root = repo.replace(/\/+$/, "");
    return landing.repository === root || landing.repository.startsWith(root + "/");
  }

  function taskLinks(ids) {
    const out = el("span", {});
    (ids || []).forEach((id, i) => {
      if (i) out.appendChild(document.createTextNode(", "));
      out.appendChild(el("a", { href: "/task/" + id, class: "mono", text: id }));
    });
    return out;
  }

  // The merge queue: each landing queued, running (what is being checked, what landed so far,
  // the check's last line) or ended (its outcome, its lines, a failed check's output).
  function renderLandings(landings, box, onlyTask) {
    clear(box);
    const shown = (landings || []).filter((l) => !onlyTask ||
      (l.tasks || []).includes(onlyTask) || (l.checking || []).includes(onlyTask) || (l.landed || []).includes(onlyTask));
    if (!shown.length) {
      box.appendChild(el("p", { class: "empty", text: onlyTask ? "This task is in no landing." : "No landings yet." }));
      return;
    }
    for (const l of shown) {
      const head = el("p", { class: "landing-head" },
        el("span", { class: "mono", text: l.landing_id }), " ",
        el("span", { class: "phase phase-" + l.status, text: l.status }), " ",
        l.status !== l.outcome ? el("span", { class: "landing-outcome", text: l.outcome }) : null,
        l.cancel_requested ? el("span", { class: "muted", text: " (cancelling)" }) : null,
        el("span", { class: "muted", text: " " + l.repository }),
        l.tasks ? el("span", {}, " · tasks ", taskLinks(l.tasks)) : el("span", { class: "muted", text: " · every finished task" }),
        l.check ? el("span", { class: "muted", text: " · check: " + l.check }) : null,
        el("span", { class: "muted", text: " · " + duration(l.elapsed_s) }));
      const item = el("div", { class: "landing landing-" + l.status, "data-landing": l.landing_id, "data-status": l.status, "data-outcome": l.outcome }, head);
      if (l.status === "queued") {
        item.appendChild(el("p", { class: "muted", text: (l.position ? l.position + " landing(s) of this repository ahead of it" : "next in line") + "; a server on this task store runs it" }));
      } else if (l.status === "running") {
        item.appendChild(el("p", { class: "landing-progress" },
          "decided " + (l.decided || 0) + " of " + (l.total || 0),
          (l.checking || []).length ? el("span", {}, " · checking ", taskLinks(l.checking)) : null,
          (l.landed || []).length ? el("span", {}, " · landed so far ", taskLinks(l.landed)) : null));
        if (l.last_line) item.appendChild(el("pre", { class: "text landing-last", text: l.last_line }));
      } else {
        if (l.summary) item.appendChild(el("p", { class: "landing-summary", text: l.summary }));
        if (l.error) item.appendChild(el("p", { class: "bad", text: l.error }));
        if ((l.lines || []).length) item.appendChild(el("pre", { class: "text landing-lines", text: l.lines.join("\n") }));
        for (const h of l.sent_home || []) {
          item.appendChild(el("p", { class: "landing-home" }, "sent home (" + h.why + "): ",
            el("a", { href: "/task/" + h.task_id, class: "mono", text: h.task_id }), " continues as ",
            el("a", { href: "/task/" + h.reply, class: "mono", text: h.reply })));
        }
        for (const f of l.check_failed || []) {
          if (f.output_tail) item.appendChild(el("pre", { class: "text landing-check", text: f.task_id + ": " + f.output_tail }));
        }
      }
      box.appendChild(item);
    }
  }

  // ---- the API -----------------------------------------------------------------------------

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({ message: response.statusText }));
    if (!response.ok) throw new Error(body.message || response.statusText);
    if (body.csrf) csrf = body.csrf;
    return body;
  }

  async function act(taskId, action, payload) {
    if (!csrf) await getJSON("/api/tasks");
    const response = await fetch("/api/tasks/" + encodeURIComponent(taskId) + "/" + action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(payload || {}),
    });
    const body = await response.json().catch(() => ({ ok: false, message: response.statusText }));
    return { ok: Boolean(body.ok), message: body.message || response.statusText };
  }

  function live(onEvent, query) {
    const badge = $("live");
    const source = new EventSource("/api/stream" + (query || ""));
    source.onopen = () => { badge.textContent = "live"; badge.className = "live on"; };
    source.onerror = () => { badge.textContent = "reconnecting…"; badge.className = "live off"; };
    for (const name of ["swarm", "task", "timeline"]) {
      source.addEventListener(name, (event) => onEvent(name, JSON.parse(event.data)));
    }
    return source;
  }

  // ---- the swarm page ----------------------------------------------------------------------

  function swarmPage() {
    const params = new URLSearchParams(location.search);
    const statusSelect = $("filter-status"), repoSelect = $("filter-repo");
    let phasesListed = false;  // the phases come with the first data (the server names them)
    statusSelect.value = params.get("status") || "";
    const wantedRepo = params.get("repo") || "";
    function changed() {
      const q = new URLSearchParams();
      if (statusSelect.value) q.set("status", statusSelect.value);
      if (repoSelect.value) q.set("repo", repoSelect.value);
      history.replaceState(null, "", "/" + (q.toString() ? "?" + q : ""));
      if (lastSwarm) renderSwarm(lastSwarm);
    }
    statusSelect.addEventListener("change", changed);
    repoSelect.addEventListener("change", changed);

    function renderSwarm(s) {
      if (!phasesListed) {
        for (const p of s.phases) statusSelect.appendChild(el("option", { value: p, text: p }));
        statusSelect.value = params.get("status") || "";
        phasesListed = true;
      }
      lastSwarm = s;
      swarmAt = Date.now() / 1000;
      const current = repoSelect.value || wantedRepo;
      clear(repoSelect);
      repoSelect.appendChild(el("option", { value: "", text: "all" }));
      for (const repo of s.repos) repoSelect.appendChild(el("option", { value: repo, text: repo }));
      repoSelect.value = s.repos.includes(current) ? current : "";
      const link = $("repo-link");
      clear(link);
      if (repoSelect.value) link.appendChild(el("a", { href: repoHref(repoSelect.value), text: "branches of this repository →" }));

      const c = s.counts;
      const parts = Object.keys(c).filter((k) => c[k]).map((k) => c[k] + " " + k);
      $("summary").textContent = s.tasks.length + " tasks" + (parts.length ? ": " + parts.join(", ") : "") +
        " · tokens " + short(s.tokens_in) + " in / " + short(s.tokens_out) + " out";

      const wanted = statusSelect.value;
      const phases = s.groups[wanted] || (wanted ? [wanted] : null);
      const rows = s.tasks.filter((t) => (!phases || phases.includes(t.status)) && (!repoSelect.value || t.repo === repoSelect.value));
      const body = $("tasks");
      clear(body);
      for (const t of rows) {
        body.appendChild(el("tr", { "data-task": t.task_id, "data-status": t.status },
          el("td", {}, el("a", { href: "/task/" + t.task_id, class: "mono", text: t.task_id })),
          el("td", {}, phase(t.status), t.cancel_requested ? el("span", { class: "muted", text: " (cancelling)" }) : null),
          el("td", { class: "title", title: t.title, text: t.title }),
          el("td", { class: "num elapsed", "data-elapsed": String(t.elapsed_s), "data-running": String(s.groups.active.includes(t.status)), text: duration(t.elapsed_s) }),
          el("td", { class: "action", title: t.last_action, text: t.last_action }),
          el("td", { class: "num", text: t.tokens_in || t.tokens_out ? short(t.tokens_in) + " / " + short(t.tokens_out) : "" }),
          el("td", { class: "mono", text: t.branch || "" }),
          el("td", { class: "nowrap" }, outlookBadge(t.outlook)),
        ));
      }
      $("empty").hidden = rows.length > 0;
      renderLandings((s.landings || []).filter((l) => !repoSelect.value || inRepo(l, repoSelect.value)), $("landings"));
    }

    getJSON("/api/tasks").then(renderSwarm).catch((e) => { $("summary").textContent = e.message; });
    live((name, payload) => { if (name === "swarm") renderSwarm(payload); });
    setInterval(() => {
      const now = Date.now() / 1000;
      for (const cell of document.querySelectorAll("td.elapsed[data-running=true]")) {
        cell.textContent = duration(Number(cell.dataset.elapsed) + now - swarmAt);
      }
    }, 1000);
  }

  // ---- the task page -----------------------------------------------------------------------

  function taskPage() {
    const taskId = decodeURIComponent(location.pathname.split("/").pop() || "");
    $("task-id").textContent = taskId;
    const items = new Map(); // timeline entries by item id, to replace started with completed
    let detail = null;
    let diffLoaded = false;
    let tick = null;

    function renderDetail(d) {
      detail = d;
      csrf = d.csrf || csrf;
      const t = d.task;
      document.title = t.task_id + " · " + t.title;
      $("title").textContent = t.title || t.task_id;
      const status = $("status");
      status.className = "phase phase-" + t.status;
      status.textContent = t.status + (t.cancel_requested ? " (cancelling)" : "");
      const started = Date.now() / 1000;
      const running = !d.terminal;
      if (tick) clearInterval(tick);
      $("elapsed").textContent = duration(t.elapsed_s);
      if (running) tick = setInterval(() => { $("elapsed").textContent = duration(t.elapsed_s + Date.now() / 1000 - started); }, 1000);
      $("tokens").textContent = t.tokens_in || t.tokens_out ? short(t.tokens_in) + " in / " + short(t.tokens_out) + " out" : "";
      $("branch").textContent = t.branch || "";
      const repo = $("repo");
      repo.textContent = t.repo;
      repo.setAttribute("href", repoHref(t.repo));
      $("prompt").textContent = d.prompt;
      $("cancel").disabled = d.terminal;
      const hasBranch = Boolean(d.worktree);
      $("cleanup").disabled = !d.terminal || !hasBranch;
      $("land").disabled = !d.terminal || !hasBranch || (t.outlook && ["merged", "removed"].includes(t.outlook.state));
      $("queue").disabled = $("land").disabled;
      if (d.result) {
        $("result-section").hidden = false;
        $("result").textContent = d.result.error ? d.result.error + (d.result.content ? "\n\n" + d.result.content : "") : d.result.content;
      }
      const o = $("outlook");
      clear(o);
      if (t.outlook) o.appendChild(el("span", {}, "Branch ", el("span", { class: "mono", text: t.outlook.branch || "" }), " into ", el("span", { class: "mono", text: t.outlook.target || "?" }), ": ", outlookBadge(t.outlook)));
      else o.textContent = "This task did not run in a worktree, so it has no branch to show.";
      if (d.terminal && hasBranch && !diffLoaded) {
        diffLoaded = true;
        loadDiff();
      }
    }

    function entryNode(e) {
      const head = el("div", { class: "entry-head" },
        el("span", { class: "kind kind-" + e.kind, text: e.kind.replace("_", " ") }),
        el("span", { class: e.kind === "command" ? "mono entry-title" : "entry-title", text: e.title || "" }));
      if (e.kind === "command") {
        if (e.exit_code === null || e.exit_code === undefined) head.appendChild(el("span", { class: "exit running", text: e.state === "started" ? "running" : (e.status || "") }));
        else head.appendChild(el("span", { class: "exit " + (e.exit_code === 0 ? "ok" : "bad"), text: "exit " + e.exit_code }));
      }
      const node = el("li", { class: "entry entry-" + e.kind, "data-kind": e.kind }, head);
      if (e.body) node.appendChild(el("pre", { class: e.kind === "command" ? "output" : "text", text: e.body }));
      return node;
    }

    function addEntries(page) {
      const list = $("timeline");
      for (const e of page.entries) {
        const node = entryNode(e);
        const old = e.id ? items.get(e.id) : null;
        if (old && old.parentNode) old.parentNode.replaceChild(node, old);
        else list.appendChild(node);
        if (e.id) items.set(e.id, node);
      }
    }

    async function loadDiff() {
      const box = $("diff");
      clear(box);
      box.appendChild(el("p", { class: "empty", text: "Loading the diff…" }));
      let d;
      try {
        d = await getJSON("/api/tasks/" + encodeURIComponent(taskId) + "/diff");
      } catch (e) {
        clear(box);
        box.appendChild(el("p", { class: "empty", text: e.message }));
        return;
      }
      renderConflicts(d.conflicts);
      clear(box);
      if (!d.available) {
        box.appendChild(el("p", { class: "empty", text: d.reason }));
        return;
      }
      if (!d.files.length) box.appendChild(el("p", { class: "empty", text: "The branch changes nothing." }));
      for (const f of d.files) box.appendChild(fileNode(f));
      if (d.truncated) box.appendChild(el("p", { class: "notice bad", text: "The diff is too long to show whole; not shown: " + d.omitted_paths.join(", ") }));
    }

    function renderConflicts(c) {
      const box = $("conflicts");
      clear(box);
      if (!c || !c.checked) return;
      if (!c.with.length) {
        box.appendChild(el("p", { class: "muted", text: "No conflict with any other unmerged task branch." }));
        return;
      }
      const list = el("ul", { class: "conflicts" });
      for (const w of c.with) {
        list.appendChild(el("li", {}, "Conflicts with ", el("a", { href: "/task/" + w.task_id, class: "mono", text: w.branch }), " in " + w.paths.join(", ")));
      }
      box.appendChild(list);
    }

    function codeCell(side, cls) {
      if (!side) return [el("td", { class: "ln empty-side" }), el("td", { class: "code empty-side" })];
      const code = el("td", { class: "code " + cls });
      for (const [kind, text] of side[1]) code.appendChild(kind ? el("span", { class: "t-" + kind, text: text }) : document.createTextNode(text));
      return [el("td", { class: "ln", text: String(side[0]) }), code];
    }

    function fileNode(f) {
      const stats = f.binary ? "binary" : "+" + f.insertions + " −" + f.deletions;
      const section = el("section", { class: "file" },
        el("h3", {}, el("span", { class: "mono", text: f.path }), el("span", { class: "file-status status-" + f.status, text: f.status }), el("span", { class: "muted", text: stats })));
      const table = el("table", { class: "sbs" });
      for (const h of f.hunks) {
        table.appendChild(el("tr", { class: "hunk" }, el("td", { colspan: "4", text: h.header })));
        for (const r of h.rows) {
          const change = r.kind === "change";
          table.appendChild(el("tr", { class: r.kind },
            ...codeCell(r.old, change ? "del" : ""),
            ...codeCell(r.new, change ? "add" : "")));
        }
      }
      if (f.hunks.length) section.appendChild(table);
      return section;
    }

    async function button(action, payload, confirmText) {
      if (confirmText && !window.confirm(confirmText)) return;
      for (const b of document.querySelectorAll(".actions button")) b.disabled = true;
      notice(action + "…", true);
      try {
        const out = await act(taskId, action, payload);
        notice(out.message, out.ok);
        if (out.ok && action !== "cancel") { diffLoaded = false; loadDiff(); }
      } catch (e) {
        notice(e.message, false);
      }
      const d = await getJSON("/api/tasks/" + encodeURIComponent(taskId)).catch(() => null);
      if (d) renderDetail(d);
    }

    $("cancel").addEventListener("click", () => button("cancel"));
    $("cleanup").addEventListener("click", () => button("cleanup"));
    $("land").addEventListener("click", () => button("land", { check: $("check").value }));
    $("queue").addEventListener("click", () => button("queue", { check: $("check").value }));
    getJSON("/api/tasks").then((s) => renderLandings(s.landings, $("landings"), taskId)).catch(() => null);

    getJSON("/api/tasks/" + encodeURIComponent(taskId)).then(renderDetail).catch((e) => notice(e.message, false));
    live((name, payload) => {
      if (name === "task") renderDetail(payload);
      else if (name === "timeline") addEntries(payload);
      else if (name === "swarm") renderLandings(payload.landings, $("landings"), taskId);
    }, "?task=" + encodeURIComponent(taskId));
  }

  // ---- the repository page -----------------------------------------------------------------

  function repoPage() {
    const repo = new URLSearchParams(location.search).get("path") || "";
    $("repo-path").textContent = repo;
    let loading = false;

    async function load() {
      if (loading) return;
      loading = true;
      try {
        render(await getJSON("/api/repo?path=" + encodeURIComponent(repo)));
      } catch (e) {
        $("summary").textContent = e.message;
      } finally {
        loading = false;
      }
    }

    function render(r) {
      const body = $("branches");
      clear(body);
      const branches = r.tasks.filter((t) => t.branch);
      $("summary").textContent = branches.length + " task branches; " + r.landable.length + " would land cleanly now" +
        (r.tasks.length > branches.length ? "; " + (r.tasks.length - branches.length) + " tasks ran without a worktree" : "");
      for (const t of branches) {
        const now = t.now || t.outlook;
        const canLand = t.now && t.now.state === "clean";
        const landButton = el("button", { type: "button", class: "primary", text: "Land" });
        landButton.disabled = !canLand;
        landButton.addEventListener("click", async () => {
          landButton.disabled = true;
          const out = await act(t.task_id, "land", {});
          notice(out.message, out.ok);
          load();
        });
        body.appendChild(el("tr", { "data-task": t.task_id },
          el("td", {}, el("a", { href: "/task/" + t.task_id, class: "mono", text: t.task_id })),
          el("td", {}, phase(t.status)),
          el("td", { class: "title", title: t.title, text: t.title }),
          el("td", { class: "mono", text: t.branch }),
          el("td", { class: "num", text: now && now.files ? now.files + (now.files === 1 ? " file" : " files") : "" }),
          el("td", {}, outlookBadge(now), now && now.state === "conflicts" ? el("span", { class: "muted", text: " " + (now.conflicts || []).join(", ") }) : null),
          el("td", {}, ...(t.conflicts_with || []).map((c, i) => el("span", {}, i ? ", " : "", el("a", { href: "/task/" + c.task_id, class: "mono", text: c.task_id })))),
          el("td", {}, landButton)));
      }
    }

    function queue(s) {
      renderLandings((s.landings || []).filter((l) => inRepo(l, repo)), $("landings"));
    }

    load();
    getJSON("/api/tasks").then(queue).catch(() => null);
    let timer = null;
    live((name, payload) => {
      if (name !== "swarm") return;
      queue(payload);
      if (timer) clearTimeout(timer);
      timer = setTimeout(load, 300);
    });
  }

  // ---- the sign-in page --------------------------------------------------------------------

  function loginPage() {
    const params = new URLSearchParams(location.search);
    const next = params.get("next") || "/";
    $("next").value = next.startsWith("/") && !next.startsWith("//") && !next.includes("\\") ? next : "/";
    $("failed").hidden = !params.get("failed");
    $("token").focus();
  }

  if (page === "swarm") swarmPage();
  else if (page === "task") taskPage();
  else if (page === "repo") repoPage();
  else if (page === "login") loginPage();
})();
