// whisperkit_nb transcript player (anywidget front end; plain ES module, no build step).
//
// Safety rule for this file: text from the model (transcript, speaker names, title) reaches the DOM only
// through textContent, input.value or document.createTextNode, never by parsing markup, so a transcript
// that says "<script>" is shown as those characters.
//
// Corrections are asked of the kernel ({edit: ...} messages); it changes the DataFrame and sends the new
// segments back, which this view then shows.

const NEUTRAL = "#8a94a0";
const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  previous: "M6 5h2v14H6zM20 5v14L9 12z",
  play: "M7 5v14l12-7z",
  pause: "M6 5h4v14H6zM14 5h4v14h-4z",
  next: "M16 5h2v14h-2zM4 5v14l11-7z",
};
const SKIP_S = 5; // back / forward buttons and keys
const REPLAY_S = 2; // play after a pause starts this much earlier, to hear the context again
const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2];
// What the help popover lists; the handler below implements the same keys.
const SHORTCUTS = [
  ["Ctrl+Space", "play / pause (also while typing)"],
  ["Space", "play / pause"],
  ["Ctrl+[  /  Ctrl+]", `back / forward ${SKIP_S} s (also while typing)`],
  ["Ctrl+,  /  Ctrl+.", "slower / faster (also while typing)"],
  ["← ↑  /  → ↓", "previous / next segment"],
  ["U  /  Shift+U", "next / previous unsure word"],
  ["L", "loop the current segment"],
  ["Enter or double-click", "edit the current segment (Enter saves, Escape cancels)"],
  ["Ctrl+Z  /  Ctrl+Y", "undo / redo a correction"],
  ["?", "this help"],
];

function node(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined && text !== null) element.textContent = String(text);
  return element;
}

function button(className, text, title) {
  const element = node("button", `wk-button ${className}`, text);
  element.type = "button";
  if (title) element.title = title;
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
function setIcon(target, name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  target.replaceChildren(svg);
  target.dataset.icon = name;
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

// Where each word lies in the text: [start, end) character offsets, or null (such a word is shown beside
// the text, where it can still be clicked to seek). Each word (trimmed) is searched
// from the end of the previous one, so the text shows exactly as written ("28.8", not "28 .8"); the same
// rule as whisperkit_nb.transcript.edits.locate_words.
function locateWords(text, words) {
  let cursor = 0;
  return (words || []).map(([word]) => {
    const token = String(word).trim();
    const at = token ? text.indexOf(token, cursor) : -1;
    if (at < 0) return null;
    cursor = at + token.length;
    return [at, cursor];
  });
}

// Search text: every segment's text with whitespace runs collapsed, joined by one space, so a phrase over
// a segment border is found; origin[k] is [segment, offset] of character k (null for the joins).
function searchIndex(segments) {
  let text = "";
  const origin = [];
  segments.forEach((segment, i) => {
    if (i > 0) {
      text += " ";
      origin.push(null);
    }
    let space = false;
    const trimmed = segment.t.trim();
    const lead = segment.t.length - segment.t.trimStart().length;
    for (let k = 0; k < trimmed.length; k++) {
      const ch = trimmed[k];
      if (/\s/.test(ch)) {
        if (space) continue;
        space = true;
        text += " ";
      } else {
        space = false;
        text += ch.toLowerCase();
      }
      origin.push([i, lead + k]);
    }
  });
  return { text, origin };
}

function render({ model, el }) {
  const root = node("div", "wk-player");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // JupyterLab: our keys are not notebook shortcuts
  root.setAttribute("aria-label", "Transcript player: space plays or pauses, arrow keys move between segments, "
    + "Enter edits, question mark lists the keys");

  const title = node("div", "wk-title");
  // One set of controls: the native ones would be a second play button and a second clock.
  const audio = document.createElement("audio");
  audio.className = "wk-audio";
  audio.controls = false;
  audio.hidden = true;
  audio.preload = "auto";

  const transport = node("div", "wk-tools wk-transport");
  const previous = button("wk-previous", null, "Previous segment (←/↑)");
  const back = button("wk-back", `−${SKIP_S} s`, `Back ${SKIP_S} s (Ctrl+[)`);
  const play = button("wk-play", null, "Play / pause (space, Ctrl+Space)");
  const forward = button("wk-forward", `+${SKIP_S} s`, `Forward ${SKIP_S} s (Ctrl+])`);
  const next = button("wk-next", null, "Next segment (→/↓)");
  setIcon(previous, "previous");
  setIcon(play, "play");
  setIcon(next, "next");
  const time = node("span", "wk-clock");
  const speed = document.createElement("select");
  speed.className = "wk-speed";
  speed.title = "Playback speed (Ctrl+, slower, Ctrl+. faster)";
  for (const rate of SPEEDS) speed.appendChild(new Option(`${rate}×`, String(rate)));
  speed.value = "1";
  const loop = button("wk-loop", "Loop", "Loop the current segment (L)");
  loop.setAttribute("aria-pressed", "false");
  const unsureNext = button("wk-next-unsure", "Next unsure", "Jump to the next word Whisper was unsure of (U)");
  const undo = button("wk-undo", "Undo", "Undo the last correction (Ctrl+Z)");
  const redo = button("wk-redo", "Redo", "Redo (Ctrl+Y)");
  const helpButton = button("wk-help-button", "?", "Keyboard shortcuts (?)");
  helpButton.setAttribute("aria-expanded", "false");
  transport.append(previous, back, play, forward, next, time, speed, loop, unsureNext, undo, redo, helpButton);

  const help = node("div", "wk-help");
  help.setAttribute("role", "dialog");
  help.setAttribute("aria-label", "Keyboard shortcuts");
  help.hidden = true;
  const helpList = node("dl", "wk-help-list");
  for (const [keys, what] of SHORTCUTS) helpList.append(node("dt", null, keys), node("dd", null, what));
  help.append(node("div", "wk-help-title", "Keyboard shortcuts"), helpList);

  const tools = node("div", "wk-tools");
  const search = document.createElement("input");
  search.type = "search";
  search.className = "wk-search";
  search.placeholder = "Search the transcript";
  const speakerFilter = document.createElement("select");
  speakerFilter.className = "wk-speaker-filter";
  speakerFilter.title = "Show one speaker";
  const review = document.createElement("select");
  review.className = "wk-review-filter";
  review.title = "Show only segments to review";
  review.append(new Option("All segments", ""), new Option("Unsure words", "unsure"), new Option("Edited", "edited"));
  const view = button("wk-view", "Turns", "Show turns (a speaker's consecutive segments as one line) or segments");
  view.setAttribute("aria-pressed", "false");
  const count = node("span", "wk-count");
  const exportFormat = document.createElement("select");
  exportFormat.className = "wk-export-format";
  exportFormat.title = "Export format";
  const exportButton = button("wk-export", "Export", "Download the transcript in the chosen format");
  const message = node("span", "wk-export-message");
  message.setAttribute("role", "status");
  tools.append(search, speakerFilter, review, view, count, exportFormat, exportButton, message);

  const wave = document.createElement("canvas");
  wave.className = "wk-wave";
  wave.title = "Click to seek";
  const legend = node("div", "wk-legend");
  const lines = node("div", "wk-lines");
  const speakerList = document.createElement("datalist");
  speakerList.id = `wk-speakers-${Math.random().toString(36).slice(2)}`;
  root.append(title, audio, transport, help, tools, wave, legend, lines, speakerList);
  el.appendChild(root);

  let segments = [];
  let located = []; // per segment: word spans in its text
  let lineOf = []; // per segment: its line element
  let textOf = []; // per segment: its .wk-text element
  let extraOf = []; // per segment: its words that are not in its text (edited apart), beside it
  let wordsOf = []; // per segment: word index -> span (null when the word is not in the text)
  let visible = []; // per segment: shown by the filters
  let silences = []; // {s, e, el}
  let current = -1;
  let currentWord = null;
  let currentSilence = null;
  let animation = 0;
  let turns = false;
  let looping = -1; // the segment played in a loop, or -1
  let pausedAt = null; // where a pause left the audio (resume replays REPLAY_S from there)
  let editing = -1;

  const names = () => model.get("speaker_names") || {};
  const colorOf = (label) => (label && (model.get("colors") || {})[label]) || NEUTRAL;
  const nameOf = (label) => names()[label] || label;
  // how a speaker was named from speaker_samples (sample and similarity), when the file's facts say
  const speakerTitle = (label) => {
    const about = (model.get("speaker_about") || {})[label];
    return `${nameOf(label)} (${label})${about ? `: ${about}` : ""}`;
  };
  const unsureBelow = () => model.get("unsure_below") ?? 0.5;
  const isUnsure = (word) => word[4] !== null && word[4] !== undefined && word[4] < unsureBelow();
  const query = () => search.value.trim().replace(/\s+/g, " ").toLowerCase();

  function seek(seconds) {
    audio.currentTime = Math.max(0, Math.min(seconds, model.get("duration") || seconds));
    pausedAt = null;
    update(seconds);
    if (looping >= 0 && current >= 0) looping = current;
  }

  function skip(seconds) {
    seek((audio.currentTime || 0) + seconds);
  }

  function setSpeed(rate) {
    audio.playbackRate = rate;
    audio.defaultPlaybackRate = rate;
    speed.value = String(rate);
  }

  function changeSpeed(direction) {
    const at = SPEEDS.indexOf(Number(speed.value));
    setSpeed(SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, at + direction))]);
  }

  function status(text, error = false) {
    message.textContent = text;
    message.classList.toggle("wk-error", error);
  }

  function speakerLabel(label) {
    const who = node("span", "wk-speaker", nameOf(label));
    who.dataset.speaker = label;
    who.title = speakerTitle(label);
    return who;
  }

  function wordSpan(word, j, segment) {
    const [text, start, , speaker, probability] = word;
    const span = node("span", "wk-word", text.trim());
    span.dataset.index = String(j);
    if (start !== null) span.dataset.start = String(start);
    if (speaker && speaker !== segment.k) {
      span.classList.add("wk-word-other");
      span.dataset.speaker = speaker;
      span.style.setProperty("--wk-word-speaker", colorOf(speaker));
      span.title = nameOf(speaker);
    }
    if (isUnsure(word)) {
      span.classList.add("wk-unsure");
      span.title = `${span.title ? span.title + ": " : ""}Whisper was unsure (p = ${probability.toFixed(2)})`;
    }
    return span;
  }

  // A segment's text exactly as in df.text, words as spans where they lie in it; ranges [a, b) are search
  // matches: words touching one are marked, other characters in one are wrapped in <mark>.
  function fillText(i, ranges = []) {
    const segment = segments[i];
    const element = textOf[i];
    const text = segment.t;
    const spans = located[i];
    element.replaceChildren();
    wordsOf[i] = [];
    const gap = (from, to) => {
      let at = from;
      for (const [a, b] of ranges) {
        const lo = Math.max(a, at);
        const hi = Math.min(b, to);
        if (lo >= hi) continue;
        if (lo > at) element.appendChild(document.createTextNode(text.slice(at, lo)));
        element.appendChild(node("mark", "wk-mark", text.slice(lo, hi)));
        at = hi;
      }
      if (at < to) element.appendChild(document.createTextNode(text.slice(at, to)));
    };
    const unplaced = extraOf[i];
    unplaced.replaceChildren();
    let at = 0;
    (segment.w || []).forEach((word, j) => {
      const where = spans[j];
      if (!where) { // not in the text as written: shown beside it, still there to click and to follow
        const span = wordSpan(word, j, segment);
        if (unplaced.childElementCount) unplaced.appendChild(document.createTextNode(" "));
        unplaced.appendChild(span);
        wordsOf[i].push(span);
        return;
      }
      gap(at, where[0]);
      const span = wordSpan(word, j, segment);
      if (ranges.some(([a, b]) => a < where[1] && b > where[0])) span.classList.add("wk-match");
      element.appendChild(span);
      wordsOf[i].push(span);
      at = where[1];
    });
    gap(at, text.length);
  }

  function silenceRow(s, e) {
    const row = node("div", "wk-silence", `— ${Math.round(e - s)} s silence —`);
    row.dataset.start = String(s);
    row.title = `${clock(s)}–${clock(e)}: no speech`;
    const item = { s, e, el: row };
    silences.push(item);
    return row;
  }

  function build() {
    closeEditor(false);
    segments = model.get("segments") || [];
    located = segments.map((segment) => locateWords(segment.t, segment.w));
    lineOf = [];
    textOf = [];
    extraOf = [];
    wordsOf = [];
    silences = [];
    const quiet = model.get("silence_s") || Infinity;
    const duration = model.get("duration") || 0;
    const children = [];
    let line = null;
    let previousEnd = 0;
    segments.forEach((segment, i) => {
      const gapBefore = segment.s - previousEnd;
      const silent = gapBefore >= quiet;
      if (silent) children.push(silenceRow(previousEnd, segment.s));
      if (!turns || !line || silent || segments[i - 1].k !== segment.k) {
        line = node("div", "wk-line");
        line.dataset.index = String(i);
        line.dataset.start = String(segment.s);
        line.style.setProperty("--wk-speaker", colorOf(segment.k));
        const stamp = node("span", "wk-time", clock(segment.s));
        stamp.title = `${segment.s}–${segment.e} s`;
        line.appendChild(stamp);
        if (segment.k) line.appendChild(speakerLabel(segment.k));
        line.appendChild(node("span", "wk-body"));
        children.push(line);
      } else {
        line.querySelector(".wk-body").appendChild(document.createTextNode(" "));
      }
      const text = node("span", "wk-text");
      text.dataset.segment = String(i);
      if (segment.x) {
        text.classList.add("wk-edited");
        text.title = "Edited";
      }
      const extra = node("span", "wk-unplaced");
      extra.dataset.segment = String(i);
      extra.title = "Words Whisper heard that are not in the text as written: click one to hear it";
      line.querySelector(".wk-body").append(text, extra);
      lineOf[i] = line;
      textOf[i] = text;
      extraOf[i] = extra;
      previousEnd = Math.max(previousEnd, segment.e ?? segment.s);
    });
    if (segments.length && duration - previousEnd >= quiet) children.push(silenceRow(previousEnd, duration));
    lines.replaceChildren(...children);
    current = -1;
    currentWord = null;
    currentSilence = null;
    if (looping >= segments.length) looping = -1;
    const path = model.get("title") || "";
    title.textContent = path.split(/[\\/]/).pop();
    title.title = path;
    buildLegend();
    buildFilter();
    buildUndo();
    applyFilter();
    update(audio.currentTime || 0);
    root.dataset.segments = String(segments.length);
  }

  function buildLegend() {
    legend.replaceChildren();
    speakerList.replaceChildren();
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
      speakerList.appendChild(new Option(nameOf(label)));
    }
    legend.hidden = !legend.childElementCount;
  }

  function buildFilter() {
    const chosen = speakerFilter.value;
    speakerFilter.replaceChildren(new Option("All speakers", ""));
    for (const label of model.get("speakers") || []) speakerFilter.appendChild(new Option(nameOf(label), label));
    speakerFilter.value = [...speakerFilter.options].some((o) => o.value === chosen) ? chosen : "";
    speakerFilter.hidden = !(model.get("speakers") || []).length;
  }

  function buildUndo() {
    undo.disabled = !model.get("can_undo");
    redo.disabled = !model.get("can_redo");
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

  // The kernel writes the file (corrections applied) and sends it back; a Blob link downloads it. Replies
  // carry this view's request id: another view of the same widget must not download the file too.
  const requestId = `${Date.now()}-${Math.random()}`;
  function requestExport() {
    exportButton.disabled = true;
    status("Exporting…");
    model.send({ export: exportFormat.value, request: requestId });
  }

  function received(content, buffers) {
    if (!content) return;
    if (content.edit_done) {
      delete root.dataset.pending;
      return;
    }
    if (content.edit_error) {
      delete root.dataset.pending;
      status(content.edit_error, true);
      return;
    }
    if (content.request !== requestId) return;
    exportButton.disabled = false;
    if (content.error) {
      status(content.error, true);
      return;
    }
    const url = URL.createObjectURL(new Blob(buffers || []));
    const link = document.createElement("a");
    link.href = url;
    link.download = content.name;
    link.hidden = true;
    root.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    status(`Downloaded ${content.name}`);
  }

  function edit(content) {
    root.dataset.pending = "1";
    status("");
    model.send(content);
  }

  function refreshNames() {
    for (const who of lines.querySelectorAll(".wk-speaker")) {
      who.textContent = nameOf(who.dataset.speaker);
      who.title = speakerTitle(who.dataset.speaker);
    }
    for (const word of lines.querySelectorAll(".wk-word-other")) {
      const unsure = word.classList.contains("wk-unsure") ? word.title.slice(word.title.indexOf("Whisper")) : "";
      word.title = unsure ? `${nameOf(word.dataset.speaker)}: ${unsure}` : nameOf(word.dataset.speaker);
    }
    for (const input of legend.querySelectorAll(".wk-speaker-name")) {
      if (document.activeElement !== input) input.value = nameOf(input.dataset.speaker);
    }
    for (const option of speakerFilter.options) if (option.value) option.textContent = nameOf(option.value);
    speakerList.replaceChildren(...(model.get("speakers") || []).map((label) => new Option(nameOf(label))));
  }

  function passes(segment, speaker, kind) {
    if (speaker && segment.k !== speaker && !(segment.w || []).some((w) => w[3] === speaker)) return false;
    if (kind === "unsure") return (segment.w || []).some(isUnsure);
    if (kind === "edited") return Boolean(segment.x);
    return true;
  }

  function applyFilter() {
    const q = query();
    const speaker = speakerFilter.value;
    const kind = review.value;
    const hits = segments.map(() => []);
    if (q) {
      const { text, origin } = searchIndex(segments);
      for (let at = text.indexOf(q); at !== -1; at = text.indexOf(q, at + 1)) {
        for (let k = at; k < at + q.length; k++) {
          const where = origin[k];
          if (!where) continue;
          const [i, offset] = where;
          const ranges = hits[i];
          const last = ranges[ranges.length - 1];
          if (last && last[1] >= offset) last[1] = Math.max(last[1], offset + 1);
          else ranges.push([offset, offset + 1]);
        }
      }
    }
    visible = segments.map((segment, i) => passes(segment, speaker, kind) && (!q || hits[i].length > 0));
    segments.forEach((_, i) => fillText(i, hits[i]));
    for (const line of new Set(lineOf)) {
      const members = [...line.querySelectorAll(".wk-text")].map((t) => Number(t.dataset.segment));
      line.hidden = !members.some((i) => visible[i]);
      if (turns) for (const i of members) textOf[i].classList.toggle("wk-filtered", !visible[i]);
    }
    const filtering = Boolean(q || speaker || kind);
    for (const silence of silences) silence.el.hidden = filtering;
    const shown = visible.filter(Boolean).length;
    count.textContent = shown === segments.length ? `${segments.length} segments` : `${shown} of ${segments.length} segments`;
    currentWord = null;
    update(audio.currentTime || 0);
  }

  function scrollIntoList(row) {
    const top = row.offsetTop;
    const bottom = top + row.offsetHeight;
    if (top < lines.scrollTop || bottom > lines.scrollTop + lines.clientHeight) {
      lines.scrollTop = Math.max(0, top - lines.clientHeight / 3); // inside the list only: the page stays put
    }
  }

  function setCurrent(index, silence) {
    if (silence !== currentSilence) {
      if (currentSilence) currentSilence.el.classList.remove("wk-current");
      currentSilence = silence;
      if (silence) silence.el.classList.add("wk-current");
    }
    if (index === current) return;
    if (current >= 0 && lineOf[current]) {
      lineOf[current].classList.remove("wk-current");
      textOf[current].classList.remove("wk-text-current");
    }
    current = index;
    if (current >= 0 && lineOf[current]) {
      lineOf[current].classList.add("wk-current");
      textOf[current].classList.add("wk-text-current");
      scrollIntoList(lineOf[current]);
    }
    root.dataset.current = String(current);
  }

  function setCurrentWord(t) {
    let span = null;
    const words = current >= 0 ? segments[current].w : null;
    if (words && words.length) {
      const j = lastStartingBefore(words, t + 0.02, (w) => (w[1] === null ? Infinity : w[1]));
      if (j >= 0 && (words[j][2] === null || t <= words[j][2] + 0.15)) span = wordsOf[current][j] || null;
    }
    if (span === currentWord) return;
    if (currentWord) currentWord.classList.remove("wk-word-current");
    currentWord = span;
    if (span) span.classList.add("wk-word-current");
  }

  function update(t) {
    if (looping >= 0 && segments[looping] && !audio.paused && t >= (segments[looping].e ?? Infinity)) {
      audio.currentTime = segments[looping].s;
      t = segments[looping].s;
    }
    time.textContent = `${clock(t)} / ${clock(model.get("duration"))}`;
    const silence = silences.find((s) => t >= s.s + 0.25 && t < s.e) || null;
    setCurrent(silence ? -1 : lastStartingBefore(segments, t + 0.02, (s) => s.s), silence);
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
    // In a silence (no current segment) the segment before it is where the steps count from.
    const before = lastStartingBefore(segments, (audio.currentTime || 0) + 0.02, (s) => s.s);
    const from = current >= 0 ? current : direction > 0 ? before : before + 1;
    const order = direction > 0 ? segments.keys() : [...segments.keys()].reverse();
    for (const i of order) {
      if (visible[i] && ((direction > 0 && i > from) || (direction < 0 && i < from))) {
        seek(segments[i].s);
        return;
      }
    }
  }

  // The next (or previous) word below the threshold, from the playing position, wrapping around.
  function jumpUnsure(direction) {
    const t = audio.currentTime || 0;
    const found = [];
    segments.forEach((segment, i) => {
      if (!visible[i]) return;
      (segment.w || []).forEach((word) => {
        if (isUnsure(word) && word[1] !== null) found.push(word[1]);
      });
    });
    if (!found.length) {
      status("No unsure words");
      return;
    }
    const target = direction > 0 ? found.find((s) => s > t + 0.05) ?? found[0]
      : [...found].reverse().find((s) => s < t - 0.05) ?? found[found.length - 1];
    seek(target);
  }

  function toggle() {
    if (audio.paused) {
      if (pausedAt !== null && Math.abs(audio.currentTime - pausedAt) < 0.01) {
        audio.currentTime = Math.max(0, pausedAt - REPLAY_S);
      }
      pausedAt = null;
      audio.play().catch(() => {});
    } else {
      audio.pause();
      pausedAt = audio.currentTime;
    }
  }

  function toggleLoop() {
    looping = looping >= 0 ? -1 : Math.max(0, current);
    loop.setAttribute("aria-pressed", String(looping >= 0));
    loop.classList.toggle("wk-on", looping >= 0);
  }

  function toggleTurns() {
    turns = !turns;
    root.classList.toggle("wk-turns", turns);
    view.setAttribute("aria-pressed", String(turns));
    view.textContent = turns ? "Segments" : "Turns";
    build();
  }

  function toggleHelp(show = help.hidden) {
    help.hidden = !show;
    helpButton.setAttribute("aria-expanded", String(show));
  }

  // The kernel shows a static transcript before the widget (for a notebook reopened without widget state);
  // while this view is live it would only repeat the transcript.
  function hideStatic() {
    const key = model.get("static_key");
    if (!key || !/^[0-9a-f]+$/.test(key) || document.getElementById(`wk-hide-${key}`)) return;
    // A rule, not a hidden element: the kernel updates the static output after each correction, which
    // renders it anew.
    const rule = document.createElement("style");
    rule.id = `wk-hide-${key}`;
    rule.textContent = `.jp-OutputArea-child:has(.wk-static-${key}), .output_area:has(.wk-static-${key}), `
      + `.wk-static-${key} { display: none !important; }`;
    document.head.appendChild(rule);
  }

  function tick() {
    update(audio.currentTime);
    animation = audio.paused ? 0 : requestAnimationFrame(tick);
  }

  // ---- correcting a segment: a text box in place of its text, with split, merge and speaker ----

  function openEditor(i) {
    if (i < 0 || i >= segments.length) return;
    closeEditor(false);
    editing = i;
    const segment = segments[i];
    const lead = segment.t.length - segment.t.trimStart().length;
    const box = node("div", "wk-editor");
    const area = document.createElement("textarea");
    area.className = "wk-edit-text";
    area.value = segment.t.slice(lead);
    area.rows = Math.min(6, Math.max(2, Math.ceil(area.value.length / 90)));
    area.setAttribute("aria-label", "Segment text: Enter saves, Escape cancels");
    const save = button("wk-edit-save", "Save", "Save the text (Enter)");
    const cancel = button("wk-edit-cancel", "Cancel", "Leave the text as it was (Escape)");
    const split = button("wk-edit-split", "Split at cursor", "Split the segment before the word at the cursor");
    const merge = button("wk-edit-merge", "Merge with next", "Join this segment and the next one");
    merge.disabled = i >= segments.length - 1;
    split.disabled = !(segment.w && segment.w.length > 1);
    const who = document.createElement("input");
    who.type = "text";
    who.className = "wk-edit-speaker";
    who.setAttribute("list", speakerList.id);
    who.placeholder = "Speaker";
    who.title = "This segment's speaker: pick one or type a new name";
    who.value = segment.k ? nameOf(segment.k) : "";
    const bar = node("div", "wk-edit-bar");
    bar.append(save, cancel, split, merge, who);
    box.append(area, bar);
    textOf[i].hidden = true;
    extraOf[i].hidden = true;
    extraOf[i].after(box);
    root.dataset.editing = String(i);

    const commit = () => {
      const text = area.value;
      if (text === segment.t.slice(lead)) closeEditor();
      else edit({ edit: "text", segment: i, text });
    };
    save.addEventListener("click", commit);
    cancel.addEventListener("click", () => closeEditor());
    split.addEventListener("click", () => {
      if (area.value !== segment.t.slice(lead)) {
        status("Save the text before splitting", true);
        return;
      }
      const caret = lead + area.selectionStart;
      const spans = located[i];
      const word = spans.findIndex((where) => where && where[0] >= caret);
      if (word < 1) {
        status("Put the cursor before a word after the first", true);
        return;
      }
      edit({ edit: "split", segment: i, word });
    });
    merge.addEventListener("click", () => edit({ edit: "merge", segment: i }));
    who.addEventListener("change", () => {
      const name = who.value.trim();
      if (name && name !== (segment.k ? nameOf(segment.k) : "")) edit({ edit: "speaker", segment: i, speaker: name });
    });
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        commit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        closeEditor();
      }
    });
    who.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        closeEditor();
      }
    });
    area.focus();
  }

  function closeEditor(refocus = true) {
    if (editing < 0) return;
    const box = lines.querySelector(".wk-editor");
    if (box) box.remove();
    if (textOf[editing]) textOf[editing].hidden = extraOf[editing].hidden = false;
    editing = -1;
    delete root.dataset.editing;
    if (refocus) root.focus({ preventScroll: true });
  }

  lines.addEventListener("click", (event) => {
    if (event.target.closest(".wk-editor")) return;
    const word = event.target.closest(".wk-word");
    const text = event.target.closest("[data-segment]");
    const row = event.target.closest(".wk-line");
    const silence = event.target.closest(".wk-silence");
    if (silence) {
      seek(Number(silence.dataset.start));
      return;
    }
    if (!row) return;
    const index = text ? Number(text.dataset.segment) : Number(row.dataset.index);
    const start = word && word.dataset.start !== undefined ? Number(word.dataset.start) : segments[index].s;
    seek(start);
    root.focus({ preventScroll: true });
  });
  lines.addEventListener("dblclick", (event) => {
    const text = event.target.closest(".wk-text");
    if (text) openEditor(Number(text.dataset.segment));
  });
  wave.addEventListener("click", (event) => {
    const box = wave.getBoundingClientRect();
    seek(((event.clientX - box.left) / box.width) * (model.get("duration") || 0));
  });
  previous.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  back.addEventListener("click", () => skip(-SKIP_S));
  forward.addEventListener("click", () => skip(SKIP_S));
  play.addEventListener("click", toggle);
  speed.addEventListener("change", () => setSpeed(Number(speed.value)));
  loop.addEventListener("click", toggleLoop);
  unsureNext.addEventListener("click", () => jumpUnsure(1));
  undo.addEventListener("click", () => edit({ edit: "undo" }));
  redo.addEventListener("click", () => edit({ edit: "redo" }));
  helpButton.addEventListener("click", () => toggleHelp());
  search.addEventListener("input", applyFilter);
  speakerFilter.addEventListener("change", applyFilter);
  review.addEventListener("change", applyFilter);
  view.addEventListener("click", toggleTurns);
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
    const typing = tag === "TEXTAREA" || tag === "SELECT" || tag === "AUDIO"
      || (tag === "INPUT" && !["button", "checkbox"].includes(event.target.type));
    const key = event.key;
    if (event.ctrlKey || event.metaKey) {
      // Work while typing too: a transcriber's hands stay on the keyboard.
      const always = { " ": toggle, "[": () => skip(-SKIP_S), "]": () => skip(SKIP_S), ",": () => changeSpeed(-1),
        ".": () => changeSpeed(1) };
      const editing_keys = typing ? {} : { z: () => edit({ edit: event.shiftKey ? "redo" : "undo" }),
        Z: () => edit({ edit: "redo" }), y: () => edit({ edit: "redo" }) };
      const action = always[key] || editing_keys[key];
      if (action) {
        event.preventDefault();
        event.stopPropagation();
        action();
      } else if (typing) {
        event.stopPropagation();
      }
      return;
    }
    if (tag === "BUTTON" && (key === "Enter" || key === " ")) return; // the button's own click
    if (typing) {
      if (key === "Escape") root.focus();
      event.stopPropagation(); // typing a name, a search or a correction never triggers notebook shortcuts
      return;
    }
    const actions = { " ": toggle, ArrowDown: () => step(1), ArrowRight: () => step(1),
      ArrowUp: () => step(-1), ArrowLeft: () => step(-1), u: () => jumpUnsure(1), U: () => jumpUnsure(-1),
      l: toggleLoop, L: toggleLoop, "?": () => toggleHelp(), Escape: () => toggleHelp(false),
      Enter: () => openEditor(current >= 0 ? current : visible.indexOf(true)) };
    const action = actions[key];
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
  model.on("change:unsure_below", build);
  model.on("change:silence_s", build);
  model.on("change:can_undo", buildUndo);
  model.on("change:can_redo", buildUndo);
  model.on("change:speaker_names", refreshNames);
  model.on("change:export_formats", buildExport);
  model.on("msg:custom", received);
  model.on("change:peaks", () => draw(audio.currentTime || 0));
  model.on("change:audio_url", () => {
    audio.src = model.get("audio_url");
  });

  audio.src = model.get("audio_url");
  build();
  buildExport();
  hideStatic();

  return () => {
    if (model.off) model.off("msg:custom", received);
    cancelAnimationFrame(animation);
    resize.disconnect();
    audio.pause();
  };
}

export default { render };
