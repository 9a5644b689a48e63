/* otio-dub review page: timeline strip, lines table, listening and notes, from the embedded data.
   Positions are frames from the timeline start; timecode is the timeline's own (';' for drop-frame). */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("review-data").textContent);
  var LANE_H = 26, RULER_H = 22, ROW_H = 30, MAX_PPF = 12, J_STEP = 2;
  var STATUSES = ["fit", "padded", "borrowed", "overrun"];
  var FPS = D.rate[0] / D.rate[1], NOMINAL = Math.round(FPS);
  var lines = D.lines, byId = {};
  lines.forEach(function (l, i) { l.index = i; byId[l.id] = l; });
  var $ = function (s) { return document.querySelector(s); };
  var player = $("#player");
  var S = { ppf: 1, viewStart: 0, viewWidth: 800, playFrame: 0, sel: -1, source: "take", filtered: [],
            playing: null, jCount: 0, blocks: [], exts: [], };

  // ---------------------------------------------------------------- timecode
  function tcAbs(frame) {
    var f = Math.max(0, Math.round(frame));
    if (D.dropFrame) {  // SMPTE drop-frame: labels ;00 and ;01 (;00-;03 at 59.94) skipped each minute but every tenth
      var drop = Math.round(NOMINAL / 15), perMin = NOMINAL * 60 - drop, per10 = NOMINAL * 600 - drop * 9;
      var tens = Math.floor(f / per10), rest = f % per10;
      f += drop * 9 * tens + (rest > drop ? drop * Math.floor((rest - drop) / perMin) : 0);
    }
    var ff = f % NOMINAL, secs = Math.floor(f / NOMINAL);
    var p = function (n) { return (n < 10 ? "0" : "") + n; };
    return p(Math.floor(secs / 3600) % 24) + ":" + p(Math.floor(secs / 60) % 60) + ":" + p(secs % 60) +
      (D.dropFrame ? ";" : ":") + p(ff);
  }
  function tc(rel) { return tcAbs(D.startFrame + rel); }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(v, digits, suffix) { return v == null ? "" : v.toFixed(digits) + (suffix || ""); }

  // ---------------------------------------------------------------- notes (browser storage)
  var KEY = "otio-dub-review:" + location.pathname;
  var notes = {}, storageOk = true;
  try { notes = JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (e) { storageOk = false; notes = {}; }
  lines.forEach(function (l) {  // notes already put on the timeline by `otio-dub notes` show until changed here
    if (!notes[l.id] && l.timelineNote && (l.timelineNote.verdict || l.timelineNote.comment)) {
      var t = l.timelineNote;
      notes[l.id] = { verdict: t.verdict || null, comment: t.comment || "", take: t.take || l.key, text: t.text || "", rate: t.rate || null,
                      from: "timeline" };
    }
  });
  function saveNotes() {
    try { localStorage.setItem(KEY, JSON.stringify(notes)); storageOk = true; } catch (e) { storageOk = false; }
    renderNoteCount();
  }
  function noteOf(l) { return notes[l.id] || null; }
  function setNote(l, change) {
    var n = Object.assign({ verdict: null, comment: "", take: l.key }, notes[l.id] || {}, change);
    n.take = l.key; n.at = new Date().toISOString(); delete n.from;
    if (!n.verdict && !n.comment && !n.text && !n.rate) { delete notes[l.id]; } else { notes[l.id] = n; }
    saveNotes(); refreshLine(l.index);
  }
  function exportNotes() {
    var ordered = lines.filter(function (l) { return notes[l.id]; });
    var doc = {
      otio_dub_review: 1, timeline: D.timeline, otio_dub: D.otioDub, exported: new Date().toISOString(),
      redo: ordered.filter(function (l) { return notes[l.id].verdict === "redo"; }).map(function (l) { return l.id; }),
      approved: ordered.filter(function (l) { return notes[l.id].verdict === "approve"; }).map(function (l) { return l.id; }),
      notes: ordered.map(function (l) {
        var n = notes[l.id];
        var out = { id: l.id, verdict: n.verdict || null, comment: n.comment || "", take: n.take || "",
                    record_in: tc(l.in), character: l.character, lang: l.lang, line_text: l.text };
        if (n.text) { out.text = n.text; }
        if (n.rate) { out.rate = n.rate; }
        return out;
      })
    };
    return doc;
  }
  function downloadNotes() {
    var blob = new Blob([JSON.stringify(exportNotes(), null, 2) + "\n"], { type: "application/json" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = "review-notes.json";
    document.body.appendChild(a); a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  function importNotes(file) {
    file.text().then(function (text) {
      var doc = JSON.parse(text), count = 0;
      (doc.notes || []).forEach(function (n) {
        var l = byId[n.id];
        if (!l) { return; }
        notes[l.id] = { verdict: n.verdict || null, comment: n.comment || "", take: n.take || l.key, text: n.text || "",
                        rate: n.rate || null, at: new Date().toISOString() };
        count += 1;
      });
      saveNotes(); redrawRows(); renderStripClasses();
      $("#notes-count").textContent += " (loaded " + count + ")";
    }).catch(function (e) { $("#notes-count").textContent = "not a notes file: " + e.message; });
  }
  function renderNoteCount() {
    var a = 0, r = 0, c = 0;
    Object.keys(notes).forEach(function (id) {
      if (!byId[id]) { return; }
      var n = notes[id];
      if (n.verdict === "approve") { a += 1; } else if (n.verdict === "redo") { r += 1; } else { c += 1; }
    });
    $("#notes-count").textContent = a + " approved, " + r + " to redo" + (c ? ", " + c + " commented" : "") + ", " +
      (lines.length - a - r) + " open" + (storageOk ? "" : " (browser storage unavailable: download before closing)");
  }

  // ---------------------------------------------------------------- header
  function renderHeader() {
    var fpsText = (Math.abs(FPS - Math.round(FPS)) < 1e-9 ? String(Math.round(FPS)) : FPS.toFixed(3)) + " fps" +
      (D.dropFrame ? " DF" : (NOMINAL === 30 || NOMINAL === 60) && D.rate[1] === 1001 ? " NDF" : "");
    $("#programme").textContent = D.timeline;
    $("#facts").innerHTML = "<span>" + esc(fpsText) + "</span><span class='tc'>" + esc(D.start) + " &ndash; " + esc(D.end) +
      "</span><span>length <b class='tc'>" + esc(tcAbs(D.durationFrames)) + "</b></span><span>" +
      lines.length + " lines</span><span class='muted'>" + esc(Object.keys(D.engines).map(function (k) { return k + " " + D.engines[k]; }).join(", ")) + "</span>";
    var sum = D.summary || {};
    $("#counts").innerHTML = STATUSES.map(function (s) {
      return "<span class='chip'><i class='s-" + s + "'></i>" + s + " " + (sum[s] || 0) + "</span>";
    }).join("");
    $("#voices").innerHTML = Object.keys(D.voices).map(function (k) { return "<li><b>" + esc(k) + "</b> " + esc(D.voices[k]) + "</li>"; }).join("");
    var st = D.stems, target = st.target, limit = st.truePeakLimit;
    $("#loud-target").textContent = target == null ? "(loudness off)" : "target " + target + " LKFS, true peak \u2264 " + limit + " dBTP" +
      (st.setBy === "true_peak" || st.setBy === "true peak" ? " (level set by the true-peak limit)" : "");
    $("#stems tbody").innerHTML = st.files.map(function (f) {
      var dev = target != null && f.lkfs != null ? f.lkfs - target : null;
      var lk = dev == null ? "" : Math.abs(dev) <= 1 ? "ok" : "warn";
      var tp = limit != null && f.truePeak != null && f.truePeak > limit ? "bad" : "ok";
      return "<tr><td>" + esc(f.name) + (f.path ? "" : " <span class='muted'>(missing)</span>") + "</td><td class='" + lk + "' title='" +
        (dev == null ? "" : (dev >= 0 ? "+" : "") + dev.toFixed(1) + " LU from target") + "'>" + num(f.lkfs, 1) + "</td><td class='" + tp + "'>" +
        num(f.truePeak, 1) + "</td><td>" + num(f.lra, 1) + "</td><td>" + num(f.gain, 1) + "</td></tr>";
    }).join("");
    if (!D.dialogue) { document.querySelector("[data-source=dialogue]").disabled = true; }
  }

  // ---------------------------------------------------------------- timeline strip
  var scroller = $("#strip-scroll"), inner = $("#strip-inner"), view = $("#strip-view"), ruler = $("#ruler");
  var laneSvgs = [];
  function buildLanes() {
    var names = [], svgs = [];
    var perLane = D.lanes.map(function () { return []; });
    lines.forEach(function (l) {
      if (l.lane < 0) { return; }
      var y = 3, h = LANE_H - 6, cls = "s-" + l.status;
      perLane[l.lane].push("<rect class='block " + cls + (l.enabled ? "" : " off") + "' data-i='" + l.index + "' x='" + l.in + "' y='" + y +
        "' width='" + Math.max(l.out - l.in, 1) + "' height='" + h + "'><title>" + esc(l.id + "  " + tc(l.in) + "\n" + l.text) + "</title></rect>");
      if (l.clipOut > l.out) {  // borrowed or overrun: the part past the window, and the window's end
        perLane[l.lane].push("<rect class='ext " + cls + "' data-i='" + l.index + "' data-ext='1' x='" + l.out + "' y='" + (y + 4) + "' width='" +
          (l.clipOut - l.out) + "' height='" + (h - 8) + "'><title>" + esc(l.id + ": " + (l.note || l.status)) + "</title></rect>" +
          "<line class='edge' vector-effect='non-scaling-stroke' x1='" + l.out + "' x2='" + l.out + "' y1='1' y2='" + (LANE_H - 1) + "'></line>");
      }
    });
    D.origClips.forEach(function (c) {
      perLane[c[0]].push("<rect class='oclip' x='" + c[1] + "' y='5' width='" + Math.max(c[2] - c[1], 1) + "' height='" + (LANE_H - 10) +
        "'><title>" + esc(c[3] + "  " + tc(c[1]) + " - " + tc(c[2])) + "</title></rect>");
    });
    D.lanes.forEach(function (lane, i) {
      names.push("<div class='" + lane.kind + "' title='" + esc(lane.name) + "'>" + esc(lane.name) + (lane.enabled ? "" : " (off)") + "</div>");
      svgs.push("<svg class='" + lane.kind + "' data-lane='" + i + "' height='" + LANE_H +
        "' preserveAspectRatio='none'>" + perLane[i].join("") + "</svg>");
    });
    $("#lane-names").innerHTML = names.join("");
    $("#lanes").innerHTML = svgs.join("");
    laneSvgs = Array.prototype.slice.call(document.querySelectorAll("#lanes svg"));
    S.blocks = []; S.exts = [];
    document.querySelectorAll("#lanes .block").forEach(function (r) { S.blocks[+r.getAttribute("data-i")] = r; });
    document.querySelectorAll("#lanes .ext").forEach(function (r) { S.exts[+r.getAttribute("data-i")] = r; });
    view.style.height = (RULER_H + LANE_H * D.lanes.length) + "px";
    inner.style.height = view.style.height;
  }
  function fitPpf() { return S.viewWidth / Math.max(D.durationFrames, 1); }
  function layoutStrip() {
    S.viewWidth = Math.max(scroller.clientWidth, 100);
    S.ppf = Math.min(Math.max(S.ppf, fitPpf()), MAX_PPF);
    inner.style.width = Math.max(Math.ceil(D.durationFrames * S.ppf), S.viewWidth) + "px";
    view.style.width = S.viewWidth + "px";
    S.viewStart = scroller.scrollLeft / S.ppf;
    drawStrip();
  }
  function drawStrip() {
    var span = S.viewWidth / S.ppf, box = S.viewStart + " 0 " + span + " " + LANE_H;
    laneSvgs.forEach(function (svg) { svg.setAttribute("width", S.viewWidth); svg.setAttribute("viewBox", box); });
    drawRuler();
    drawPlayhead();
  }
  function drawRuler() {
    var dpr = window.devicePixelRatio || 1, w = S.viewWidth;
    ruler.width = Math.round(w * dpr); ruler.height = Math.round(RULER_H * dpr); ruler.style.width = w + "px"; ruler.style.height = RULER_H + "px";
    var g = ruler.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = "#1e2127"; g.fillRect(0, 0, w, RULER_H);
    var steps = [1, 2, 5, 10, NOMINAL, 2 * NOMINAL, 5 * NOMINAL, 10 * NOMINAL, 15 * NOMINAL, 30 * NOMINAL, 60 * NOMINAL,
                 120 * NOMINAL, 300 * NOMINAL, 600 * NOMINAL, 900 * NOMINAL, 1800 * NOMINAL, 3600 * NOMINAL];
    var step = steps[steps.length - 1];
    for (var i = 0; i < steps.length; i++) { if (steps[i] * S.ppf >= 92) { step = steps[i]; break; } }
    var minor = step >= 5 ? step / 5 : step;
    g.strokeStyle = "#4a505a"; g.fillStyle = "#a9b0bb"; g.font = "11px ui-monospace, Menlo, Consolas, monospace"; g.textBaseline = "top";
    var absStart = D.startFrame + S.viewStart, end = absStart + w / S.ppf;
    g.beginPath();
    for (var m = Math.ceil(absStart / minor) * minor; m <= end; m += minor) {
      var x = Math.round((m - absStart) * S.ppf) + 0.5, major = m % step === 0;
      g.moveTo(x, major ? 0 : RULER_H - 6); g.lineTo(x, RULER_H);
      if (major) { g.fillText(tcAbs(m), x + 3, 3); }
    }
    g.stroke();
  }
  function drawPlayhead() {
    var x = (S.playFrame - S.viewStart) * S.ppf;
    var ph = $("#playhead");
    ph.style.left = x + "px";
    ph.style.display = x < -2 || x > S.viewWidth + 2 ? "none" : "block";
    $("#tc").textContent = tc(Math.floor(S.playFrame));
  }
  function frameAtClientX(clientX) {
    return Math.max(0, Math.min(D.durationFrames, S.viewStart + (clientX - view.getBoundingClientRect().left) / S.ppf));
  }
  function zoom(factor, anchorFrame) {
    var anchor = anchorFrame == null ? S.playFrame : anchorFrame;
    var screenX = (anchor - S.viewStart) * S.ppf;
    if (screenX < 0 || screenX > S.viewWidth) { screenX = S.viewWidth / 2; }
    S.ppf = factor === 0 ? fitPpf() : Math.min(Math.max(S.ppf * factor, fitPpf()), MAX_PPF);
    inner.style.width = Math.max(Math.ceil(D.durationFrames * S.ppf), S.viewWidth) + "px";
    scroller.scrollLeft = Math.max(0, anchor * S.ppf - screenX);
    S.viewStart = scroller.scrollLeft / S.ppf;
    drawStrip();
  }
  function reveal(frameIn, frameOut) {  // scroll the strip so [in, out) is in view
    var span = S.viewWidth / S.ppf;
    if (frameIn >= S.viewStart && frameOut <= S.viewStart + span) { return; }
    scroller.scrollLeft = Math.max(0, (frameIn - span * 0.2) * S.ppf);
    S.viewStart = scroller.scrollLeft / S.ppf;
    drawStrip();
  }
  function renderStripClasses() {
    var shown = {};
    S.filtered.forEach(function (i) { shown[i] = true; });
    lines.forEach(function (l, i) {
      var b = S.blocks[i];
      if (!b) { return; }
      b.classList.toggle("dim", !shown[i]);
      b.classList.toggle("sel", i === S.sel);
      if (S.exts[i]) { S.exts[i].classList.toggle("dim", !shown[i]); }
    });
  }

  // ---------------------------------------------------------------- speed chart
  // One canvas (an SVG of a feature's 1,200 points cost every frame of table scrolling to repaint)
  var COLORS = {}, chartPoints = [];
  ["fit", "padded", "borrowed", "overrun", "muted"].forEach(function (k) {
    COLORS[k] = getComputedStyle(document.documentElement).getPropertyValue("--" + k).trim() || "#888";
  });
  function drawChart() {
    var canvas = $("#chart"), dpr = window.devicePixelRatio || 1, w = Math.max(canvas.clientWidth, 300), h = 120;
    var L = 48, R = 10, T = 8, B = 18, pol = D.policy || {}, hi = pol.max_speedup || 1.25, lo = pol.max_slowdown || 0.9;
    var top = hi + 0.15, bottom = Math.min(lo - 0.1, 0.8);
    lines.forEach(function (l) {
      if (l.speed != null) { bottom = Math.min(bottom, l.speed - 0.05); top = Math.max(top, l.speed + 0.05); }
      if (l.status === "overrun" && l.needed != null) { top = Math.max(top, Math.min(l.needed, 3) + 0.05); }
    });
    var X = function (f) { return L + (w - L - R) * f / Math.max(D.durationFrames, 1); };
    var Y = function (v) { return T + (h - T - B) * (top - v) / (top - bottom); };
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); canvas.style.height = h + "px";
    var g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    var hline = function (y, color, dash) { g.strokeStyle = color; g.setLineDash(dash); g.beginPath(); g.moveTo(L, y + 0.5); g.lineTo(w - R, y + 0.5); g.stroke(); };
    g.lineWidth = 1;
    hline(h - B, "#3a3f48", []); hline(Y(hi), COLORS.overrun, [5, 4]); hline(Y(lo), COLORS.overrun, [5, 4]); hline(Y(1), "#5b616c", [2, 3]);
    g.setLineDash([]); g.beginPath(); g.moveTo(L + 0.5, T); g.lineTo(L + 0.5, h - B); g.stroke();
    g.fillStyle = COLORS.muted; g.font = "11px system-ui, sans-serif"; g.textAlign = "right"; g.textBaseline = "middle";
    g.fillText(hi.toFixed(2) + "x", L - 4, Y(hi)); g.fillText(lo.toFixed(2) + "x", L - 4, Y(lo));
    if (Math.min(Math.abs(Y(1) - Y(lo)), Math.abs(Y(1) - Y(hi))) > 11) { g.fillText("1.00x", L - 4, Y(1)); }
    g.textBaseline = "alphabetic"; g.textAlign = "left"; g.fillText(D.start, L, h - 4);
    g.textAlign = "right"; g.fillText(D.end, w - R, h - 4);
    chartPoints = [];
    lines.forEach(function (l) {
      if (l.speed == null) { return; }
      var x = X((l.in + l.out) / 2), y = Y(l.speed);
      if (l.status === "overrun" && l.needed != null && l.needed > l.speed) {
        var yn = Y(Math.min(l.needed, 3));
        g.strokeStyle = COLORS.overrun; g.lineWidth = 1;
        g.beginPath(); g.moveTo(x, y); g.lineTo(x, yn); g.stroke();
        g.lineWidth = 1.5; g.beginPath(); g.arc(x, yn, 4, 0, 2 * Math.PI); g.stroke();
        chartPoints.push([x, yn, l.index]);
      }
      g.fillStyle = COLORS[l.status] || COLORS.muted; g.strokeStyle = "rgba(0,0,0,.6)"; g.lineWidth = 1;
      g.beginPath(); g.arc(x, y, 3.5, 0, 2 * Math.PI); g.fill(); g.stroke();
      chartPoints.push([x, y, l.index]);
    });
    var sel = chartPoints.filter(function (p) { return p[2] === S.sel; }).pop();  // its speed, not what it needed
    if (sel) { g.strokeStyle = "#fff"; g.lineWidth = 2; g.beginPath(); g.arc(sel[0], sel[1], 5, 0, 2 * Math.PI); g.stroke(); }
    $("#chart-legend").textContent = "total speed against natural pace; dashed: the bounds " + lo + "x and " + hi + "x; hollow: what an overrun needed";
  }
  function chartPointAt(clientX, clientY) {  // the line whose point is nearest (within 7 px), or -1
    var box = $("#chart").getBoundingClientRect(), x = clientX - box.left, y = clientY - box.top, best = -1, dist = 49;
    chartPoints.forEach(function (p) {
      var d = (p[0] - x) * (p[0] - x) + (p[1] - y) * (p[1] - y);
      if (d < dist) { dist = d; best = p[2]; }
    });
    return best;
  }

  // ---------------------------------------------------------------- lines table (virtualised)
  var rowsScroll = $("#rows-scroll"), rowsInner = $("#rows-inner");
  function buildFilters() {
    $("#status-filter").innerHTML = STATUSES.map(function (s) {
      return "<label><input type='checkbox' value='" + s + "' checked> <span class='chip'><i class='s-" + s + "'></i>" + s + "</span></label>";
    }).join("");
    var chars = {};
    lines.forEach(function (l) { chars[l.character] = true; });
    $("#character-filter").innerHTML += Object.keys(chars).sort().map(function (c) { return "<option>" + esc(c) + "</option>"; }).join("");
  }
  function applyFilters() {
    var statuses = {};
    document.querySelectorAll("#status-filter input").forEach(function (c) { statuses[c.value] = c.checked; });
    var who = $("#character-filter").value, verdict = $("#verdict-filter").value, q = $("#search").value.trim().toLowerCase();
    S.filtered = [];
    lines.forEach(function (l, i) {
      if (statuses[l.status] === false) { return; }
      if (who && l.character !== who) { return; }
      var n = notes[l.id], v = n && n.verdict ? n.verdict : "none";
      if (verdict && v !== verdict) { return; }
      if (q && (l.id + " " + l.text + " " + l.character + " " + l.note + " " + (n ? n.comment : "")).toLowerCase().indexOf(q) < 0) { return; }
      S.filtered.push(i);
    });
    $("#row-count").textContent = S.filtered.length + " of " + lines.length + " lines";
    rowsInner.style.height = (S.filtered.length * ROW_H) + "px";
    renderRows();
    renderStripClasses();
  }
  // Waveform thumbnails: every take drawn once into one sprite image; a row shows its tile as a background
  // (a canvas per row cost more to create than the rest of the row together).
  var LEVELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", WAVE_W = 96, WAVE_H = 24;
  var SPRITE_COLS = Math.max(1, Math.ceil(lines.length * WAVE_H / 16000 / 16)) * 16;  // sprite under 16,000 px tall
  function wave(l) {
    if (!l.peaks) { return "<span class='muted'>no media</span>"; }
    return "<div class='wave' style='background-position:-" + (l.index % SPRITE_COLS) * WAVE_W + "px -" +
      Math.floor(l.index / SPRITE_COLS) * WAVE_H + "px'></div>";
  }
  function buildSprite() {
    var dpr = window.devicePixelRatio || 1, rows = Math.ceil(lines.length / SPRITE_COLS), c = document.createElement("canvas");
    c.width = SPRITE_COLS * WAVE_W * dpr; c.height = Math.max(rows, 1) * WAVE_H * dpr;
    var g = c.getContext("2d"), mid = WAVE_H / 2;
    g.scale(dpr, dpr);
    lines.forEach(function (l) {
      if (!l.peaks) { return; }
      var x0 = (l.index % SPRITE_COLS) * WAVE_W, y0 = Math.floor(l.index / SPRITE_COLS) * WAVE_H, n = l.peaks.length;
      g.fillStyle = "rgba(255,255,255,.06)"; g.fillRect(x0, y0, WAVE_W, WAVE_H);
      g.fillStyle = "#9fb3c8";
      for (var i = 0; i < n; i++) {
        var v = Math.max(LEVELS.indexOf(l.peaks[i]) / 63, 0.03) * mid;
        g.fillRect(x0 + i * WAVE_W / n, y0 + mid - v, WAVE_W / n + 0.3, 2 * v);
      }
    });
    c.toBlob(function (blob) {
      if (!blob) { return; }
      var style = document.createElement("style");
      style.textContent = ".wave { background-image: url(" + URL.createObjectURL(blob) + "); background-size: " + SPRITE_COLS * WAVE_W + "px auto; }";
      document.head.appendChild(style);
    });
  }
  function rowHtml(i, pos) {
    var l = lines[i], n = notes[l.id], v = n && n.verdict;
    var stale = n && n.take && n.take !== l.key;
    var speechCls = l.speech != null && l.window != null && l.speech > l.window + 0.0005 ? " over" : "";
    return "<div class='row grid" + (i === S.sel ? " sel" : "") + "' data-i='" + i + "' style='top:" + (pos * ROW_H) + "px'>" +
      "<span title='" + esc(l.id) + "'>" + esc(l.id) + "</span><span class='tc'>" + tc(l.in) + "</span><span class='tc'>" + tc(l.out) + "</span>" +
      "<span>" + esc(l.character) + "</span><span>" + esc(l.lang) + "</span><span title='" + esc(l.text) + "'>" + esc(l.text) + "</span>" +
      "<span class='num" + speechCls + "'>" + num(l.window, 2) + " / " + num(l.speech, 2) + "</span><span class='num'>" + num(l.speed, 2, "x") +
      "</span><span class='num'>" + num(l.stretch, 3) + "</span><span class='num'>" + (l.passes == null ? "" : esc(l.passes)) +
      "</span><span><span class='st s-" + esc(l.status) + "'>" + esc(l.status) + "</span></span><span title='" + esc(l.note) + "'>" + esc(l.note) +
      "</span><span>" + wave(l) + "</span><span class='" + (v ? "v-" + v : "") + (n && n.comment ? " has-comment" : "") + "' title='" +
      esc(n ? n.comment : "") + "'>" + (v === "approve" ? "approved" : v === "redo" ? "redo" : "") + (stale ? " *" : "") + "</span></div>";
  }
  var rowEls = {}, rowTemplate = document.createElement("template");  // line index -> its row, while on screen
  function renderRows() {  // rows still on screen are kept (moved if the filter changed): only new ones are built
    var first = Math.max(0, Math.floor(rowsScroll.scrollTop / ROW_H) - 4);
    var last = Math.min(S.filtered.length, first + Math.ceil(rowsScroll.clientHeight / ROW_H) + 8);
    S.rowsDrawn = [first, last];
    var keep = {}, html = [];
    for (var p = first; p < last; p++) {
      var i = S.filtered[p], el = rowEls[i];
      keep[i] = true;
      if (!el) { html.push(rowHtml(i, p)); continue; }
      if (el.pos !== p) { el.style.top = (p * ROW_H) + "px"; el.pos = p; }
      el.classList.toggle("sel", i === S.sel);
    }
    Object.keys(rowEls).forEach(function (k) { if (!keep[k]) { rowEls[k].remove(); delete rowEls[k]; } });
    if (!html.length) { return; }
    rowTemplate.innerHTML = html.join("");
    var fresh = Array.prototype.slice.call(rowTemplate.content.children);
    fresh.forEach(function (row) { row.pos = Math.round(parseFloat(row.style.top) / ROW_H); rowEls[+row.getAttribute("data-i")] = row; });
    rowsInner.appendChild(rowTemplate.content);
  }
  function redrawRows() {
    Object.keys(rowEls).forEach(function (k) { rowEls[k].remove(); });
    rowEls = {};
    renderRows();
  }
  function refreshLine(i) {
    if (rowEls[i]) { rowEls[i].remove(); delete rowEls[i]; }
    renderRows();
    if (i === S.sel) { renderDetail(); }
  }
  function revealRow(i) {
    var pos = S.filtered.indexOf(i);
    if (pos < 0) { return; }
    var y = pos * ROW_H;
    if (y < rowsScroll.scrollTop) { rowsScroll.scrollTop = y; } else if (y + ROW_H > rowsScroll.scrollTop + rowsScroll.clientHeight) {
      rowsScroll.scrollTop = y + ROW_H - rowsScroll.clientHeight;
    }
  }

  // ---------------------------------------------------------------- selection and detail
  function select(i, opts) {
    opts = opts || {};
    if (i < 0 || i >= lines.length) { return; }
    var prev = S.sel;
    S.sel = i;
    var l = lines[i];
    if (S.blocks[prev]) { S.blocks[prev].classList.remove("sel"); }
    if (S.blocks[i]) { S.blocks[i].classList.add("sel"); }
    drawChart();
    if (!opts.keepRows) { revealRow(i); }
    renderRows();
    if (player.paused) { S.playFrame = l.in; }
    reveal(l.in, l.clipOut);
    drawPlayhead();
    renderDetail();
    $("#detail").scrollTop = 0;
  }
  function renderDetail() {
    var l = lines[S.sel];
    $("#detail-empty").hidden = !!l; $("#detail-body").hidden = !l;
    if (!l) { return; }
    var n = notes[l.id] || {};
    $("#d-id").innerHTML = esc(l.id) + " <span class='st s-" + esc(l.status) + "' style='color:#111;padding:0 6px;border-radius:3px;font-size:11px'>" + esc(l.status) + "</span>";
    $("#d-tc").textContent = tc(l.in) + " \u2013 " + tc(l.out) + (l.clipOut > l.out ? "  (clip to " + tc(l.clipOut) + ")" : "");
    $("#d-text").textContent = l.character + " (" + l.lang + "): " + l.text;
    var rows = [["voice", l.voice + (l.emotion ? ", " + l.emotion : "")], ["window / speech", num(l.window, 3, " s") + " / " + num(l.speech, 3, " s")],
      ["natural", num(l.natural, 3, " s")], ["needed", num(l.needed, 3, "x")], ["speed", num(l.speed, 3, "x") + " (rate " + num(l.rate, 3) + ", stretch " + num(l.stretch, 3) + ")"],
      ["passes", l.passes == null ? "" : String(l.passes)], ["onset / offset", l.onset == null ? "\u2013" : num(l.onset, 1, " ms") + " / " + num(l.offset, 1, " ms")],
      ["borrowed", l.borrowed ? num(l.borrowed, 0, " ms") : "\u2013"], ["advice", l.note || "\u2013"]];
    $("#d-figures").innerHTML = rows.map(function (r) { return "<dt>" + esc(r[0]) + "</dt><dd>" + esc(r[1]) + "</dd>"; }).join("");
    $("#d-take").disabled = !l.media; $("#d-orig").disabled = !l.orig;
    $("#d-orig").title = l.orig ? "Play the original under the line" : "No readable original media under this line";
    $("#d-approve").classList.toggle("on", n.verdict === "approve");
    $("#d-redo").classList.toggle("on", n.verdict === "redo");
    if (document.activeElement !== $("#d-comment")) { $("#d-comment").value = n.comment || ""; }
    if (document.activeElement !== $("#d-newtext")) { $("#d-newtext").value = n.text || ""; }
    if (document.activeElement !== $("#d-rate")) { $("#d-rate").value = n.rate || ""; }
    $("#d-stale").hidden = !(n.take && n.take !== l.key);
  }
  function step(delta) {
    if (!S.filtered.length) { return; }
    var pos = S.filtered.indexOf(S.sel);
    pos = pos < 0 ? (delta > 0 ? 0 : S.filtered.length - 1) : Math.min(Math.max(pos + delta, 0), S.filtered.length - 1);
    var wasLine = S.playing && S.playing.line != null && !player.paused;
    select(S.filtered[pos]);
    if (wasLine) { playLine(S.sel, S.playing.kind); }
  }

  // ---------------------------------------------------------------- listening
  function setSource(kind) {
    S.source = kind;
    document.querySelectorAll("#source-pick button").forEach(function (b) { b.classList.toggle("on", b.getAttribute("data-source") === kind); });
  }
  function mediaUrl(path) {  // a relative path as a URL: '#', '?' or '%' in a name must not cut it short
    return path.split("/").map(encodeURIComponent).join("/");
  }
  function start(src, fromSec, playing, label) {
    S.playing = playing;
    if (player.getAttribute("src") !== mediaUrl(src)) { player.src = mediaUrl(src); }
    player.playbackRate = 1;
    player.currentTime = fromSec;
    $("#now-playing").textContent = label;
    var p = player.play();
    if (p && p.catch) {
      p.catch(function (e) {  // AbortError: another line was picked before this one started, nothing wrong
        if (e.name !== "AbortError") { $("#now-playing").textContent = "cannot play " + src + ": " + e.message; }
      });
    }
    $("#play").innerHTML = "&#10073;&#10073;";
  }
  function playLine(i, kind, fromSec) {
    var l = lines[i];
    if (!l) { return; }
    kind = kind === "orig" && l.orig ? "orig" : "take";
    if (kind === "take" && !l.media) { $("#now-playing").textContent = l.id + ": no take media"; return; }
    setSource(kind);
    start(kind === "orig" ? l.orig : l.media, fromSec || 0, { kind: kind, line: i, base: l.in },
      (kind === "orig" ? "original under " : "take ") + l.id);
  }
  function playDialogue(fromFrame) {
    if (!D.dialogue) { $("#now-playing").textContent = "no DIALOGUE stem in this dub"; return; }
    setSource("dialogue");
    start(D.dialogue, Math.max(0, fromFrame) / FPS, { kind: "dialogue", line: null, base: 0 }, "DIALOGUE stem");
  }
  function playCurrent() {
    if (S.source === "dialogue" || S.sel < 0) { playDialogue(S.playFrame); return; }
    var l = lines[S.sel], inside = S.playFrame >= l.in && S.playFrame < l.clipOut;
    playLine(S.sel, S.source, inside ? (S.playFrame - l.in) / FPS : 0);
  }
  function togglePlay() {
    if (!player.paused) { player.pause(); return; }
    playCurrent();
  }
  function ab() {
    if (S.sel < 0) { return; }
    var t = S.playing && S.playing.line === S.sel && S.playing.kind !== "dialogue" ? player.currentTime : 0;
    var next = S.source === "orig" ? "take" : "orig", l = lines[S.sel];
    if (next === "orig" && !l.orig) { $("#now-playing").textContent = l.id + ": no original media to compare"; return; }
    if (player.paused) { setSource(next); return; }
    playLine(S.sel, next, t);
  }
  function shuttleBack() {
    S.jCount += 1;
    var back = J_STEP * S.jCount;
    if (!player.paused) {
      player.currentTime = Math.max(0, player.currentTime - back);
    } else {
      S.playFrame = Math.max(0, S.playFrame - back * FPS); drawPlayhead();
    }
  }
  function shuttleForward() {
    S.jCount = 0;
    if (player.paused) { playCurrent(); return; }
    player.playbackRate = player.playbackRate >= 2 ? 2 : player.playbackRate + 0.5;
    $("#now-playing").textContent = $("#now-playing").textContent.replace(/ \(\S+x\)$/, "") + " (" + player.playbackRate + "x)";
  }
  var ticking = false;
  function tick() {  // the playhead follows the audio while it plays; an idle page asks for no frames
    if (!S.playing || player.paused) { ticking = false; return; }
    S.playFrame = S.playing.base + player.currentTime * FPS;
    var x = (S.playFrame - S.viewStart) * S.ppf;
    if (x > S.viewWidth * 0.92 || x < 0) { scroller.scrollLeft = Math.max(0, (S.playFrame - S.viewWidth * 0.1 / S.ppf) * S.ppf); }
    drawPlayhead();
    requestAnimationFrame(tick);
  }
  player.addEventListener("playing", function () { if (!ticking) { ticking = true; requestAnimationFrame(tick); } });
  player.addEventListener("pause", function () { $("#play").innerHTML = "&#9654;"; S.jCount = 0; });
  player.addEventListener("error", function () {
    $("#now-playing").textContent = "cannot play " + (player.getAttribute("src") || "") + " (missing or unreadable)";
  });

  // ---------------------------------------------------------------- events
  function wire() {
    scroller.addEventListener("scroll", function () { S.viewStart = scroller.scrollLeft / S.ppf; drawStrip(); }, { passive: true });
    scroller.addEventListener("wheel", function (e) {
      if (e.ctrlKey || e.metaKey) { e.preventDefault(); zoom(e.deltaY < 0 ? 1.25 : 0.8, frameAtClientX(e.clientX)); }
    }, { passive: false });
    $("#lanes").addEventListener("click", function (e) {
      var i = e.target.getAttribute && e.target.getAttribute("data-i");
      if (i != null) { select(+i); playLine(+i, S.source === "orig" ? "orig" : "take"); return; }
      if (!player.paused) { player.pause(); }
      S.playFrame = frameAtClientX(e.clientX); drawPlayhead();
    });
    ruler.addEventListener("click", function (e) {
      S.playFrame = frameAtClientX(e.clientX); drawPlayhead();
      if (!player.paused || S.source === "dialogue") { playDialogue(S.playFrame); }
    });
    $("#chart").addEventListener("click", function (e) {
      var i = chartPointAt(e.clientX, e.clientY);
      if (i >= 0) { select(i); }
    });
    $("#chart").addEventListener("mousemove", function (e) {
      var i = chartPointAt(e.clientX, e.clientY), l = lines[i];
      e.target.title = l ? l.id + "  " + tc(l.in) + "  " + num(l.speed, 2, "x") + (l.needed != null ? ", needed " + num(l.needed, 2, "x") : "") : "";
      e.target.style.cursor = l ? "pointer" : "default";
    });
    rowsScroll.addEventListener("scroll", function () {  // redraw only when other rows come into view
      if (!S.rowsDrawn || Math.max(0, Math.floor(rowsScroll.scrollTop / ROW_H) - 4) !== S.rowsDrawn[0]) { renderRows(); }
    }, { passive: true });
    rowsInner.addEventListener("click", function (e) {
      var row = e.target.closest(".row");
      if (!row) { return; }
      var i = +row.getAttribute("data-i");
      select(i, { keepRows: true });
      playLine(i, S.source === "orig" ? "orig" : "take");
    });
    $("#filters").addEventListener("input", applyFilters);
    $("#filters").addEventListener("change", applyFilters);
    $("#play").addEventListener("click", togglePlay);
    $("#ab").addEventListener("click", ab);
    document.querySelectorAll("#source-pick button").forEach(function (b) {
      b.addEventListener("click", function () {
        var kind = b.getAttribute("data-source");
        if (kind === "dialogue") { playDialogue(S.playFrame); } else if (S.sel >= 0) { playLine(S.sel, kind); } else { setSource(kind); }
      });
    });
    $("#zoom-in").addEventListener("click", function () { zoom(1.6); });
    $("#zoom-out").addEventListener("click", function () { zoom(1 / 1.6); });
    $("#zoom-fit").addEventListener("click", function () { zoom(0); });
    $("#help-btn").addEventListener("click", function () { $("#help").hidden = !$("#help").hidden; });
    $("#d-take").addEventListener("click", function () { playLine(S.sel, "take"); });
    $("#d-orig").addEventListener("click", function () { playLine(S.sel, "orig"); });
    document.querySelectorAll("#detail .verdict [data-verdict]").forEach(function (b) {
      b.addEventListener("click", function () {
        var l = lines[S.sel], v = b.getAttribute("data-verdict");
        if (l) { setNote(l, { verdict: (notes[l.id] || {}).verdict === v ? null : v }); }
      });
    });
    $("#d-clear").addEventListener("click", function () {
      var l = lines[S.sel];
      if (l) { delete notes[l.id]; saveNotes(); $("#d-comment").value = $("#d-newtext").value = $("#d-rate").value = ""; refreshLine(l.index); }
    });
    $("#d-comment").addEventListener("input", function () { var l = lines[S.sel]; if (l) { setNote(l, { comment: $("#d-comment").value }); } });
    $("#d-newtext").addEventListener("input", function () { var l = lines[S.sel]; if (l) { setNote(l, { text: $("#d-newtext").value.trim() }); } });
    $("#d-rate").addEventListener("change", function () {
      var l = lines[S.sel], v = parseFloat($("#d-rate").value);
      if (l) { setNote(l, { rate: v >= 0.5 && v <= 2 ? Math.round(v * 100) / 100 : null }); }
    });
    $("#export").addEventListener("click", downloadNotes);
    $("#import").addEventListener("change", function (e) { if (e.target.files[0]) { importNotes(e.target.files[0]); } });
    window.addEventListener("resize", function () { layoutStrip(); drawChart(); renderRows(); });
    document.addEventListener("keydown", onKey);
  }
  function onKey(e) {
    var tag = e.target && e.target.tagName;
    if (tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT") {
      if (e.key === "Escape") { e.target.blur(); }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var k = e.key.length === 1 ? e.key.toLowerCase() : e.key, l = lines[S.sel];
    var actions = {
      " ": togglePlay, "k": function () { player.pause(); S.jCount = 0; }, "l": shuttleForward, "j": shuttleBack,
      "ArrowDown": function () { step(1); }, "ArrowUp": function () { step(-1); },
      "Enter": function () { if (S.sel >= 0) { playLine(S.sel, "take"); } }, "a": ab, "d": function () { playDialogue(S.playFrame); },
      "+": function () { zoom(1.6); }, "=": function () { zoom(1.6); }, "-": function () { zoom(1 / 1.6); }, "0": function () { zoom(0); },
      "1": function () { if (l) { setNote(l, { verdict: "approve" }); } }, "2": function () { if (l) { setNote(l, { verdict: "redo" }); } },
      "c": function () { if (l) { $("#d-comment").focus(); } },
      "Home": function () { S.playFrame = 0; reveal(0, 1); drawPlayhead(); }
    };
    if (actions[k]) { e.preventDefault(); actions[k](); }
  }

  // ---------------------------------------------------------------- start
  renderHeader();
  buildLanes();
  buildFilters();
  wire();
  layoutStrip();
  zoom(0);
  drawChart();
  applyFilters();
  renderNoteCount();
  renderDetail();
  setTimeout(buildSprite, 0);  // after the first paint: the page is usable before its thumbnails are
  window.otioDubReview = { readyMs: performance.now(), chartPoints: function () { return chartPoints; }, data: D, state: S, tc: tc, tcAbs: tcAbs, select: select, exportNotes: exportNotes, notes: function () { return notes; } };
  document.documentElement.setAttribute("data-ready", "1");
})();
