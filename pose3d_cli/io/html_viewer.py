"""A self-contained HTML viewer of a clip's 3D poses: one file, no network, opens by
double-click.

The page holds the poses (every selected person, world frame, z up) and a small viewer written
for pose3d in plain JavaScript on a 2D canvas: the skeletons (the subject's left side blue, right
side red, as in the render) with their shadows on a ground grid (0.5 m squares), the person ids
above the heads, the frame time, orbit by dragging, zoom with the wheel, play/pause, a timeline
and a speed menu. Keys: space play/pause, ←/→ one frame, Home the first frame, F follow the
main person. A URL fragment can set the state: ``#frame=40&az=70&el=15&paused``.

Data layout (inside ``<script type="application/json" id="pose3d-data">``): per person its
first frame and frame count, and its joints as little-endian int16 in units of ``unit_m``
(normally 1 mm; coarser only for coordinates beyond ±32 m), base64-encoded, ``(count, J, 3)``
row-major, ``-32768`` where the person is absent. A 30 fps minute of one person is about
250 kB.

Self-test hooks (used by the tests, harmless elsewhere): after drawing, the ``<body>`` carries
``data-drawn`` (frames drawn), ``data-frame`` (current frame) and, after the first frame,
``data-painted`` (canvas pixels that differ from the background); an uncaught error sets
``data-error``.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from pose3d_cli.geometry.display import arrange_people
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.io.pose_file import PoseSequence
from pose3d_cli.skeleton import get_layout

_ABSENT = -32768
_INT16_MAX = 32767


#: Azimuth (degrees, from +x towards +y) of a viewer placed where the video's camera was: the
#: in-the-wild world frame is the camera rotated by a fixed orientation
#: (:func:`pose3d_cli.geometry.camera.camera_to_world_wild`; a test pins this value to it). A
#: constant because that module imports torch, which a viewer export should not wait for.
CAMERA_AZIMUTH_DEG = 66.0


def viewer_data(seq: PoseSequence, title: str = "") -> dict:
    """The viewer's data (see the module docstring) as a JSON-ready dict."""
    lay = get_layout(seq.layout)
    world = np.asarray(seq.people_poses_3d_world, np.float64)
    if seq.num_people > 1 and seq.people_trajectory_world is None:
        # Root-relative poses of several people (no trajectory model): side by side, in the
        # order they stand in the image, as the render's 3D panel shows them.
        world = arrange_people(world, seq.people_keypoints_px, CAMERA_AZIMUTH_DEG).astype(np.float64)
    present = np.asarray(seq.people_present, bool) & np.isfinite(world).all(axis=(2, 3))
    finite = world[present].reshape(-1, 3)
    max_abs = float(np.abs(finite).max()) if finite.size else 0.0
    unit_mm = max(1, int(np.ceil(max_abs * 1000.0 / _INT16_MAX)))
    unit_m = unit_mm / 1000.0
    people = []
    for p in range(seq.num_people):
        where = np.flatnonzero(present[p])
        if where.size == 0:
            first, count, blob = 0, 0, b""
        else:
            first, stop = int(where[0]), int(where[-1]) + 1
            count = stop - first
            q = np.clip(np.round(np.nan_to_num(world[p, first:stop]) / unit_m), -_INT16_MAX, _INT16_MAX)
            q = np.where(present[p, first:stop, None, None], q, _ABSENT)
            blob = q.astype("<i2").tobytes()
        people.append({"id": int(seq.person_ids[p]), "main": p == seq.main_person, "first": first,
                       "count": count, "data": base64.b64encode(blob).decode("ascii")})
    if finite.size:
        lo, hi = finite.min(axis=0), finite.max(axis=0)
    else:
        lo, hi = np.zeros(3), np.ones(3)
    return {
        "title": title, "fps": float(seq.fps), "start_frame": int(seq.start_frame), "num_frames": seq.num_frames,
        "joint_names": list(lay.joint_names), "edges": [list(e) for e in lay.edges],
        "left": list(lay.left), "right": list(lay.right),
        "head": lay.index("head") if "head" in lay.joint_names else int(lay.parents.index(-1)),
        "root": int(lay.parents.index(-1)), "unit_m": unit_m,
        "bounds": [round(float(v), 3) for v in (lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])],
        "azimuth": CAMERA_AZIMUTH_DEG, "model": str(seq.checkpoint), "people": people,
    }


def _script_json(obj: dict) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, ``<!--`` or ``&`` sequences)."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(seq: PoseSequence, title: str = "") -> str:
    """The viewer page for ``seq`` as a string."""
    data = _script_json(viewer_data(seq, title))
    page = _PAGE.replace("__TITLE__", html.escape(title or "pose3d viewer"))
    return page.replace("__DATA__", data).replace("__SCRIPT__", _VIEWER_JS)


def write_html(path: str | Path, seq: PoseSequence, *, overwrite: bool = True, title: str | None = None) -> Path:
    """Write the self-contained viewer (see the module docstring) of every person in ``seq``."""
    path = Path(path)
    name = title if title is not None else path.name.removesuffix(".html")
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(render_html(seq, name), encoding="utf-8")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__ · pose3d</title>
<style>
  html, body { margin: 0; height: 100%; background: #15181d; color: #d8dde6;
               font: 13px/1.3 system-ui, -apple-system, "Segoe UI", sans-serif; overflow: hidden; }
  #view { display: block; width: 100vw; height: calc(100vh - 44px); cursor: grab; touch-action: none; }
  #view:active { cursor: grabbing; }
  #bar { height: 44px; display: flex; align-items: center; gap: 10px; padding: 0 12px;
         box-sizing: border-box; background: #1e232b; border-top: 1px solid #2c333e; }
  #bar button, #bar select { background: #2c333e; color: inherit; border: 1px solid #3a4350;
         border-radius: 4px; padding: 4px 10px; font: inherit; }
  #scrub { flex: 1; min-width: 80px; }
  #time { font-variant-numeric: tabular-nums; white-space: nowrap; min-width: 150px; }
  #info { position: absolute; left: 12px; top: 10px; color: #9aa4b2; pointer-events: none; }
  #info b { color: #d8dde6; font-weight: 600; }
  .key { display: inline-block; width: 10px; height: 3px; vertical-align: middle; margin: 0 3px 0 8px; }
</style>
</head>
<body>
<canvas id="view"></canvas>
<div id="info"><b>__TITLE__</b><span id="meta"></span><br>
  <span class="key" style="background:#4c8dff"></span>left<span class="key" style="background:#ff5a5a"></span>right
  · drag to orbit, wheel to zoom, space to play/pause</div>
<div id="bar">
  <button id="play" type="button" title="play/pause (space)">Pause</button>
  <input id="scrub" type="range" min="0" max="0" value="0" step="1" aria-label="timeline">
  <span id="time"></span>
  <select id="speed" aria-label="speed"><option value="0.25">0.25×</option><option value="0.5">0.5×</option>
    <option value="1" selected>1×</option><option value="2">2×</option></select>
  <label title="keep the main person in the middle (F)"><input id="follow" type="checkbox"> follow</label>
</div>
<script type="application/json" id="pose3d-data">__DATA__</script>
<script>
__SCRIPT__
</script>
</body>
</html>
"""

_VIEWER_JS = r"""
(function () {
  "use strict";
  var body = document.body;
  window.addEventListener("error", function (e) {
    body.setAttribute("data-error", String(e && e.message ? e.message : e));
  });
  var D = JSON.parse(document.getElementById("pose3d-data").textContent);
  var T = D.num_frames, J = D.joint_names.length, U = D.unit_m;
  var BG = [21, 24, 29];
  var SIDE = new Array(J).fill("c");
  D.left.forEach(function (j) { SIDE[j] = "l"; });
  D.right.forEach(function (j) { SIDE[j] = "r"; });
  var COLOUR = { l: "#4c8dff", r: "#ff5a5a", c: "#e8ecf2" };

  function decode(b64, n) {
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var view = new DataView(bytes.buffer), out = new Float32Array(n);
    for (var k = 0; k < n; k++) {
      var v = view.getInt16(2 * k, true);
      out[k] = v === -32768 ? NaN : v * U;
    }
    return out;
  }
  var people = D.people.map(function (p) {
    return { id: p.id, main: p.main, first: p.first, count: p.count, xyz: decode(p.data, p.count * J * 3) };
  });
  function pose(person, f) {  // Float32Array(J*3) or null
    var k = f - person.first;
    if (k < 0 || k >= person.count) return null;
    var a = person.xyz.subarray(k * J * 3, (k + 1) * J * 3);
    return isNaN(a[0]) ? null : a;
  }

  var b = D.bounds;
  var span = Math.max(b[1] - b[0], b[3] - b[2], 2.0);
  var centre = [(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, Math.min(1.0, (b[4] + b[5]) / 2)];
  var cam = { az: D.azimuth, el: 15, dist: span + 1.8 };
  var state = { f: 0, playing: T > 1, speed: 1, follow: span > 4, last: null, acc: 0, drawn: 0 };
  var target = centre.slice();

  var canvas = document.getElementById("view"), ctx = canvas.getContext("2d");
  var playBtn = document.getElementById("play"), scrub = document.getElementById("scrub");
  var timeEl = document.getElementById("time"), speedEl = document.getElementById("speed");
  var followEl = document.getElementById("follow");
  document.getElementById("meta").textContent = " · " + people.length + (people.length === 1 ? " person" : " people") +
    " · " + T + " frames at " + (+D.fps.toFixed(3)) + " fps" + (D.model ? " · " + D.model : "");
  scrub.max = String(Math.max(0, T - 1));
  followEl.checked = state.follow;

  (function parseHash() {
    var h = (location.hash || "").replace(/^#/, "");
    h.split("&").forEach(function (kv) {
      var p = kv.split("="), k = p[0], v = parseFloat(p[1]);
      if (k === "frame" && isFinite(v)) { state.f = Math.max(0, Math.min(T - 1, Math.round(v))); state.playing = false; }
      if (k === "az" && isFinite(v)) cam.az = v;
      if (k === "el" && isFinite(v)) cam.el = v;
      if (k === "dist" && isFinite(v) && v > 0) cam.dist = v;
      if (k === "paused") state.playing = false;
      if (k === "follow") state.follow = p[1] !== "0";
    });
  })();

  function mainPerson() {
    for (var i = 0; i < people.length; i++) if (people[i].main) return people[i];
    return people[0];
  }
  function updateTarget() {
    if (!state.follow) { target = centre.slice(); return; }
    var p = mainPerson(), q = p ? pose(p, state.f) : null;
    if (q) { var r = D.root * 3; target = [q[r], q[r + 1], centre[2]]; }
  }

  var W = 0, H = 0, dpr = 1;
  function resize() {
    dpr = window.devicePixelRatio || 1;
    W = Math.max(1, canvas.clientWidth); H = Math.max(1, canvas.clientHeight);
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  var basis = null;
  function setupCamera() {
    var az = cam.az * Math.PI / 180, el = cam.el * Math.PI / 180;
    var dir = [Math.cos(el) * Math.cos(az), Math.cos(el) * Math.sin(az), Math.sin(el)];
    var eye = [target[0] + cam.dist * dir[0], target[1] + cam.dist * dir[1], target[2] + cam.dist * dir[2]];
    var fwd = [-dir[0], -dir[1], -dir[2]];
    var right = [fwd[1], -fwd[0], 0], n = Math.hypot(right[0], right[1]) || 1;
    right = [right[0] / n, right[1] / n, 0];
    var up = [right[1] * fwd[2] - right[2] * fwd[1], right[2] * fwd[0] - right[0] * fwd[2],
              right[0] * fwd[1] - right[1] * fwd[0]];
    basis = { eye: eye, fwd: fwd, right: right, up: up, focal: 0.9 * Math.min(W, H) * 1.6 };
  }
  function project(x, y, z) {
    var e = basis.eye, dx = x - e[0], dy = y - e[1], dz = z - e[2];
    var cz = dx * basis.fwd[0] + dy * basis.fwd[1] + dz * basis.fwd[2];
    if (cz < 0.05) return null;
    var cx = dx * basis.right[0] + dy * basis.right[1] + dz * basis.right[2];
    var cy = dx * basis.up[0] + dy * basis.up[1] + dz * basis.up[2];
    return [W / 2 + basis.focal * cx / cz, H / 2 - basis.focal * cy / cz, cz];
  }
  function line(a, b) {
    if (!a || !b) return;
    ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
  }

  function drawGrid() {
    var step = 0.5, half = 4.0;
    var x0 = Math.floor((target[0] - half) / step) * step, y0 = Math.floor((target[1] - half) / step) * step;
    var n = Math.round(2 * half / step);
    ctx.lineWidth = 1;
    for (var i = 0; i <= n; i++) {
      var gx = x0 + i * step, gy = y0 + i * step;
      ctx.strokeStyle = Math.abs(gx % 1) < 1e-6 ? "#3a4350" : "#2a3039";
      line(project(gx, y0, 0), project(gx, y0 + n * step, 0));
      ctx.strokeStyle = Math.abs(gy % 1) < 1e-6 ? "#3a4350" : "#2a3039";
      line(project(x0, gy, 0), project(x0 + n * step, gy, 0));
    }
  }

  function drawPerson(person, q) {
    var pts = [], shadow = [], j;
    for (j = 0; j < J; j++) {
      pts.push(project(q[3 * j], q[3 * j + 1], q[3 * j + 2]));
      shadow.push(project(q[3 * j], q[3 * j + 1], 0));
    }
    ctx.strokeStyle = "rgba(0,0,0,0.45)"; ctx.lineWidth = 4; ctx.lineCap = "round";
    D.edges.forEach(function (e) { line(shadow[e[0]], shadow[e[1]]); });
    var order = D.edges.slice().sort(function (a, c) {
      var da = (pts[a[0]] && pts[a[1]]) ? pts[a[0]][2] + pts[a[1]][2] : 0;
      var dc = (pts[c[0]] && pts[c[1]]) ? pts[c[0]][2] + pts[c[1]][2] : 0;
      return dc - da;
    });
    order.forEach(function (e) {
      var s = SIDE[e[1]] !== "c" ? SIDE[e[1]] : SIDE[e[0]];
      ctx.strokeStyle = COLOUR[s];
      var a = pts[e[0]], c = pts[e[1]];
      ctx.lineWidth = a && c ? Math.max(2, Math.min(7, 2.2 * basis.focal / (a[2] + c[2]) / 60)) : 3;
      line(a, c);
    });
    ctx.fillStyle = "#ffffff";
    pts.forEach(function (p) { if (p) { ctx.beginPath(); ctx.arc(p[0], p[1], 2.5, 0, 2 * Math.PI); ctx.fill(); } });
    var top = pts[D.head] || pts[D.root];
    if (top) {
      var label = "id " + person.id + (person.main && people.length > 1 ? " (main)" : "");
      ctx.font = "600 13px system-ui, sans-serif"; ctx.textAlign = "center";
      var w = ctx.measureText(label).width + 10;
      ctx.fillStyle = "rgba(21,24,29,0.75)"; ctx.fillRect(top[0] - w / 2, top[1] - 30, w, 18);
      ctx.fillStyle = person.main ? "#ffd166" : "#d8dde6"; ctx.fillText(label, top[0], top[1] - 16);
    }
  }

  function countPainted() {
    var img = ctx.getImageData(0, 0, canvas.width, canvas.height).data, n = 0;
    for (var i = 0; i < img.length; i += 4) {
      if (Math.abs(img[i] - BG[0]) + Math.abs(img[i + 1] - BG[1]) + Math.abs(img[i + 2] - BG[2]) > 30) n++;
    }
    return n;
  }

  function draw() {
    updateTarget();
    setupCamera();
    ctx.fillStyle = "rgb(" + BG.join(",") + ")";
    ctx.fillRect(0, 0, W, H);
    drawGrid();
    var shown = 0;
    people.forEach(function (p) { var q = pose(p, state.f); if (q) { drawPerson(p, q); shown++; } });
    var frame = D.start_frame + state.f, t = frame / D.fps;
    timeEl.textContent = "t = " + t.toFixed(2) + " s · frame " + frame + " · " + shown +
      (shown === 1 ? " person" : " people");
    scrub.value = String(state.f);
    playBtn.textContent = state.playing ? "Pause" : "Play";
    state.drawn++;
    body.setAttribute("data-frame", String(state.f));
    body.setAttribute("data-drawn", String(state.drawn));
    if (state.drawn === 1) body.setAttribute("data-painted", String(countPainted()));
  }

  function tick(now) {
    if (state.playing && T > 1) {
      if (state.last !== null) {
        state.acc += (now - state.last) / 1000 * D.fps * state.speed;
        var steps = Math.floor(state.acc);
        if (steps > 0) { state.acc -= steps; state.f = (state.f + steps) % T; draw(); }
      }
      state.last = now;
    } else {
      state.last = null;
    }
    requestAnimationFrame(tick);
  }

  function seek(f) { state.f = Math.max(0, Math.min(T - 1, f)); state.acc = 0; draw(); }
  playBtn.addEventListener("click", function () { state.playing = !state.playing; draw(); });
  scrub.addEventListener("input", function () { seek(parseInt(scrub.value, 10) || 0); });
  speedEl.addEventListener("change", function () { state.speed = parseFloat(speedEl.value) || 1; });
  followEl.addEventListener("change", function () { state.follow = followEl.checked; draw(); });
  window.addEventListener("keydown", function (e) {
    if (e.target && (e.target.tagName === "INPUT" && e.target.type !== "range" || e.target.tagName === "SELECT")) return;
    if (e.key === " ") { state.playing = !state.playing; draw(); e.preventDefault(); }
    else if (e.key === "ArrowRight") { state.playing = false; seek(state.f + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { state.playing = false; seek(state.f - 1); e.preventDefault(); }
    else if (e.key === "Home") { seek(0); }
    else if (e.key === "f" || e.key === "F") { state.follow = !state.follow; followEl.checked = state.follow; draw(); }
  });
  var drag = null;
  canvas.addEventListener("pointerdown", function (e) {
    drag = { x: e.clientX, y: e.clientY }; canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", function (e) {
    if (!drag) return;
    cam.az -= (e.clientX - drag.x) * 0.4;
    cam.el = Math.max(-5, Math.min(89, cam.el + (e.clientY - drag.y) * 0.3));
    drag = { x: e.clientX, y: e.clientY };
    draw();
  });
  canvas.addEventListener("pointerup", function () { drag = null; });
  canvas.addEventListener("pointercancel", function () { drag = null; });
  canvas.addEventListener("wheel", function (e) {
    cam.dist = Math.max(0.8, Math.min(200, cam.dist * Math.exp(e.deltaY * 0.001)));
    draw(); e.preventDefault();
  }, { passive: false });
  canvas.addEventListener("dblclick", function () { cam.az = D.azimuth; cam.el = 15; cam.dist = span + 1.8; draw(); });
  window.addEventListener("resize", function () { resize(); draw(); });

  resize();
  draw();
  requestAnimationFrame(tick);
})();
"""
