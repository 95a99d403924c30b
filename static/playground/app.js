// The compare page's small behaviours. htmx (and its ws extension) does the streaming;
// this file picks models, sends with Ctrl/Cmd+Enter, acknowledges frames, and handles
// the panel buttons that never need the server (expand, hide, copy).
(function () {
  "use strict";

  const ACK_EVERY = 8;
  let framesSeen = 0;

  function composer() { return document.getElementById("composer"); }
  function selectedList() { return document.getElementById("selected"); }

  function modelsChanged() {
    document.body.dispatchEvent(new CustomEvent("models-changed", { bubbles: true }));
    const max = Number(composer()?.dataset.maxPanels || 8);
    const full = selectedList().children.length >= max;
    document.querySelectorAll("#model-list .pick").forEach((button) => {
      const row = button.closest(".pick-row");
      if (!row.classList.contains("unavailable")) button.disabled = full;
    });
  }

  function addChip(button) {
    const template = document.getElementById("chip-template");
    const chip = template.content.firstElementChild.cloneNode(true);
    chip.dataset.name = button.dataset.name;
    chip.querySelector("input[name=models]").value = button.dataset.name;
    chip.querySelector(".chip-label").textContent = button.dataset.label;
    chip.querySelector(".badge").textContent = button.dataset.provider;
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

  document.addEventListener("htmx:wsOpen", () => {
    framesSeen = 0;
    const status = document.getElementById("connection");
    if (status) { status.textContent = ""; status.className = "connection"; }
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
