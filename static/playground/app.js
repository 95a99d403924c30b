// The compare page's small behaviours. htmx (and its ws extension) does the streaming;
// this file picks models, sends with Ctrl/Cmd+Enter, acknowledges frames, and handles
// the panel buttons that never need the server (expand, hide, copy).
(function () {
  "use strict";

  const ACK_EVERY = 8;
  let framesSeen = 0;

  // Forms that arrive over the websocket (e.g. Delete… in a board head re-sent when a run
  // ends) are rendered without a request, so without a CSRF token: add the page's.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    if (form.elements.namedItem("csrfmiddlewaretoken")) return;
    const token = document.querySelector('meta[name="csrf-token"]')?.content;
    if (!token) return;
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = "csrfmiddlewaretoken";
    input.value = token;
    form.appendChild(input);
  }, true);

  function composer() { return document.getElementById("composer"); }
  function selectedList() { return document.getElementById("selected"); }

  function modelsChanged() {
    document.body.dispatchEvent(new CustomEvent("models-changed", { bubbles: true }));
    const max = Number(composer()?.dataset.maxPanels || 8);
    const full = selectedList().children.length >= max;
    document.querySelectorAll("#model-list .pick").forEach((button) => {
      const row = button.closest(".pick-row");
      if (row.classList.contains("unavailable")) return;
      button.disabled = full;
      if (full) button.title = "At most " + max + " panels: remove one first";
      else button.removeAttribute("title");
    });
    const note = document.getElementById("picker-full");
    if (note) note.hidden = !full;
  }

  function addChip(button) {
    const template = document.getElementById("chip-template");
    const chip = template.content.firstElementChild.cloneNode(true);
    chip.dataset.name = button.dataset.name;
    chip.querySelector("input[name=models]").value = button.dataset.name;
    const label = chip.querySelector(".chip-label");
    label.textContent = button.dataset.label;
    label.title = button.dataset.label + " (" + button.dataset.name + ")";
    const badge = chip.querySelector(".badge");
    badge.textContent = button.dataset.provider;
    badge.title = button.dataset.provider;
    chip.querySelectorAll("input[aria-label]").forEach((input) => {
      input.setAttribute("aria-label", input.getAttribute("aria-label") + button.dataset.label);
    });
    chip.querySelector(".chip-remove").setAttribute("aria-label", "Remove " + button.dataset.label);
    selectedList().appendChild(chip);
    modelsChanged();
  }

  function filterModels(query) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    document.querySelectorAll("#model-list .pick-row").forEach((row) => {
      const haystack = row.dataset.search || "";
      row.hidden = !words.every((word) => haystack.includes(word));
    });
  }

  // --- panels: expand, hide, copy --------------------------------------------------------

  const hiddenPositions = new Set();
  let expandedPosition = null;

  function applyPanelLayout() {
    document.querySelectorAll(".panel").forEach((panel) => {
      const position = panel.dataset.position;
      panel.classList.toggle("is-hidden", hiddenPositions.has(position));
      panel.classList.toggle("is-expanded", expandedPosition === position);
      const expand = panel.querySelector("[data-panel-action=expand]");
      if (expand) expand.setAttribute("aria-pressed", String(expandedPosition === position));
    });
    // The grid balances the panels still shown (app.css keys its columns on this).
    document.querySelectorAll(".panels").forEach((grid) => {
      const shown = grid.querySelectorAll(":scope > .panel:not(.is-hidden)").length;
      grid.dataset.visible = String(Math.max(shown, 1));
    });
    fitPanelsSoon();
    const bar = document.getElementById("hidden-panels");
    if (!bar) return;
    const list = bar.querySelector(".hidden-list");
    list.replaceChildren();
    hiddenPositions.forEach((position) => {
      const panel = document.querySelector(`.panel[data-position="${position}"]`);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "small";
      button.dataset.showPosition = position;
      button.textContent = "Show " + (panel?.querySelector(".model-label")?.textContent || "panel");
      list.appendChild(button);
    });
    bar.hidden = hiddenPositions.size === 0;
  }

  // --- panel height: every panel's metrics in view at once ----------------------------------
  // Each answer scrolls inside a height chosen so that a turn's rows of panels, metrics
  // included, fit in the board's visible height (app.css has a fixed guess without this).

  const FOOT_RESERVE = 44; // a streaming panel's metrics are not there yet: keep their room
  let fitQueued = false;
  let fitKey = "";

  function fitPanelsSoon() {
    if (fitQueued) return;
    fitQueued = true;
    requestAnimationFrame(() => { fitQueued = false; fitPanels(); });
  }

  function chromeOf(panel) {
    const style = getComputedStyle(panel);
    let height = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom) +
      parseFloat(style.borderTopWidth) + parseFloat(style.borderBottomWidth);
    let foot = false;
    for (const child of panel.children) {
      if (child.matches(".answer, textarea.raw") || child.offsetParent === null) continue;
      const own = getComputedStyle(child);
      height += child.getBoundingClientRect().height + parseFloat(own.marginTop) +
        parseFloat(own.marginBottom);
      if (child.matches(".panel-foot")) foot = true;
    }
    return height + (foot ? 0 : FOOT_RESERVE);
  }

  function fitPanels() {
    const board = document.getElementById("board");
    // Only where the board is its own scrolling area above the composer (app.css, on screens
    // big enough); elsewhere the page scrolls and app.css's guess stands.
    if (!board || getComputedStyle(board).overflowY === "visible") return;
    const visibleHeight = board.clientHeight;
    const grids = Array.from(document.querySelectorAll(".panels"));
    const key = [visibleHeight, board.clientWidth, ...grids.map((grid) =>
      [".panel", ".panel-foot", ".run-error", ".reasoning:not(:empty)", ".is-expanded"]
        .map((part) => grid.querySelectorAll(part).length).join(":") + ":" + grid.dataset.visible
    )].join(",");
    if (key === fitKey) return;
    fitKey = key;
    const contentTop = board.getBoundingClientRect().top - board.scrollTop;
    grids.forEach((grid) => {
      const panels = Array.from(grid.querySelectorAll(":scope > .panel:not(.is-hidden)"));
      if (!panels.length) return;
      const cols = getComputedStyle(grid).gridTemplateColumns.split(" ").length || 1;
      const rows = Math.ceil(panels.length / cols);
      const turn = grid.closest(".turn");
      const first = turn && !turn.previousElementSibling;
      const top = grid.getBoundingClientRect().top;
      // Room above the grid: the board's head for the first turn, else the turn's prompt
      // (a follow-up is scrolled to its top).
      const above = first || !turn ? top - contentTop : top - turn.getBoundingClientRect().top;
      const gap = parseFloat(getComputedStyle(grid).rowGap) || 0;
      const bottom = parseFloat(getComputedStyle(board).paddingBottom) || 0;
      const chrome = Math.max(...panels.map(chromeOf));
      const room = (visibleHeight - above - bottom - gap * (rows - 1)) / rows - chrome - 2;
      grid.style.setProperty("--answer-max", Math.max(Math.floor(room), 72) + "px");
    });
  }

  window.addEventListener("resize", () => { fitKey = ""; fitPanelsSoon(); });

  async function copyPanel(panel, button) {
    const raw = panel.querySelector("textarea.raw");
    const text = raw ? raw.value : panel.querySelector(".answer")?.textContent || "";
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (error) {
      raw?.removeAttribute("hidden");
      raw?.select();
      button.textContent = "Press Ctrl+C";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  }

  // --- replay: panels grow again at the pace they were streamed -----------------------------

  function replayTurn(turn) {
    const panels = Array.from(turn.querySelectorAll(".panel[data-timeline]")).map((panel) => {
      const answer = panel.querySelector(".answer");
      const reasoning = panel.querySelector(".reasoning");
      const state = panel.querySelector(".panel-state");
      return {
        panel, answer, reasoning, state,
        text: panel.querySelector("textarea.raw")?.value || "",
        thought: reasoning?.textContent || "",
        timeline: JSON.parse(panel.dataset.timeline || "[]"),
        rendered: Array.from(answer.childNodes).map((node) => node.cloneNode(true)),
        stateText: state?.textContent || "",
        index: 0,
        done: false,
      };
    });
    panels.forEach((p) => {
      p.panel.classList.add("replaying");
      p.answer.replaceChildren();
      if (p.reasoning) p.reasoning.textContent = "";
      if (p.state) p.state.textContent = "replaying";
    });
    return new Promise((resolve) => {
      const started = performance.now();
      function step(now) {
        const elapsed = now - started;
        let running = 0;
        panels.forEach((p) => {
          if (p.done) return;
          while (p.index < p.timeline.length && p.timeline[p.index][0] <= elapsed) p.index += 1;
          const point = p.timeline[p.index - 1];
          if (point) {
            p.answer.textContent = p.text.slice(0, point[1]);
            if (p.reasoning) p.reasoning.textContent = p.thought.slice(0, point[2]);
          }
          if (p.index >= p.timeline.length) {
            p.done = true;
            p.panel.classList.remove("replaying");
            p.answer.replaceChildren(...p.rendered);
            if (p.reasoning) p.reasoning.textContent = p.thought;
            if (p.state) p.state.textContent = p.stateText;
          } else {
            running += 1;
          }
        });
        if (running) requestAnimationFrame(step); else resolve();
      }
      requestAnimationFrame(step);
    });
  }

  async function replayAll(button) {
    button.disabled = true;
    for (const turn of document.querySelectorAll(".turn")) await replayTurn(turn);
    button.disabled = false;
  }

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const replay = target.closest("[data-replay]");
    if (replay) { replayAll(replay); return; }
    const copyLink = target.closest("[data-copy-target]");
    if (copyLink) {
      const input = document.getElementById(copyLink.dataset.copyTarget);
      input.select();
      navigator.clipboard?.writeText(input.value).then(() => { copyLink.textContent = "Copied"; });
      return;
    }
    const pick = target.closest("#model-list .pick");
    if (pick && !pick.disabled) { addChip(pick); return; }
    const remove = target.closest(".chip-remove");
    if (remove) { remove.closest(".chip").remove(); modelsChanged(); return; }
    const show = target.closest("[data-show-position]");
    if (show) { hiddenPositions.delete(show.dataset.showPosition); applyPanelLayout(); return; }
    const action = target.closest("[data-panel-action]");
    if (!action) return;
    const panel = action.closest(".panel");
    const position = panel.dataset.position;
    if (action.dataset.panelAction === "hide") hiddenPositions.add(position);
    if (action.dataset.panelAction === "expand") {
      expandedPosition = expandedPosition === position ? null : position;
    }
    if (action.dataset.panelAction === "copy") { copyPanel(panel, action); return; }
    applyPanelLayout();
  });

  document.addEventListener("input", (event) => {
    if (event.target instanceof Element && event.target.id === "model-search") {
      filterModels(event.target.value);
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      const form = composer();
      if (form && form.contains(document.activeElement)) {
        event.preventDefault();
        form.requestSubmit();
      }
    }
  });

  // --- the websocket ----------------------------------------------------------------------

  document.addEventListener("htmx:wsAfterMessage", (event) => {
    framesSeen += 1;
    if (framesSeen % ACK_EVERY === 0) {
      event.detail.socketWrapper.send(JSON.stringify({ action: "ack", frames: framesSeen }));
    }
    const started = document.querySelector("#comparison-id[data-turn-started]");
    if (started) {
      started.removeAttribute("data-turn-started");
      const prompt = document.getElementById("id_prompt");
      if (prompt) prompt.value = "";
      const url = "/c/" + started.value + "/";
      if (window.location.pathname !== url) window.history.replaceState(null, "", url);
      composer()?.classList.add("is-followup");
    }
    applyPanelLayout();
  });

  document.addEventListener("htmx:wsOpen", (event) => {
    framesSeen = 0;
    const status = document.getElementById("connection");
    if (status) { status.textContent = ""; status.className = "connection"; }
    // A reloaded page (or a second tab, or a socket back after a restart) shows panels that
    // may still stream: ask for the board as it is now, and follow what still streams.
    const comparison = document.getElementById("comparison-id")?.value;
    const unfinished = document.querySelector(".panel.status-pending, .panel.status-streaming");
    if (comparison && unfinished) {
      event.detail.socketWrapper.send(JSON.stringify({ action: "attach", comparison: comparison }));
    }
  });

  document.addEventListener("htmx:wsClose", (event) => {
    const status = document.getElementById("connection");
    if (!status) return;
    const code = event.detail.event.code;
    status.className = "connection is-closed";
    status.textContent = code === 4401
      ? "Your session has ended. Log in again to continue."
      : code === 4008
        ? "The connection was closed because this tab stopped reading. Reload to continue."
        : "Disconnected from the server; reconnecting…";
  });

  // --- said next to the composer ----------------------------------------------------------

  function showNotice(text, level) {
    const notice = document.getElementById("notice");
    if (!notice) return;
    notice.className = "notice notice-" + (level || "error");
    notice.setAttribute("role", level === "info" ? "status" : "alert");
    notice.textContent = text;
  }

  function kib(bytes) { return Math.ceil(bytes / 1024).toLocaleString("en"); }

  // A frame over the server's limit is refused here, before it is sent, in the same words.
  document.addEventListener("htmx:wsBeforeSend", (event) => {
    const max = Number(composer()?.dataset.maxFrameBytes || 0);
    const message = event.detail?.message;
    if (!max || typeof message !== "string" || message.length * 3 <= max) return;
    const size = new TextEncoder().encode(message).length;
    if (size <= max) return;
    event.preventDefault();
    showNotice(
      "Too large to send: the prompt and system prompt come to " + kib(size) +
      " KiB, and a message is at most " + kib(max) + " KiB. Shorten them and send again."
    );
  });

  // --- while streaming: silent panels, answers that follow their stream ---------------------

  const STALL_MS = 6000;
  const lastDelta = new Map(); // run id -> when a frame last brought it text (or started it)
  // A delta for the panel's text or reasoning, the panel itself, or a new state for it.
  const PANEL_IDS = /(?:beforeend:#[tr]-|id="run-|id="s-)(\d+)/g;
  let following = [];
  let turnCount = 0;

  document.addEventListener("htmx:wsBeforeMessage", (event) => {
    const message = event.detail?.message;
    if (typeof message !== "string") return;
    const now = performance.now();
    for (const match of message.matchAll(PANEL_IDS)) lastDelta.set(match[1], now);
    following = Array.from(document.querySelectorAll(".answer.streaming, .panel .reasoning"))
      .filter((box) => box.scrollHeight - box.scrollTop - box.clientHeight < 24)
      .map((box) => box.id);
    turnCount = document.querySelectorAll("#turns .turn").length;
  });

  document.addEventListener("htmx:wsAfterMessage", () => {
    following.forEach((id) => {
      const box = document.getElementById(id);
      // A finished panel's answer starts from its top again; a streaming one follows.
      if (!box || !(box.matches(".streaming") || box.matches(".reasoning"))) return;
      if (box.scrollHeight > box.clientHeight) box.scrollTop = box.scrollHeight;
    });
    following = [];
    const turns = document.querySelectorAll("#turns .turn");
    if (turnCount && turns.length > turnCount) {
      turns[turns.length - 1].scrollIntoView({ block: "start" });
    }
    showStalls();
  });

  function showStalls() {
    const now = performance.now();
    document.querySelectorAll(".panel").forEach((panel) => {
      const stall = panel.querySelector(".panel-stall");
      if (!stall) return;
      const id = panel.id.replace("run-", "");
      const state = document.getElementById("s-" + id)?.textContent.trim() || "";
      const live = panel.querySelector(".answer.streaming") &&
        /^(waiting|thinking|streaming)/.test(state);
      if (!live) lastDelta.delete(id); // queued, loading a model, done: not a silence
      else if (!lastDelta.has(id)) lastDelta.set(id, now);
      const silent = live ? now - lastDelta.get(id) : 0;
      const text = silent >= STALL_MS ? "no tokens for " + Math.floor(silent / 1000) + " s…" : "";
      if (stall.textContent !== text) stall.textContent = text;
    });
  }
  setInterval(showStalls, 1000);

  document.addEventListener("DOMContentLoaded", () => {
    if (window.location.hash === "#share") document.getElementById("share")?.setAttribute("open", "");
    applyPanelLayout();
    const form = composer();
    if (!form) return;
    if (document.getElementById("comparison-id")?.value) form.classList.add("is-followup");
    modelsChanged();
    applyPanelLayout();
  });
})();
