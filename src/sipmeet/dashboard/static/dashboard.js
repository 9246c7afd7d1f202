// sipmeet dashboard: copy and reveal buttons, confirmations, and the live calls view.
(function () {
  "use strict";

  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy], button[data-reveal]");
    if (!button) return;
    if (button.dataset.reveal) {
      const target = document.getElementById(button.dataset.reveal);
      const hidden = target.classList.toggle("concealed");
      button.textContent = hidden ? "Show" : "Hide";
      return;
    }
    const target = document.getElementById(button.dataset.copy);
    button.dataset.label = button.dataset.label || button.textContent;
    try {
      await copyText(target.textContent.trim());
      button.textContent = "Copied";
    } catch (err) {
      button.textContent = "Copy failed";
    }
    setTimeout(() => { button.textContent = button.dataset.label; }, 1500);
  });

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // --- live calls ---------------------------------------------------------------------------
  const live = document.getElementById("live");
  if (!live) return;
  const pollMs = Number(live.dataset.pollMs) || 2000;
  const HISTORY = Math.round(120000 / pollMs); // two minutes of samples per call
  const history = new Map(); // participantId -> [{loss, jitter}]
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  function figure(value, unit) {
    return value === null || value === undefined ? "—" : `${value}${unit}`;
  }

  function actionForm(path, label, cls, fields) {
    const form = el("form", { class: "call-action inline", method: "post", action: path });
    form.appendChild(el("input", { type: "hidden", name: "csrf", value: csrf() }));
    for (const [name, value] of Object.entries(fields || {})) {
      form.appendChild(el("input", { type: "hidden", name, value: String(value) }));
    }
    form.appendChild(el("button", { type: "submit", class: cls, text: label }));
    return form;
  }

  function chart(samples) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "quality-chart");
    svg.setAttribute("viewBox", "0 0 120 36");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "loss and jitter");
    const maxJitter = Math.max(20, ...samples.map((s) => s.jitter || 0));
    const maxLoss = Math.max(5, ...samples.map((s) => s.loss || 0));
    // The window grows from 20 s to two minutes, then scrolls; the newest sample is rightmost.
    const span = Math.min(Math.max(samples.length, 10), HISTORY);
    const step = 120 / Math.max(span - 1, 1);
    const offset = 120 - step * (samples.length - 1);
    const axis = document.createElementNS(SVG, "line");
    axis.setAttribute("class", "axis");
    for (const [name, value] of [["x1", 0], ["y1", 34], ["x2", 120], ["y2", 34]]) {
      axis.setAttribute(name, String(value));
    }
    svg.appendChild(axis);
    for (const [key, max] of [["jitter", maxJitter], ["loss", maxLoss]]) {
      const points = samples.map((s, i) =>
        `${(offset + i * step).toFixed(1)},${(34 - 32 * ((s[key] || 0) / max)).toFixed(1)}`);
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("class", key);
      line.setAttribute("points", points.join(" "));
      svg.appendChild(line);
      if (samples.length) {
        const [x, y] = points[points.length - 1].split(",");
        const dot = document.createElementNS(SVG, "circle");
        dot.setAttribute("class", key);
        dot.setAttribute("cx", x);
        dot.setAttribute("cy", y);
        dot.setAttribute("r", "1.8");
        svg.appendChild(dot);
      }
    }
    svg.dataset.samples = String(samples.length);
    return svg;
  }

  function callItem(call) {
    const pid = call.participantId;
    const samples = history.get(pid) || [];
    const who = el("div", { class: "who" }, [
      el("span", { class: "phone-badge", title: "phone", text: `☎ ${call.maskedNumber || "phone"}` }),
      el("strong", { text: call.displayName || "caller" }),
      el("span", { class: "codec", text: call.codec || "" }),
      call.muted ? el("span", { class: "badge muted-flag", text: "muted" }) : null,
      call.onHold ? el("span", { class: "badge", text: "on hold" }) : null,
    ]);
    const quality = el("div", { class: "quality" }, [
      el("span", { class: "q-loss", text: `loss ${figure(call.lossPercent, " %")}` }),
      el("span", { class: "q-jitter", text: `jitter ${figure(call.jitterMs, " ms")}` }),
      el("span", { class: "q-mos", text: `MOS ${figure(call.mos, "")}` }),
    ]);
    const base = `/dashboard/calls/${encodeURIComponent(pid)}`;
    const buttons = el("div", { class: "buttons" }, [
      actionForm(`${base}/mute`, call.muted ? "Unmute" : "Mute", "secondary", { muted: call.muted ? 0 : 1 }),
      actionForm(`${base}/hangup`, "Hang up", "danger"),
    ]);
    return el("li", { class: "call", "data-participant-id": pid }, [who, quality, chart(samples), buttons]);
  }

  function roomSection(room) {
    const calls = el("ul", { class: "calls" });
    for (const call of room.calls) calls.appendChild(callItem(call));
    if (!room.calls.length) {
      calls.appendChild(el("li", { class: "empty", text: "No phone callers (browser participants only)." }));
    }
    return el("section", { class: "card room", "data-room-id": room.roomId }, [
      el("h2", {}, [
        el("code", { text: room.roomId }),
        el("span", { class: "count", text: `${room.participants} participant(s)` }),
      ]),
      el("p", { class: "uri" }, [el("code", { text: room.sipUri })]),
      browserLine(room.browsers || []),
      calls,
    ]);
  }

  function browserLine(browsers) {
    if (!browsers.length) return null;
    const items = [];
    browsers.forEach((b, i) => {
      if (i) items.push(document.createTextNode(", "));
      items.push(el("span", { class: "browser", "data-participant-id": b.participantId, text: b.displayName + (b.muted ? " (muted)" : "") }));
    });
    return el("p", { class: "browsers" }, [document.createTextNode("In a browser: "), ...items]);
  }

  function render(snapshot) {
    const seen = new Set();
    for (const room of snapshot.rooms) {
      for (const call of room.calls) {
        seen.add(call.participantId);
        const samples = history.get(call.participantId) || [];
        samples.push({ loss: call.lossPercent || 0, jitter: call.jitterMs || 0 });
        while (samples.length > HISTORY) samples.shift();
        history.set(call.participantId, samples);
      }
    }
    for (const pid of [...history.keys()]) if (!seen.has(pid)) history.delete(pid);
    const container = document.getElementById("live-rooms");
    const sections = snapshot.rooms.map(roomSection);
    if (!sections.length) sections.push(el("p", { class: "empty card", text: "No live rooms on this node." }));
    container.replaceChildren(...sections);
    document.getElementById("live-count").textContent = String(snapshot.calls);
    document.getElementById("live-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  }

  let timer = null;
  async function poll() {
    clearTimeout(timer);
    try {
      const response = await fetch("/dashboard/live.json", {
        credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store",
      });
      if (response.status === 401) {
        window.location.assign(`/dashboard/login?next=${encodeURIComponent("/dashboard/live")}`);
        return;
      }
      if (response.ok) render(await response.json());
    } catch (err) {
      document.getElementById("live-updated").textContent = "not updating: server unreachable";
    }
    timer = setTimeout(poll, pollMs);
  }

  live.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.call-action");
    if (!form || event.defaultPrevented) return;
    event.preventDefault();
    const response = await fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      window.alert(body.error || `failed (${response.status})`);
    }
    poll();
  });

  poll();
})();
