/* otio-dub studio: the editing mode `otio-dub studio` adds to the review page (the page from disk never has it).
   Per line: change text, voice, emotion, pace or window; Speak (or Enter) plays the refitted take; A current take,
   B original, C.. the tries; choose one, Keep writes the chosen takes into the dub, Undo puts the dub back. */
(function () {
  "use strict";
  var R = window.otioDubReview;
  if (!R || location.protocol.indexOf("http") !== 0) { return; }
  var D = R.data, lines = D.lines, S = R.state, player = document.getElementById("player");
  var state = { tries: {}, chosen: {}, writable: true, folder: "", canUndo: false };
  var css = "#studio{border-top:1px solid #444;margin-top:8px;padding-top:6px}#studio label{display:block;font-size:11px;color:#a9b0bb;margin-top:4px}" +
    "#studio input,#studio select{width:100%;box-sizing:border-box}#studio .row2{display:flex;gap:6px}#studio .row2>*{flex:1}" +
    "#studio-tries li{list-style:none;margin:2px 0}#studio-tries{padding:0;margin:4px 0}#studio-bar{margin-left:8px}" +
    "#studio-msg{font-size:12px}#studio-msg.err{color:#f66}";
  var style = document.createElement("style"); style.textContent = css; document.head.appendChild(style);

  function api(path, body) {
    var opts = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    return fetch(path, opts).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) { throw new Error(j.error || r.statusText); } return j; });
    });
  }
  function msg(text, err) { var m = document.getElementById("studio-msg"); m.textContent = text; m.className = err ? "err" : "muted"; }
  function play(url, label) {
    player.src = url; player.currentTime = 0;
    var p = player.play(); if (p && p.catch) { p.catch(function () {}); }
    document.getElementById("now-playing").textContent = label;
  }

  var bar = document.createElement("span"); bar.id = "studio-bar";
  bar.innerHTML = "<button type='button' id='studio-keep' title='Write the chosen takes into the dub'>Keep chosen</button> " +
    "<button type='button' id='studio-undo' title='Put back the dub as it was before the last keep'>Undo keep</button> " +
    "<span id='studio-folder' class='muted'></span>";
  document.getElementById("transport").appendChild(bar);
  var box = document.createElement("div"); box.id = "studio";
  box.innerHTML = "<h2>Studio</h2>" +
    "<label for='studio-text'>Text (Enter: speak)</label><input id='studio-text' type='text' maxlength='1000'>" +
    "<div class='row2'><div><label for='studio-voice'>Voice</label><input id='studio-voice' type='text' placeholder='as cast'></div>" +
    "<div><label for='studio-emotion'>Emotion</label><input id='studio-emotion' type='text' placeholder='as the line'></div></div>" +
    "<div class='row2'><div><label for='studio-pace'>Pace (x)</label><input id='studio-pace' type='number' min='0.5' max='2' step='0.05' value='1'></div>" +
    "<div><label for='studio-in'>In (frame)</label><input id='studio-in' type='number' step='1'></div>" +
    "<div><label for='studio-out'>Out (frame)</label><input id='studio-out' type='number' step='1'></div></div>" +
    "<div class='buttons'><button type='button' id='studio-speak'>Speak</button> <button type='button' id='studio-a'>A take</button> " +
    "<button type='button' id='studio-b'>B original</button></div><ul id='studio-tries'></ul><div id='studio-msg' class='muted'></div>";
  document.getElementById("detail-body").appendChild(box);

  var shown = -1;
  function fill() {
    var l = lines[S.sel];
    if (!l) { return; }
    shown = S.sel;
    document.getElementById("studio-text").value = l.text;
    document.getElementById("studio-voice").value = "";
    document.getElementById("studio-emotion").value = l.emotion || "";
    document.getElementById("studio-pace").value = "1";
    document.getElementById("studio-in").value = l.in; document.getElementById("studio-out").value = l.out;
    renderTries();
  }
  function renderTries() {
    var l = lines[S.sel], ul = document.getElementById("studio-tries");
    if (!l) { ul.innerHTML = ""; return; }
    var tries = state.tries[l.id] || [], chosen = state.chosen[l.id];
    ul.innerHTML = tries.map(function (t, i) {
      var letter = String.fromCharCode(67 + i);
      return "<li><button type='button' data-play='" + i + "'>" + letter + " try " + t.take + "</button> " + t.status + " " +
        t.seconds.toFixed(2) + " s <label style='display:inline'><input type='radio' name='studio-choice' data-take='" + t.take + "'" +
        (chosen === t.take ? " checked" : "") + "> keep this</label></li>";
    }).join("");
    ul.querySelectorAll("[data-play]").forEach(function (b) {
      b.addEventListener("click", function () { var t = tries[+b.getAttribute("data-play")]; play(t.url, l.id + ": try " + t.take); });
    });
    ul.querySelectorAll("[data-take]").forEach(function (r) {
      r.addEventListener("change", function () {
        api("api/choose", { id: l.id, take: +r.getAttribute("data-take") }).then(setState).catch(function (e) { msg(e.message, true); });
      });
    });
  }
  function setState(s) {
    state = s;
    document.getElementById("studio-folder").textContent = s.writable ? "" : s.folder;
    document.getElementById("studio-keep").disabled = !s.writable || !Object.keys(s.chosen).length;
    document.getElementById("studio-undo").disabled = !s.writable || !s.canUndo;
    renderTries();
    return s;
  }
  function speak() {
    var l = lines[S.sel];
    if (!l) { return; }
    var body = { id: l.id, text: document.getElementById("studio-text").value, pace: parseFloat(document.getElementById("studio-pace").value) || 1,
                 "in": parseInt(document.getElementById("studio-in").value, 10), out: parseInt(document.getElementById("studio-out").value, 10) };
    var voice = document.getElementById("studio-voice").value.trim(), emotion = document.getElementById("studio-emotion").value.trim();
    if (voice) { var parts = voice.split(/\s+/); if (parts.length > 1) { body.engine = parts[0]; body.voice = parts[1]; } else { body.voice = parts[0]; } }
    body.emotion = emotion;
    var t0 = performance.now();
    msg("speaking...");
    api("api/speak", body).then(function (t) {
      play(t.url, l.id + ": try " + t.take);
      msg("try " + t.take + " (" + t.status + ") in " + Math.round(performance.now() - t0) + " ms");
      return api("api/state").then(setState);
    }).catch(function (e) { msg(e.message, true); });
  }
  function keep() {
    msg("keeping...");
    api("api/keep", {}).then(function (s) { setState(s); msg("kept " + s.kept.join(", ") + ": reloading"); location.reload(); })
      .catch(function (e) { msg(e.message, true); api("api/state").then(setState); });
  }
  function undo() {
    api("api/undo", {}).then(function () { location.reload(); }).catch(function (e) { msg(e.message, true); });
  }
  document.getElementById("studio-speak").addEventListener("click", speak);
  document.getElementById("studio-text").addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); speak(); } });
  document.getElementById("studio-a").addEventListener("click", function () { var l = lines[S.sel]; if (l && l.media) { play(l.media, l.id + ": current take"); } });
  document.getElementById("studio-b").addEventListener("click", function () { var l = lines[S.sel]; if (l && l.orig) { play(l.orig, l.id + ": original"); } });
  document.getElementById("studio-keep").addEventListener("click", keep);
  document.getElementById("studio-undo").addEventListener("click", undo);
  setInterval(function () { if (S.sel !== shown) { fill(); } }, 150);
  api("api/state").then(setState).then(function () { document.documentElement.setAttribute("data-studio", "1"); })
    .catch(function (e) { msg(e.message, true); });
  window.otioDubStudio = { speak: speak, keep: keep, undo: undo, state: function () { return state; } };
})();
