/* cnnpipe report: hover or focus a cell to see where it came from.
   Written for cnnpipe; no libraries, no network. Numbers come from the page's
   embedded data: exact float32 values where present, otherwise computed here
   from the exact input through the layer's own operations (double precision).
   A large input's values are in sidecar files beside the page (report-input-NN.js,
   bands of whole rows), each loaded by a <script> element the first time a hover
   needs one of its rows. Sizes are written width first (W×H), as cnnpipe writes them. */
(function () {
  "use strict";

  // ---- numbers ---------------------------------------------------------------------------
  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (!isFinite(v)) return String(v);
    if (Object.is(v, -0)) v = 0;
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(6)));
  }
  // A size, width first (cnnpipe.numbers.size_text): sizeText(500, 741) === "741×500".
  function sizeText(h, w) { return w + "×" + h; }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  // Random access into base64 data: decode only the bytes asked for.
  function b64Bytes(str, start, count) {
    var c0 = Math.floor(start / 3) * 4, c1 = Math.ceil((start + count) / 3) * 4;
    var bin = atob(str.slice(c0, c1)), skip = start - (c0 / 4) * 3;
    var out = new Uint8Array(count);
    for (var i = 0; i < count; i++) out[i] = bin.charCodeAt(skip + i);
    return out;
  }
  function b64Float32(str) {
    var bin = atob(str), n = bin.length, bytes = new Uint8Array(n);
    for (var i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }

  // ---- the model: every value of every map, on demand -------------------------------------
  function Model(data) {
    this.data = data;
    this.layers = data.layers;
    this.memo = new Map();
    this.arrays = new Map();
    var iv = data.input.values;
    this.inputShape = data.input.shape;
    this.inputEnc = iv;
    this.bands = [];  // base64 text of each loaded sidecar band
    this.loading = {};  // band -> callbacks waiting for it
    this.failed = {};  // band -> why it could not be read
  }
  // Thrown when a value needs a band of the input that is not loaded yet.
  function NeedBand(band, failed) { this.band = band; this.failed = failed; }
  Model.prototype.inputValue = function (ch, r, c) {
    var s = this.inputShape, H = s[s.length - 2], W = s[s.length - 1], e = this.inputEnc;
    var text = e.b64, i = (s.length === 3 ? ch * H * W : 0) + r * W + c;
    if (e.bands) {
      var k = Math.floor(r / e.band_rows), rows = Math.min(e.band_rows, H - k * e.band_rows);
      text = this.bands[k];
      if (text === undefined) throw new NeedBand(k, this.failed[k]);
      i = (s.length === 3 ? ch * rows * W : 0) + (r - k * e.band_rows) * W + c;
    }
    if (e.encoding === "u8") return Math.fround(b64Bytes(text, i, 1)[0] / e.levels);
    var size = e.encoding === "u16" ? 2 : 4;
    var b = b64Bytes(text, i * size, size), dv = new DataView(b.buffer);
    if (size === 2) return Math.fround(dv.getUint16(0, true) / e.levels);
    return dv.getFloat32(0, true);
  };
  // Load sidecar band k (a <script> beside the page); call done() when it is in or failed.
  Model.prototype.load = function (k, done) {
    var self = this, name = this.inputEnc.bands[k];
    if (this.loading[k]) { this.loading[k].push(done); return; }
    this.loading[k] = [done];
    var el = document.createElement("script");
    function finish(why) {
      var store = window.cnnpipeBands || {}, waiting = self.loading[k];
      if (store[name] !== undefined) self.bands[k] = store[name];
      else self.failed[k] = why || "the values file " + name + " beside this page holds no values";
      delete store[name];
      delete self.loading[k];
      el.remove();
      waiting.forEach(function (f) { f(); });
    }
    el.onload = function () { finish(); };
    el.onerror = function () { finish("cannot read " + name + ", the input's values beside this page (keep the report in its folder)"); };
    el.src = name;
    document.head.appendChild(el);
  };
  Model.prototype.array = function (m) {
    if (!m || !m.values) return null;
    var a = this.arrays.get(m.file);
    if (!a) { a = b64Float32(m.values); this.arrays.set(m.file, a); }
    return a;
  };
  Model.prototype.inShape = function (li) {
    var s = this.layers[li].in_shape;
    return s.slice(-2);
  };
  // The value the layer li sees on its input channel ch.
  Model.prototype.layerInput = function (li, ch, r, c) {
    if (li === 0) return this.inputValue(ch, r, c);
    var prev = this.layers[li - 1], det = prev.detectors[ch];
    return this.value(li - 1, ch, lastStage(det), 0, r, c);
  };
  function lastStage(det) { return det.maps.pool ? "pool" : det.maps.relu ? "relu" : "conv"; }
  function shape2(m) { var s = m.shape; return [s[s.length - 2], s[s.length - 1]]; }
  function padIndex(i, n, mode) {
    if (i >= 0 && i < n) return i;
    if (mode === "zeros") return -1;
    if (mode === "replicate") return i < 0 ? 0 : n - 1;
    if (mode === "circular") return ((i % n) + n) % n;
    // reflect, without repeating the edge (PyTorch)
    var p = 2 * (n - 1);
    i = ((i % p) + p) % p;
    return i < n ? i : p - i;
  }
  // Which input channels a conv output channel reads, with which weight plane.
  Model.prototype.convTerms = function (li, di, ch, r, c) {
    var L = this.layers[li], det = L.detectors[di], k = L.kernels[det.kernel], p = L.params;
    var kh = k.shape[k.shape.length - 2], kw = k.shape[k.shape.length - 1];
    var inHW = this.inShape(li), planes;
    if (det.channel !== null) planes = [[det.channel, 0]];
    else if (k.shape.length === 3) {
      planes = [];
      for (var j = 0; j < k.shape[0]; j++) planes.push([j, j]);
    } else if (L.in_channels > 1) planes = [[ch, 0]];
    else planes = [[0, 0]];
    var terms = [], sum = 0;
    for (var q = 0; q < planes.length; q++) {
      var inCh = planes[q][0], plane = planes[q][1];
      for (var a = 0; a < kh; a++) {
        for (var b = 0; b < kw; b++) {
          var ir = r * p.conv_stride[0] - k.pads[0] + a * p.dilation[0];
          var ic = c * p.conv_stride[1] - k.pads[2] + b * p.dilation[1];
          var rr = padIndex(ir, inHW[0], p.pad_mode), cc = padIndex(ic, inHW[1], p.pad_mode);
          var inside = ir >= 0 && ir < inHW[0] && ic >= 0 && ic < inHW[1];
          var x = rr < 0 || cc < 0 ? 0 : this.layerInput(li, inCh, rr, cc);
          var w = k.effective[plane * kh * kw + a * kw + b];
          var prod = w * x;
          sum += prod;
          terms.push({ ch: inCh, a: a, b: b, r: ir, c: ic, inside: inside, x: x, w: w, p: prod });
        }
      }
    }
    return { terms: terms, sum: sum, kh: kh, kw: kw, planes: planes.length };
  };
  Model.prototype.stored = function (li, di, stage, ch, r, c) {
    var m = this.layers[li].detectors[di].maps[stage], a = this.array(m);
    if (!a) return null;
    var hw = shape2(m);
    return a[(m.shape.length === 3 ? ch * hw[0] * hw[1] : 0) + r * hw[1] + c];
  };
  Model.prototype.poolWindow = function (li, di, r, c) {
    var L = this.layers[li], det = L.detectors[di], p = L.params;
    var src = det.maps.relu ? "relu" : "conv", hw = shape2(det.maps[src]);
    var r0 = r * p.stride[0], c0 = c * p.stride[1];
    var r1 = Math.min(r0 + p.window[0], hw[0]), c1 = Math.min(c0 + p.window[1], hw[1]);
    return { src: src, r0: r0, c0: c0, r1: r1, c1: c1, kh: p.window[0], kw: p.window[1],
      count: (r1 - r0) * (c1 - c0), partial: (r1 - r0) * (c1 - c0) < p.window[0] * p.window[1] };
  };
  Model.prototype.poolDetail = function (li, di, ch, r, c) {
    var L = this.layers[li], mode = L.params.pool, w = this.poolWindow(li, di, r, c);
    var cells = [], best = null, acc = 0;
    for (var i = w.r0; i < w.r1; i++) {
      for (var j = w.c0; j < w.c1; j++) {
        var v = this.value(li, di, w.src, ch, i, j);
        cells.push({ r: i, c: j, v: v });
        if (mode === "max" ? best === null || v > best.v : mode === "min" ? best === null || v < best.v : false)
          best = { r: i, c: j, v: v };
        acc += mode === "l2" ? v * v : v;
      }
    }
    var result = mode === "max" || mode === "min" ? best.v : mode === "mean" ? acc / w.count
      : mode === "l2" ? Math.sqrt(acc) : acc;
    return { win: w, cells: cells, winner: best, sum: acc, result: result, mode: mode };
  };
  Model.prototype.value = function (li, di, stage, ch, r, c) {
    var s = this.stored(li, di, stage, ch, r, c);
    if (s !== null) return s;
    var key = li + "/" + di + "/" + stage + "/" + ch + "/" + r + "/" + c;
    var v = this.memo.get(key);
    if (v !== undefined) return v;
    var p = this.layers[li].params;
    if (stage === "conv") v = this.convTerms(li, di, ch, r, c).sum;
    else if (stage === "relu") {
      var x = this.value(li, di, "conv", ch, r, c);
      v = x > 0 ? x : p.activation === "leaky" ? Math.fround(p.leak) * x : 0;
    } else v = this.poolDetail(li, di, ch, r, c).result;
    if (this.memo.size > 200000) this.memo.clear();
    this.memo.set(key, v);
    return v;
  };
  // Receptive field on the image of rows r0..r1, cols c0..c1 (inclusive) of a stage's map.
  Model.prototype.field = function (li, stage, r0, r1, c0, c1) {
    var L = this.layers[li], p = L.params, pad = false;
    if (stage === "pool") {
      var hw = shape2(L.detectors[0].maps.relu || L.detectors[0].maps.conv);
      r0 = r0 * p.stride[0]; c0 = c0 * p.stride[1];
      r1 = Math.min(r1 * p.stride[0] + p.window[0] - 1, hw[0] - 1);
      c1 = Math.min(c1 * p.stride[1] + p.window[1] - 1, hw[1] - 1);
    }
    var inHW = this.inShape(li), out = null;
    for (var k = 0; k < L.kernels.length; k++) {
      var K = L.kernels[k], kh = K.shape[K.shape.length - 2], kw = K.shape[K.shape.length - 1];
      var a0 = r0 * p.conv_stride[0] - K.pads[0], a1 = r1 * p.conv_stride[0] - K.pads[0] + (kh - 1) * p.dilation[0];
      var b0 = c0 * p.conv_stride[1] - K.pads[2], b1 = c1 * p.conv_stride[1] - K.pads[2] + (kw - 1) * p.dilation[1];
      out = out ? [Math.min(out[0], a0), Math.max(out[1], a1), Math.min(out[2], b0), Math.max(out[3], b1)]
        : [a0, a1, b0, b1];
    }
    if (out[0] < 0 || out[2] < 0 || out[1] > inHW[0] - 1 || out[3] > inHW[1] - 1) pad = true;
    var f = { r0: Math.max(out[0], 0), r1: Math.min(out[1], inHW[0] - 1),
      c0: Math.max(out[2], 0), c1: Math.min(out[3], inHW[1] - 1), pad: pad };
    if (li === 0) return f;
    var prev = this.layers[li - 1], below = this.field(li - 1, lastStage(prev.detectors[0]), f.r0, f.r1, f.c0, f.c1);
    below.pad = below.pad || pad;
    return below;
  };

  // ---- zoomable, pannable views ----------------------------------------------------------
  function View(panel, hw, onCell) {
    var self = this;
    this.panel = panel; this.box = panel.querySelector(".cp-view");
    this.img = panel.querySelector("img"); this.marksEl = panel.querySelector(".cp-marks");
    this.H = hw[0]; this.W = hw[1]; this.s = 1; this.tx = 0; this.ty = 0;
    this.marks = []; this.cursor = null; this.onCell = onCell;
    this.zoomLabel = panel.querySelector(".cp-zoom");
    var drag = null;
    this.box.addEventListener("pointerdown", function (e) {
      drag = { x: e.clientX, y: e.clientY, tx: self.tx, ty: self.ty, moved: false };
      self.box.setPointerCapture(e.pointerId);
    });
    this.box.addEventListener("pointermove", function (e) {
      if (drag && (drag.moved || Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3)) {
        drag.moved = true;
        self.tx = drag.tx + e.clientX - drag.x; self.ty = drag.ty + e.clientY - drag.y;
        self.apply();
        return;
      }
      var cell = self.cellAt(e);
      if (cell) self.setCursor(cell[0], cell[1], false);
    });
    this.box.addEventListener("pointerup", function () { drag = null; });
    this.box.addEventListener("pointercancel", function () { drag = null; });
    this.box.addEventListener("wheel", function (e) {
      e.preventDefault();
      var rect = self.box.getBoundingClientRect();
      self.zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.clientX - rect.left, e.clientY - rect.top);
    }, { passive: false });
    this.box.addEventListener("keydown", function (e) {
      var d = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[e.key];
      if (d) {
        e.preventDefault();
        var cur = self.cursor || [0, 0];
        self.setCursor(Math.min(Math.max(cur[0] + d[0], 0), self.H - 1),
          Math.min(Math.max(cur[1] + d[1], 0), self.W - 1), true);
      } else if (e.key === "+" || e.key === "=") { self.zoomAt(1.25); e.preventDefault(); }
      else if (e.key === "-") { self.zoomAt(0.8); e.preventDefault(); }
      else if (e.key === "0") { self.fit(); e.preventDefault(); }
    });
    this.box.addEventListener("focus", function () {
      if (!self.cursor) self.setCursor(0, 0, true); else self.setCursor(self.cursor[0], self.cursor[1], true);
    });
    panel.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () {
        var z = b.getAttribute("data-zoom");
        if (z === "fit") self.fit(); else self.zoomAt(z === "in" ? 1.5 : 1 / 1.5);
      });
    });
  }
  View.prototype.cellAt = function (e) {
    var rect = this.box.getBoundingClientRect();
    var c = Math.floor((e.clientX - rect.left - this.tx) / this.s);
    var r = Math.floor((e.clientY - rect.top - this.ty) / this.s);
    return r >= 0 && c >= 0 && r < this.H && c < this.W ? [r, c] : null;
  };
  View.prototype.setCursor = function (r, c, keyboard) {
    this.cursor = [r, c];
    if (keyboard) this.reveal(r, r + 1, c, c + 1);
    this.onCell(r, c);
  };
  View.prototype.fit = function () {
    var w = this.box.clientWidth || 300, h = this.box.clientHeight || 300;
    this.s = Math.min(w / this.W, h / this.H);
    this.tx = (w - this.W * this.s) / 2; this.ty = (h - this.H * this.s) / 2;
    this.apply();
  };
  View.prototype.zoomAt = function (f, x, y) {
    if (x === undefined) { x = this.box.clientWidth / 2; y = this.box.clientHeight / 2; }
    var s = Math.min(Math.max(this.s * f, 0.01), 256);
    this.tx = x - (x - this.tx) * s / this.s; this.ty = y - (y - this.ty) * s / this.s;
    this.s = s; this.apply();
  };
  View.prototype.reveal = function (r0, r1, c0, c1) {
    var w = this.box.clientWidth, h = this.box.clientHeight, moved = false;
    var x0 = this.tx + c0 * this.s, x1 = this.tx + c1 * this.s;
    var y0 = this.ty + r0 * this.s, y1 = this.ty + r1 * this.s;
    if (x0 < 0) { this.tx -= x0; moved = true; } else if (x1 > w) { this.tx -= x1 - w; moved = true; }
    if (y0 < 0) { this.ty -= y0; moved = true; } else if (y1 > h) { this.ty -= y1 - h; moved = true; }
    if (moved) this.apply();
  };
  View.prototype.apply = function () {
    this.img.style.transform = "translate(" + this.tx + "px," + this.ty + "px) scale(" + this.s + ")";
    if (this.zoomLabel) this.zoomLabel.textContent = Math.round(this.s * 100) + "%";
    this.draw();
  };
  // marks: {r0, r1, c0, c1 (exclusive ends), cls, label}
  View.prototype.setMarks = function (marks) { this.marks = marks; this.draw(); };
  View.prototype.draw = function () {
    var html = "";
    for (var i = 0; i < this.marks.length; i++) {
      var m = this.marks[i];
      var x = this.tx + m.c0 * this.s, y = this.ty + m.r0 * this.s;
      var w = (m.c1 - m.c0) * this.s, h = (m.r1 - m.r0) * this.s;
      html += '<div class="cp-mark ' + m.cls + '" data-r0="' + m.r0 + '" data-r1="' + m.r1 +
        '" data-c0="' + m.c0 + '" data-c1="' + m.c1 + '" style="left:' + x + "px;top:" + y +
        "px;width:" + w + "px;height:" + h + 'px">' + (m.label ? "<span>" + esc(m.label) + "</span>" : "") + "</div>";
    }
    this.marksEl.innerHTML = html;
  };

  // ---- the page --------------------------------------------------------------------------
  // a cell is (row, column), counted from 0 as in the terminal tables; sizes are W×H
  var ROW_COL = ' <small class="order">(row, column, from 0)</small>';
  var STAGE_NAMES = { conv: "conv", relu: "ReLU", pool: "pool" };

  function kernelGrid(k, p) {
    var kh = k.shape[k.shape.length - 2], kw = k.shape[k.shape.length - 1];
    var planes = k.shape.length === 3 ? k.shape[0] : 1, flat = [], max = 0, out = "";
    for (var i = 0; i < k.effective.length; i++) max = Math.max(max, Math.abs(k.effective[i]));
    for (var q = 0; q < planes; q++) {
      out += '<table class="cp-kernel" aria-label="weights of ' + esc(k.name) + (planes > 1 ? " plane " + (q + 1) : "") + '">';
      for (var a = 0; a < kh; a++) {
        out += "<tr>";
        for (var b = 0; b < kw; b++) {
          var w = k.effective[q * kh * kw + a * kw + b], t = max ? Math.abs(w) / max : 0;
          var bg = w > 0 ? "rgba(200,60,40," + (0.12 + 0.6 * t) + ")" : w < 0 ? "rgba(40,90,200," + (0.12 + 0.6 * t) + ")" : "transparent";
          out += '<td style="background:' + bg + '">' + fmt(w) + "</td>";
        }
        out += "</tr>";
      }
      out += "</table>";
    }
    void flat; void p;
    return out;
  }

  function legendHTML(m) {
    var l = m.legend, ticks = "";
    for (var i = 0; i < l.ticks.length; i++) {
      var t = l.ticks[i], pos = (t - l.ticks[0]) / (l.ticks[l.ticks.length - 1] - l.ticks[0]) * 100;
      ticks += '<span style="left:' + pos + '%">' + fmt(t) + "</span>";
    }
    return '<div class="cp-legend" title="' + esc(m.mapping.formula) + '"><div class="cp-bar" style="background:' +
      l.gradient + '"></div><div class="cp-ticks">' + ticks + '</div><div class="cp-note">' + esc(l.note) +
      ", step " + fmt(l.step) + "</div></div>";
  }

  function panelHTML(kind, title, m, hw) {
    return '<figure class="cp-panel" data-panel="' + kind + '"><figcaption>' + esc(title) +
      ' <span class="cp-dim">' + sizeText(hw[0], hw[1]) + "</span>" +
      (m && kind !== "image" ? ' <span class="cp-src">' + (m.values ? "exact values" : "computed values") + "</span>" : "") +
      '</figcaption><div class="cp-view" tabindex="0" role="application" aria-label="' + esc(title) +
      ': arrow keys move the cell, + and − zoom, 0 fits"><img alt="' + esc(title) + '" src="' + esc(m.src) +
      '" width="' + hw[1] + '" height="' + hw[0] + '" draggable="false" decoding="async"><div class="cp-marks"></div></div>' +
      '<div class="cp-tools"><button type="button" data-zoom="out" aria-label="zoom out">−</button>' +
      '<button type="button" data-zoom="in" aria-label="zoom in">+</button><button type="button" data-zoom="fit">fit</button>' +
      ' <span class="cp-zoom"></span></div>' + legendHTML(m) + "</figure>";
  }

  function Report(root, data) {
    this.root = root; this.data = data; this.model = new Model(data);
    this.li = 0; this.di = 0; this.ch = 0;
    root.insertAdjacentHTML("beforeend", this.staticHTML());
    var self = this;
    root.querySelectorAll("[data-pick]").forEach(function (el) {
      el.addEventListener("click", function () {
        var v = el.getAttribute("data-pick").split(",");
        self.select(+v[0], +v[1], self.ch);
      });
    });
    this.select(0, 0, 0);
  }
  Report.prototype.staticHTML = function () {
    var d = this.data, inp = d.input, h = "";
    h += "<header><h1>" + esc(d.title) + "</h1><p>" + esc(inp.path || "") + " · " + esc(inp.size) + " (" + esc(d.size_order) + ")" +
      (inp.mode ? " · " + esc(inp.mode) : "") + " · colour " + esc(d.color) + " · cnnpipe " + esc(d.version || "") +
      (d.pipeline ? " · pipeline " + esc(d.pipeline.file || "") + " (" + d.pipeline.layers + " layers)" : "") + "</p></header>";
    h += '<section class="cp-explore"><h2>Explore <small>(sizes ' + esc(d.size_order) + ")</small></h2>" + '<div class="cp-controls"></div><div class="cp-main"><div class="cp-panels"></div>' +
      '<aside class="cp-info" aria-live="polite"><p>Point at a cell of a map, or focus a map (Tab) and use the arrow keys.</p></aside></div></section>';
    for (var li = 0; li < d.layers.length; li++) {
      var L = d.layers[li], p = L.params;
      h += '<section class="cp-layer"><h2>' + (d.layers.length > 1 ? "Layer " + L.number + " (" + esc(L.mode) + ", sees " + L.in_channels + " map" + (L.in_channels > 1 ? "s" : "") + ")" : "The layer") + "</h2>";
      h += '<table class="cp-params"><tr><th>convolution</th><td>stride ' + sizeText(p.conv_stride[0], p.conv_stride[1]) + ", padding " + esc(JSON.stringify(p.padding)) +
        " (" + esc(p.pad_mode) + "), dilation " + sizeText(p.dilation[0], p.dilation[1]) + (p.flip ? ", kernel flipped (convolution)" : ", cross-correlation (kernel not flipped)") + "</td></tr>" +
        "<tr><th>activation</th><td>" + esc(p.activation) + (p.activation === "leaky" ? " (leak " + fmt(p.leak) + ")" : "") + "</td></tr>" +
        "<tr><th>pooling</th><td>" + esc(p.pool) + (p.pool !== "none" ? ", window " + sizeText(p.window[0], p.window[1]) + ", stride " + sizeText(p.stride[0], p.stride[1]) + ", edge " + esc(p.edge) : "") + "</td></tr></table>";
      h += '<h3>Sizes</h3><p class="cp-formula">conv output per axis = floor((n + pad before + pad after − d·(k − 1) − 1) / s) + 1; pooled (edge ' + esc(p.edge) + ") = " +
        (p.edge === "drop" ? "floor((n − k) / s) + 1" : "ceil((n − k) / s) + 1, minus one if the last window would start past the map") + '</p><ul class="cp-sizes">';
      for (var si = 0; si < L.sizes.length; si++) {
        var S = L.sizes[si];
        h += "<li><b>" + esc(S.kernel) + "</b>: conv rows " + esc(S.conv[0]) + ", cols " + esc(S.conv[1]) +
          (S.pool ? "; pool rows " + esc(S.pool[0]) + ", cols " + esc(S.pool[1]) : "") + "</li>";
      }
      h += '</ul><h3>Kernels <small>(sizes ' + esc(d.size_order) + ")</small></h3>" + '<div class="cp-kernels">';
      for (var ki = 0; ki < L.kernels.length; ki++) {
        var K = L.kernels[ki];
        h += '<figure class="cp-kfig"><figcaption>' + esc(K.name) + " " + esc(K.size) + "</figcaption>" + kernelGrid(K, p) +
          (K.description ? '<p class="cp-desc">' + esc(K.description) + "</p>" : "") + "</figure>";
      }
      h += '</div><h3>Maps <small>(sizes ' + esc(d.size_order) + ")</small></h3>" + '<div class="cp-gallery">';
      for (var di = 0; di < L.detectors.length; di++) {
        var D = L.detectors[di];
        h += '<div class="cp-row"><button type="button" class="cp-pick" data-pick="' + li + "," + di + '">explore ' + esc(D.name) + "</button>";
        ["conv", "relu", "pool"].forEach(function (st) {
          var m = D.maps[st];
          if (!m) return;
          h += '<figure class="cp-thumb"><figcaption>' + STAGE_NAMES[st] + " · " + esc(D.name) + " · " + esc(m.size) +
            "<br>min " + fmt(m.min) + ", max " + fmt(m.max) + ", mean " + fmt(m.mean) + '</figcaption><img loading="lazy" decoding="async" alt="' +
            st + " map of " + esc(D.name) + '" src="' + esc(m.src) + '">' + legendHTML(m) + "</figure>";
        });
        h += "</div>";
      }
      h += "</div></section>";
    }
    h += '<footer><p>Values on hover: maps of at most ' + d.exact_cells + " cells carry their exact float32 values in this page (\"exact values\"); " +
      "larger maps are computed here, for the cell pointed at, from the exact input values through the same convolution, activation and pooling " +
      "in double precision (\"computed values\": they agree with the .npy files to about 6 significant digits). Numbers are shown to 6 significant digits. " +
      (inp.values.bands ? "The input's exact values are in the " + inp.values.bands.length + " files " + esc(inp.values.bands[0]) + " … " +
        esc(inp.values.bands[inp.values.bands.length - 1]) + " beside this page, " + inp.values.band_rows + " rows each; a file is read the first time a hover needs its rows. " : "") +
      "Sizes are width × height (" + esc(d.size_order) + "). " +
      "Pictures are the PNG files beside this page; their colours follow each map's value → colour mapping (legend, and manifest.json).</p></footer>";
    return h;
  };
  Report.prototype.select = function (li, di, ch) {
    var self = this, d = this.data, L = d.layers[li], D = L.detectors[di];
    this.li = li; this.di = di;
    var chans = D.maps.conv.shape.length === 3 ? D.maps.conv.shape[0] : 1;
    this.ch = Math.min(ch, chans - 1);
    var ctl = '<label>Detector <select class="cp-det">';
    for (var a = 0; a < d.layers.length; a++) {
      for (var b = 0; b < d.layers[a].detectors.length; b++) {
        ctl += '<option value="' + a + "," + b + '"' + (a === li && b === di ? " selected" : "") + ">" +
          (d.layers.length > 1 ? "layer " + d.layers[a].number + ": " : "") + esc(d.layers[a].detectors[b].name) + "</option>";
      }
    }
    ctl += "</select></label>";
    if (chans > 1) {
      ctl += ' <label>Channel <select class="cp-ch">';
      for (var c = 0; c < chans; c++) ctl += '<option value="' + c + '"' + (c === this.ch ? " selected" : "") + ">" + "RGB"[c] + "</option>";
      ctl += "</select></label>";
    }
    var controls = this.root.querySelector(".cp-controls");
    controls.innerHTML = ctl;
    controls.querySelector(".cp-det").addEventListener("change", function (e) {
      var v = e.target.value.split(","); self.select(+v[0], +v[1], self.ch);
    });
    var chSel = controls.querySelector(".cp-ch");
    if (chSel) chSel.addEventListener("change", function (e) { self.select(self.li, self.di, +e.target.value); });

    var panels = this.root.querySelector(".cp-panels"), html = "";
    var inMap = d.input.map;
    html += panelHTML("image", li > 0 ? "image (receptive field)" : "input", inMap, shape2(inMap));
    var stages = ["conv", "relu", "pool"].filter(function (s) { return D.maps[s]; });
    stages.forEach(function (s) {
      html += panelHTML(s, STAGE_NAMES[s] + " · " + D.name + (d.layers.length > 1 ? " · layer " + L.number : ""), D.maps[s], shape2(D.maps[s]));
    });
    panels.innerHTML = html;
    this.views = {};
    this.views.image = new View(panels.querySelector('[data-panel="image"]'), shape2(inMap), function (r, c) {
      self.guard(function () { self.hoverImage(r, c); });
    });
    stages.forEach(function (s) {
      self.views[s] = new View(panels.querySelector('[data-panel="' + s + '"]'), shape2(D.maps[s]), function (r, c) {
        self.guard(function () { if (s === "pool") self.hoverPool(r, c); else self.hoverConv(s, r, c); });
      });
    });
    Object.keys(this.views).forEach(function (k) { self.views[k].fit(); });
    this.info("<p>Point at a cell of a map, or focus a map (Tab) and use the arrow keys.</p>");
  };
  // Run a hover; when it needs a band of the input not loaded yet, load it and run it again
  // (unless another hover came meanwhile).
  Report.prototype.guard = function (hover) {
    var self = this, token = this.token = (this.token || 0) + 1;
    try {
      hover();
    } catch (e) {
      if (!(e instanceof NeedBand)) throw e;
      if (e.failed) { this.info('<p class="cp-error">' + esc(e.failed) + "</p>"); return; }
      var rows = this.data.input.values.band_rows;
      this.info('<p class="cp-loading">reading the input\'s values, rows ' + e.band * rows + "–" +
        Math.min((e.band + 1) * rows, this.data.input.shape[this.data.input.shape.length - 2]) - 1 + "…</p>");
      this.model.load(e.band, function () { if (self.token === token) self.guard(hover); });
    }
  };
  Report.prototype.info = function (html) { this.root.querySelector(".cp-info").innerHTML = html; };
  Report.prototype.clear = function () {
    var v = this.views;
    Object.keys(v).forEach(function (k) { v[k].setMarks([]); });
  };
  Report.prototype.showField = function (stage, r0, r1, c0, c1) {
    var f = this.model.field(this.li, stage, r0, r1, c0, c1);
    this.views.image.setMarks([{ r0: f.r0, r1: f.r1 + 1, c0: f.c0, c1: f.c1 + 1, cls: "cp-field" + (f.pad ? " cp-padded" : ""), label: f.pad ? "includes padding" : "" }]);
    return '<p class="cp-rf">Receptive field on the input: rows <b>' + f.r0 + "–" + f.r1 + "</b>, cols <b>" + f.c0 + "–" + f.c1 + "</b> (" +
      sizeText(f.r1 - f.r0 + 1, f.c1 - f.c0 + 1) + " pixels, W×H" + (f.pad ? "; it hangs off the image into the padding" : "") + ")" +
      (this.data.layers.length > 1 ? ", through " + (this.li + 1) + " layer" + (this.li ? "s" : "") : "") + ".</p>";
  };
  Report.prototype.hoverImage = function (r, c) {
    this.clear();
    this.views.image.setMarks([{ r0: r, r1: r + 1, c0: c, c1: c + 1, cls: "cp-cell" }]);
    var s = this.data.input.shape, vals = [];
    var n = s.length === 3 ? s[0] : 1;
    for (var ch = 0; ch < n; ch++) vals.push(fmt(this.model.inputValue(ch, r, c)));
    this.info('<h3>Input pixel (' + r + ", " + c + ')</h3><p class="cp-result">value <b>' + vals.join(", ") + "</b></p>");
  };
  Report.prototype.hoverConv = function (stage, r, c) {
    var m = this.model, li = this.li, di = this.di, ch = this.ch, L = this.data.layers[li], D = L.detectors[di];
    this.clear();
    var cell = { r0: r, r1: r + 1, c0: c, c1: c + 1, cls: "cp-cell" };
    this.views.conv.setMarks([cell]);
    if (this.views.relu) this.views.relu.setMarks([cell]);
    var t = m.convTerms(li, di, ch, r, c), k = L.kernels[D.kernel];
    var conv = m.value(li, di, "conv", ch, r, c), stored = m.stored(li, di, "conv", ch, r, c);
    var h = "<h3>" + STAGE_NAMES[stage] + " cell (" + r + ", " + c + ") of " + esc(D.name) + ROW_COL + "</h3>";
    h += '<p>Worked example: the kernel <b>' + esc(k.name) + "</b>" + (L.params.flip ? " (flipped)" : "") + " over its input patch, product by product" +
      (t.planes > 1 ? ", summed over " + t.planes + " input maps" : "") + ".</p>";
    var perPlane = t.kh * t.kw;
    for (var q = 0; q < t.planes; q++) {
      h += '<table class="cp-products">' + (t.planes > 1 ? "<caption>input map " + (t.terms[q * perPlane].ch + 1) + "</caption>" : "");
      for (var a = 0; a < t.kh; a++) {
        h += "<tr>";
        for (var b = 0; b < t.kw; b++) {
          var x = t.terms[q * perPlane + a * t.kw + b];
          h += '<td class="' + (x.inside ? "" : "cp-pad") + '" data-w="' + x.w + '" data-x="' + x.x + '" data-p="' + x.p + '" title="input (' + x.r + ", " + x.c + ")" + (x.inside ? "" : ", padding") +
            '"><span class="cp-w">' + fmt(x.w) + '</span> × <span class="cp-x">' + fmt(x.x) + '</span><br>= <b class="cp-p">' + fmt(x.p) + "</b></td>";
        }
        h += "</tr>";
      }
      h += "</table>";
    }
    h += '<p class="cp-sum">sum of the products = <b>' + fmt(t.sum) + "</b>" + (stored !== null ? ' <span class="cp-stored">(stored float32 value: ' + fmt(stored) + ")</span>" : "") + "</p>";
    if (stage === "relu" || D.maps.relu) {
      var rv = m.value(li, di, "relu", ch, r, c);
      h += '<p class="cp-relu">' + esc(L.params.activation) + "(" + fmt(conv) + ") = <b>" + fmt(rv) + "</b></p>";
    }
    var marks = [];
    if (li === 0) {
      for (var i = 0; i < t.terms.length && t.terms.length <= 81; i++) {
        var u = t.terms[i];
        if (u.ch !== t.terms[0].ch) break;
        if (u.inside) marks.push({ r0: u.r, r1: u.r + 1, c0: u.c, c1: u.c + 1, cls: "cp-tap" });
      }
    }
    h += this.showField("conv", r, r, c, c);
    if (marks.length) this.views.image.setMarks(this.views.image.marks.concat(marks));
    this.info(h);
  };
  Report.prototype.hoverPool = function (r, c) {
    var m = this.model, li = this.li, di = this.di, ch = this.ch, L = this.data.layers[li], D = L.detectors[di];
    this.clear();
    var det = m.poolDetail(li, di, ch, r, c), w = det.win, stored = m.stored(li, di, "pool", ch, r, c);
    var result = stored !== null ? stored : det.result;
    this.views.pool.setMarks([{ r0: r, r1: r + 1, c0: c, c1: c + 1, cls: "cp-cell" }]);
    var winMarks = [{ r0: w.r0, r1: w.r1, c0: w.c0, c1: w.c1, cls: "cp-window" + (w.partial ? " cp-partial" : ""), label: w.partial ? "partial" : "" }];
    if (w.partial) winMarks.unshift({ r0: w.r0, r1: w.r0 + w.kh, c0: w.c0, c1: w.c0 + w.kw, cls: "cp-ghost" });
    if (det.winner && (det.mode === "max" || det.mode === "min"))
      winMarks.push({ r0: det.winner.r, r1: det.winner.r + 1, c0: det.winner.c, c1: det.winner.c + 1, cls: "cp-winner" });
    this.views[w.src].setMarks(winMarks);
    if (w.src === "relu" && this.views.conv) this.views.conv.setMarks([{ r0: w.r0, r1: w.r1, c0: w.c0, c1: w.c1, cls: "cp-window" + (w.partial ? " cp-partial" : "") }]);
    var h = "<h3>pool cell (" + r + ", " + c + ") of " + esc(D.name) + ROW_COL + "</h3>";
    h += '<p class="cp-win">' + esc(det.mode) + " over rows " + w.r0 + "–" + (w.r1 - 1) + ", cols " + w.c0 + "–" + (w.c1 - 1) + " of the " + STAGE_NAMES[w.src] + " map" +
      (w.partial ? ' <b class="cp-partial-note">partial window</b>: it hangs off the map, ' + w.count + " of " + (w.kh * w.kw) + " cells inside" : "") + ".</p>";
    h += '<table class="cp-window-values">';
    for (var i = w.r0; i < w.r0 + w.kh; i++) {
      h += "<tr>";
      for (var j = w.c0; j < w.c0 + w.kw; j++) {
        if (i >= w.r1 || j >= w.c1) { h += '<td class="cp-off">off map</td>'; continue; }
        var v = m.value(li, di, w.src, ch, i, j);
        var win = det.winner && det.winner.r === i && det.winner.c === j && (det.mode === "max" || det.mode === "min");
        h += '<td data-r="' + i + '" data-c="' + j + '" data-v="' + v + '"' + (win ? ' class="cp-won"' : "") + ">" + fmt(v) + (win ? " ★" : "") + "</td>";
      }
      h += "</tr>";
    }
    h += "</table>";
    var how = det.mode === "mean" ? 'sum ' + fmt(det.sum) + ' / divisor <b class="cp-divisor">' + w.count + "</b> = "
      : det.mode === "l2" ? "√(sum of squares " + fmt(det.sum) + ") = " : det.mode === "sum" ? "sum = " : det.mode + " = ";
    h += '<p class="cp-result">' + how + '<b class="cp-value">' + fmt(result) + "</b>" +
      (det.winner && (det.mode === "max" || det.mode === "min") ? ' <span class="cp-winner-at">(winner ★ at row ' + det.winner.r + ", col " + det.winner.c + ")</span>" : "") + "</p>";
    h += this.showField("pool", r, r, c, c);
    this.info(h);
  };

  function start(root) {
    if (!root || root.cnnpipeStarted) return;
    root.cnnpipeStarted = true;
    var data = JSON.parse(root.querySelector("script.cnnpipe-data").textContent);
    data.input.values.b64 = root.querySelector("script.cnnpipe-input").textContent;
    var blobs = {};
    root.querySelectorAll("script.cnnpipe-values").forEach(function (el) { blobs[el.getAttribute("data-file")] = el; });
    data.layers.forEach(function (L) {
      L.detectors.forEach(function (D) {
        Object.keys(D.maps).forEach(function (s) {
          var m = D.maps[s];
          m.values = m.values ? blobs[m.file].textContent : null;
        });
      });
    });
    var t0 = performance.now();
    root.cnnpipe = new Report(root, data);
    // ready: hover works. data-ready-ms: since navigation started (performance.now()'s origin)
    root.setAttribute("data-init-ms", String(Math.round(performance.now() - t0)));
    root.setAttribute("data-ready-ms", String(Math.round(performance.now())));
    root.setAttribute("data-ready", "1");
    // shown: the Explore pictures are decoded and on screen
    var pictures = Array.prototype.map.call(root.querySelectorAll(".cp-view img"), function (img) {
      return img.decode().catch(function () { return null; });
    });
    Promise.all(pictures).then(function () {
      requestAnimationFrame(function () { root.setAttribute("data-shown-ms", String(Math.round(performance.now()))); });
    });
  }
  var me = document.currentScript;
  if (me && me.parentNode && me.parentNode.classList && me.parentNode.classList.contains("cnnpipe-report")) start(me.parentNode);
  else document.querySelectorAll(".cnnpipe-report").forEach(start);
})();
