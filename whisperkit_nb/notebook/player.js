// whisperkit_nb transcript player (anywidget front end; plain ES module, no build step).
//
// Safety rule for this file: text from the model (transcript, speaker names, title) reaches the DOM only
// through textContent, input.value or document.createTextNode, never through innerHTML, so a transcript
// that says "<script>" is shown as those characters.

const NEUTRAL = "#8a94a0";
const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  previous: "M6 5h2v14H6zM20 5v14L9 12z",
  play: "M7 5v14l12-7z",
  pause: "M6 5h4v14H6zM14 5h4v14h-4z",
  next: "M16 5h2v14h-2zM4 5v14l11-7z",
};

function node(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined && text !== null) element.textContent = String(text);
  return element;
}

function clock(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "--:--";
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

// Icons are drawn, not typed: fonts without the media-control glyphs would show empty boxes.
function setIcon(button, name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  button.replaceChildren(svg);
  button.dataset.icon = name;
}

// Index of the last item starting at or before t (items sorted by start), or -1.
function lastStartingBefore(items, t, startOf) {
  let lo = 0;
  let hi = items.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (startOf(items[mid]) <= t) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

// Fill an element with text, wrapping case-insensitive matches of query in <mark> (built as nodes).
function fillText(element, text, query) {
  element.replaceChildren();
  if (!query) {
    element.textContent = text;
    return;
  }
  const lower = text.toLowerCase();
  let at = 0;
  for (let hit = lower.indexOf(query); hit !== -1; hit = lower.indexOf(query, at)) {
    if (hit > at) element.appendChild(document.createTextNode(text.slice(at, hit)));
    element.appendChild(node("mark", "wk-mark", text.slice(hit, hit + query.length)));
    at = hit + query.length;
  }
  if (at < text.length) element.appendChild(document.createTextNode(text.slice(at)));
}

function render({ model, el }) {
  const root = node("div", "wk-player");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // JupyterLab: our keys are not notebook shortcuts
  root.setAttribute("aria-label", "Transcript player: space plays or pauses, arrow keys move between segments");

  const title = node("div", "wk-title");
  const audio = document.createElement("audio");
  audio.className = "wk-audio";
  audio.controls = true;
  audio.preload = "auto";

  const tools = node("div", "wk-tools");
  const previous = node("button", "wk-button wk-previous");
  const play = node("button", "wk-button wk-play");
  const next = node("button", "wk-button wk-next");
  setIcon(previous, "previous");
  setIcon(play, "play");
  setIcon(next, "next");
  previous.title = "Previous segment (←/↑)";
  play.title = "Play / pause (space)";
  next.title = "Next segment (→/↓)";
  for (const button of [previous, play, next]) button.type = "button";
  const time = node("span", "wk-clock");
  const search = document.createElement("input");
  search.type = "search";
  search.className = "wk-search";
  search.placeholder = "Search the transcript";
  const speakerFilter = document.createElement("select");
  speakerFilter.className = "wk-speaker-filter";
  speakerFilter.title = "Show one speaker";
  const count = node("span", "wk-count");
  const exportFormat = document.createElement("select");
  exportFormat.className = "wk-export-format";
  exportFormat.title = "Export format";
  const exportButton = node("button", "wk-button wk-export", "Export");
  exportButton.type = "button";
  exportButton.title = "Download the transcript in the chosen format";
  const exportMessage = node("span", "wk-export-message");
  exportMessage.setAttribute("role", "status");
  tools.append(previous, play, next, time, search, speakerFilter, count, exportFormat, exportButton, exportMessage);

  const wave = document.createElement("canvas");
  wave.className = "wk-wave";
  wave.title = "Click to seek";
  const legend = node("div", "wk-legend");
  const lines = node("div", "wk-lines");
  root.append(title, audio, tools, wave, legend, lines);
  el.appendChild(root);

  let segments = [];
  let rows = [];
  let current = -1;
  let currentWord = null;
  let animation = 0;

  const names = () => model.get("speaker_names") || {};
  const colorOf = (label) => (label && (model.get("colors") || {})[label]) || NEUTRAL;
  const nameOf = (label) => names()[label] || label;
  const query = () => search.value.trim().toLowerCase();

  function seek(seconds) {
    audio.currentTime = Math.max(0, Math.min(seconds, model.get("duration") || seconds));
    update(seconds);
  }

  function buildRow(segment, index) {
    const row = node("div", "wk-line");
    row.dataset.index = String(index);
    row.dataset.start = String(segment.s);
    row.style.setProperty("--wk-speaker", colorOf(segment.k));
    const stamp = node("span", "wk-time", clock(segment.s));
    stamp.title = `${segment.s}–${segment.e} s`;
    row.appendChild(stamp);
    if (segment.k) {
      const who = node("span", "wk-speaker", nameOf(segment.k));
      who.dataset.speaker = segment.k;
      row.appendChild(who);
    }
    const text = node("span", "wk-text");
    if (segment.w && segment.w.length) {
      segment.w.forEach(([word, start, , speaker], j) => {
        if (j > 0 && !/^\s/.test(word)) text.appendChild(document.createTextNode(" "));
        const span = node("span", "wk-word", word);
        span.dataset.index = String(j);
        if (start !== null) span.dataset.start = String(start);
        if (speaker && speaker !== segment.k) {
          span.classList.add("wk-word-other");
          span.style.setProperty("--wk-word-speaker", colorOf(speaker));
          span.title = nameOf(speaker);
        }
        text.appendChild(span);
      });
    } else {
      text.textContent = segment.t;
    }
    row.appendChild(text);
    return row;
  }

  function buildLegend() {
    legend.replaceChildren();
    for (const label of model.get("speakers") || []) {
      const item = node("label", "wk-legend-item");
      const swatch = node("span", "wk-swatch");
      swatch.style.background = colorOf(label);
      const input = document.createElement("input");
      input.type = "text";
      input.className = "wk-speaker-name";
      input.dataset.speaker = label;
      input.value = nameOf(label);
      input.title = `Rename ${label}`;
      input.addEventListener("change", () => {
        const renamed = { ...names(), [label]: input.value.trim() || label };
        model.set("speaker_names", renamed);
        model.save_changes();
        refreshNames();
      });
      item.append(swatch, input);
      legend.appendChild(item);
    }
    legend.hidden = !legend.childElementCount;
  }

  function buildFilter() {
    const chosen = speakerFilter.value;
    speakerFilter.replaceChildren(new Option("All speakers", ""));
    for (const label of model.get("speakers") || []) speakerFilter.appendChild(new Option(nameOf(label), label));
    speakerFilter.value = chosen;
    speakerFilter.hidden = !(model.get("speakers") || []).length;
  }

  function buildExport() {
    const chosen = exportFormat.value;
    const formats = Object.entries(model.get("export_formats") || {});
    exportFormat.replaceChildren(...formats.map(([name, about]) => {
      const option = new Option(name, name);
      option.title = about;
      return option;
    }));
    if (chosen) exportFormat.value = chosen;
    exportFormat.hidden = exportButton.hidden = !formats.length;
  }

  // The kernel writes the file (renames applied) and sends it back; a Blob link downloads it. Replies
  // carry this view's request id: another view of the same widget must not download the file too.
  const requestId = `${Date.now()}-${Math.random()}`;
  function requestExport() {
    exportButton.disabled = true;
    exportMessage.textContent = "Exporting…";
    exportMessage.classList.remove("wk-error");
    model.send({ export: exportFormat.value, request: requestId });
  }

  function exported(message, buffers) {
    if (!message || message.request !== requestId) return;
    exportButton.disabled = false;
    if (message.error) {
      exportMessage.textContent = message.error;
      exportMessage.classList.add("wk-error");
      return;
    }
    const url = URL.createObjectURL(new Blob(buffers || []));
    const link = document.createElement("a");
    link.href = url;
    link.download = message.name;
    link.hidden = true;
    root.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    exportMessage.textContent = `Downloaded ${message.name}`;
  }

  function build() {
    segments = model.get("segments") || [];
    rows = segments.map(buildRow);
    lines.replaceChildren(...rows);
    current = -1;
    currentWord = null;
    const path = model.get("title") || "";
    title.textContent = path.split(/[\\/]/).pop();
    title.title = path;
    buildLegend();
    buildFilter();
    applyFilter();
    update(audio.currentTime || 0);
  }

  function refreshNames() {
    for (const who of lines.querySelectorAll(".wk-speaker")) who.textContent = nameOf(who.dataset.speaker);
    for (const input of legend.querySelectorAll(".wk-speaker-name")) {
      if (document.activeElement !== input) input.value = nameOf(input.dataset.speaker);
    }
    for (const option of speakerFilter.options) if (option.value) option.textContent = nameOf(option.value);
  }

  function matches(segment, q, speaker) {
    if (q && !segment.t.toLowerCase().includes(q)) return false;
    if (!speaker) return true;
    return segment.k === speaker || (segment.w || []).some((w) => w[3] === speaker);
  }

  function applyFilter() {
    const q = query();
    const speaker = speakerFilter.value;
    let shown = 0;
    segments.forEach((segment, i) => {
      const visible = matches(segment, q, speaker);
      rows[i].hidden = !visible;
      shown += visible ? 1 : 0;
      if (segment.w && segment.w.length) {
        for (const span of rows[i].querySelectorAll(".wk-word")) {
          span.classList.toggle("wk-match", Boolean(q) && span.textContent.toLowerCase().includes(q));
        }
      } else {
        fillText(rows[i].querySelector(".wk-text"), segment.t, q);
      }
    });
    count.textContent = shown === segments.length ? `${segments.length} segments` : `${shown} of ${segments.length} segments`;
  }

  function scrollIntoList(row) {
    const top = row.offsetTop;
    const bottom = top + row.offsetHeight;
    if (top < lines.scrollTop || bottom > lines.scrollTop + lines.clientHeight) {
      lines.scrollTop = Math.max(0, top - lines.clientHeight / 3); // inside the list only: the page stays put
    }
  }

  function setCurrent(index) {
    if (index === current) return;
    if (current >= 0 && rows[current]) rows[current].classList.remove("wk-current");
    current = index;
    if (current >= 0 && rows[current]) {
      rows[current].classList.add("wk-current");
      scrollIntoList(rows[current]);
    }
    root.dataset.current = String(current);
  }

  function setCurrentWord(t) {
    let span = null;
    const words = current >= 0 ? segments[current].w : null;
    if (words && words.length) {
      const j = lastStartingBefore(words, t + 0.02, (w) => (w[1] === null ? Infinity : w[1]));
      if (j >= 0 && (words[j][2] === null || t <= words[j][2] + 0.15)) span = rows[current].querySelectorAll(".wk-word")[j];
    }
    if (span === currentWord) return;
    if (currentWord) currentWord.classList.remove("wk-word-current");
    currentWord = span;
    if (span) span.classList.add("wk-word-current");
  }

  function update(t) {
    time.textContent = `${clock(t)} / ${clock(model.get("duration"))}`;
    setCurrent(lastStartingBefore(segments, t + 0.02, (s) => s.s));
    setCurrentWord(t);
    draw(t);
  }

  function draw(t) {
    const width = wave.clientWidth;
    const height = wave.clientHeight;
    if (!width || !height) return;
    const ratio = window.devicePixelRatio || 1;
    if (wave.width !== Math.round(width * ratio) || wave.height !== Math.round(height * ratio)) {
      wave.width = Math.round(width * ratio);
      wave.height = Math.round(height * ratio);
    }
    const ctx = wave.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const style = getComputedStyle(root);
    const duration = model.get("duration") || 1;
    const strip = 6;
    const middle = (height - strip - 2) / 2;
    const peaks = model.get("peaks") || [];
    const played = (t / duration) * width;
    const barWidth = width / Math.max(1, peaks.length);
    peaks.forEach((peak, i) => {
      const x = i * barWidth;
      const h = Math.max(1, (peak / 255) * middle);
      ctx.fillStyle = x < played ? style.getPropertyValue("--wk-wave-played").trim() || "#3b6ea5"
        : style.getPropertyValue("--wk-wave").trim() || "#b8c2cc";
      ctx.fillRect(x, middle - h, Math.max(1, barWidth - 0.5), 2 * h);
    });
    for (const segment of segments) {
      ctx.fillStyle = colorOf(segment.k);
      const x = (segment.s / duration) * width;
      ctx.fillRect(x, height - strip, Math.max(1, ((segment.e - segment.s) / duration) * width), strip);
    }
    ctx.fillStyle = style.getPropertyValue("--wk-playhead").trim() || "#d33";
    ctx.fillRect(Math.min(width - 2, played), 0, 2, height);
  }

  function step(direction) {
    const order = direction > 0 ? rows.keys() : [...rows.keys()].reverse();
    for (const i of order) {
      if (rows[i].hidden) continue;
      if ((direction > 0 && i > current) || (direction < 0 && i < current)) {
        seek(segments[i].s);
        return;
      }
    }
  }

  function toggle() {
    if (audio.paused) audio.play().catch(() => {});
    else audio.pause();
  }

  function tick() {
    update(audio.currentTime);
    animation = audio.paused ? 0 : requestAnimationFrame(tick);
  }

  lines.addEventListener("click", (event) => {
    const word = event.target.closest(".wk-word");
    const row = event.target.closest(".wk-line");
    if (!row) return;
    const segment = segments[Number(row.dataset.index)];
    const start = word && word.dataset.start !== undefined ? Number(word.dataset.start) : segment.s;
    seek(start);
    root.focus({ preventScroll: true });
  });
  wave.addEventListener("click", (event) => {
    const box = wave.getBoundingClientRect();
    seek(((event.clientX - box.left) / box.width) * (model.get("duration") || 0));
  });
  previous.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  play.addEventListener("click", toggle);
  search.addEventListener("input", applyFilter);
  speakerFilter.addEventListener("change", applyFilter);
  exportButton.addEventListener("click", requestExport);
  audio.addEventListener("play", () => {
    setIcon(play, "pause");
    cancelAnimationFrame(animation);
    animation = requestAnimationFrame(tick);
  });
  audio.addEventListener("pause", () => {
    setIcon(play, "play");
    update(audio.currentTime);
  });
  for (const name of ["timeupdate", "seeked", "loadedmetadata"]) {
    audio.addEventListener(name, () => update(audio.currentTime));
  }
  root.addEventListener("keydown", (event) => {
    const tag = event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "AUDIO") {
      if (event.key === "Escape") root.focus();
      event.stopPropagation(); // typing a name or a search never triggers notebook shortcuts
      return;
    }
    const actions = { " ": toggle, ArrowDown: () => step(1), ArrowRight: () => step(1),
      ArrowUp: () => step(-1), ArrowLeft: () => step(-1) };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    event.stopPropagation();
    action();
  });
  const resize = new ResizeObserver(() => draw(audio.currentTime || 0));
  resize.observe(wave);

  model.on("change:segments", build);
  model.on("change:speakers", build);
  model.on("change:colors", build);
  model.on("change:title", build);
  model.on("change:speaker_names", refreshNames);
  model.on("change:export_formats", buildExport);
  model.on("msg:custom", exported);
  model.on("change:peaks", () => draw(audio.currentTime || 0));
  model.on("change:audio_url", () => {
    audio.src = model.get("audio_url");
  });

  audio.src = model.get("audio_url");
  build();
  buildExport();

  return () => {
    model.off("msg:custom", exported);
    cancelAnimationFrame(animation);
    resize.disconnect();
    audio.pause();
  };
}

export default { render };
