// The live portrait: this project's generator, run in the page (Streamlit component, v2).
//
// Python (pages/live_portrait.py) sends, as the component's data:
//   model:      {digest, latent, range: [lo, hi], ops: [...]}  (dcgan.explore.live.describe)
//   weights:    an Arrow table with one float32 column "w" (the folded weights)
//   base:       the starting latent (seed or projected photo, truncation applied)
//   directions: [[latent floats]] and names: [...]; amounts: the sliders' values
//   max_frame_ms: a frame slower than this (median of the first frames) means "too slow"
// and gets back, as state: amounts (on release, and when a slider has rested 400 ms), and
// status: {mode: "wasm" | "webgl2" | "cpu" | "slow", frame_ms, load_ms, timings}. Nothing is
// fetched from the network.
//
// Three forward passes, each dcgan.explore.live.forward written again: WebAssembly SIMD (kernel.js,
// which the page prepends to this file), WebGL2 (a render pass per layer into float
// textures) where the browser has float render targets and it is faster, and typed arrays
// on the CPU where there is no WebAssembly SIMD (dense, reshape, transposed convolution in
// scatter form, activations). Tensors are height x width x channels.

const MODELS = new Map(); // digest -> {ops, weights}: parsed once per page
const SYNC_MS = 400;

function forward(model, z) {
  const w = model.weights;
  let x = Float32Array.from(z);
  for (const op of model.ops) {
    if (op.op === "dense") {
      x = dense(x, op, w);
    } else if (op.op === "convt") {
      x = convTranspose(x, op, w);
    } else if (op.op === "act") {
      activate(x, op);
    } // reshape: the layout is already height x width x channels
  }
  return x;
}

function dense(x, op, w) {
  const n = op.units, out = w.slice(op.bias, op.bias + n);
  for (let i = 0; i < op.inputs; i++) {
    const xi = x[i], row = op.kernel + i * n;
    if (xi !== 0) for (let j = 0; j < n; j++) out[j] += xi * w[row + j];
  }
  return out;
}

// Gather form, along one axis of a transposed convolution: for each output coordinate
// 0..outSize-1, the [kernel tap, input coordinate] pairs that reach it.
function reaching(op, outSize, inSize) {
  const k = op.size, s = op.stride, pad = op.pad;
  return Array.from({ length: outSize }, (_, o) => {
    const pairs = [];
    for (let a = (o + pad) % s; a < k; a += s) {
      const i = (o + pad - a) / s;
      if (i >= 0 && i < inSize) pairs.push([a, i]);
    }
    return pairs;
  });
}

// The kernel again as (k, k, in, out): the scatter loop below then runs over contiguous
// output channels, and skips the zeros of the ReLU before it (about half of the inputs).
function scatterKernel(op, w) {
  const k = op.size, ci = op.in[2], co = op.out[2], t = new Float32Array(k * k * ci * co);
  for (let tap = 0; tap < k * k; tap++) {
    for (let o = 0; o < co; o++) {
      for (let i = 0; i < ci; i++) t[(tap * ci + i) * co + o] = w[op.kernel + (tap * co + o) * ci + i];
    }
  }
  return t;
}

// Few output channels (the RGB layer): gather, each output pixel summing the taps that reach
// it, input channels contiguous in the input and in the kernel as Keras stores it.
function convTransposeGather(x, op, w) {
  const [h, wi, c] = op.in, [oh, ow, co] = op.out;
  const k = op.size, base = op.kernel, c4 = c - (c % 4);
  const ys = reaching(op, oh, h), xs = reaching(op, ow, wi);
  const out = new Float32Array(oh * ow * co);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      const dst = (oy * ow + ox) * co;
      for (let o = 0; o < co; o++) out[dst + o] = w[op.bias + o];
      for (const [a, iy] of ys[oy]) {
        for (const [b, ix] of xs[ox]) {
          const xin = (iy * wi + ix) * c, tap = base + (a * k + b) * co * c;
          for (let o = 0; o < co; o++) {
            const row = tap + o * c;
            let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = 0;
            for (; i < c4; i += 4) {
              s0 += w[row + i] * x[xin + i];
              s1 += w[row + i + 1] * x[xin + i + 1];
              s2 += w[row + i + 2] * x[xin + i + 2];
              s3 += w[row + i + 3] * x[xin + i + 3];
            }
            for (; i < c; i++) s0 += w[row + i] * x[xin + i];
            out[dst + o] += (s0 + s1) + (s2 + s3);
          }
        }
      }
    }
  }
  return out;
}

function convTranspose(x, op, w) {
  if (op.out[2] < 8) return convTransposeGather(x, op, w);
  const [h, wi, c] = op.in, [oh, ow, co] = op.out;
  const k = op.size, s = op.stride, pad = op.pad;
  const t = op.scatter || (op.scatter = scatterKernel(op, w));
  const out = new Float32Array(oh * ow * co);
  const bias = w.subarray(op.bias, op.bias + co);
  for (let p = 0; p < oh * ow; p++) out.set(bias, p * co);
  for (let iy = 0; iy < h; iy++) {
    for (let ix = 0; ix < wi; ix++) {
      const xin = (iy * wi + ix) * c;
      for (let a = 0; a < k; a++) {
        const oy = iy * s + a - pad;
        if (oy < 0 || oy >= oh) continue;
        for (let b = 0; b < k; b++) {
          const ox = ix * s + b - pad;
          if (ox < 0 || ox >= ow) continue;
          const tap = (a * k + b) * c, dst = (oy * ow + ox) * co;
          for (let i = 0; i < c; i++) {
            const v = x[xin + i];
            if (v === 0) continue;
            const row = (tap + i) * co;
            for (let o = 0; o < co; o++) out[dst + o] += v * t[row + o];
          }
        }
      }
    }
  }
  return out;
}

function activate(x, op) {
  const n = x.length;
  if (op.fn === "relu") for (let i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
  else if (op.fn === "leaky_relu") for (let i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : x[i] * op.alpha;
  else if (op.fn === "tanh") for (let i = 0; i < n; i++) x[i] = Math.tanh(x[i]);
  else if (op.fn === "sigmoid") for (let i = 0; i < n; i++) x[i] = 1 / (1 + Math.exp(-x[i]));
}

// --- WebGL2: one render pass per layer into float textures ------------------------------
// A tensor (h, w, c) is an RGBA32F texture of (w * c4) x h texels, c4 = ceil(c / 4): texel
// (x * c4 + q, y) holds channels 4q..4q+3. Each pass computes one output texel (4 channels)
// per fragment and applies the activation that follows its layer.

const VERTEX = `#version 300 es
in vec2 p; void main() { gl_Position = vec4(p, 0.0, 1.0); }`;

const ACT = `
uniform int act; uniform float alpha;
vec4 activate(vec4 v) {
  if (act == 1) return max(v, 0.0);
  if (act == 2) return mix(v * alpha, v, step(0.0, v));
  if (act == 3) return tanh(v);
  if (act == 4) return 1.0 / (1.0 + exp(-v));
  return v;
}`;

// dense (+ reshape): output texel j = its place in the image texture; kernel texture: row i
// holds, in texel j, input i's weights to the 4 units of texel j.
const DENSE = `#version 300 es
precision highp float; precision highp int;
uniform sampler2D z; uniform sampler2D kernel; uniform sampler2D bias;
uniform int inputs; uniform int width4; ${ACT}
out vec4 o;
void main() {
  ivec2 t = ivec2(gl_FragCoord.xy);
  int j = t.y * width4 + t.x;
  vec4 sum = texelFetch(bias, ivec2(j, 0), 0);
  for (int i = 0; i < inputs; i++) {
    float zi = texelFetch(z, ivec2(i / 4, 0), 0)[i % 4];
    sum += zi * texelFetch(kernel, ivec2(j, i), 0);
  }
  o = activate(sum);
}`;

// transposed convolution: kernel texture row (tap * c4o + q), texel (qi * 4 + r) holds
// W[tap, 4q + r, 4qi .. 4qi + 3].
const CONVT = `#version 300 es
precision highp float; precision highp int;
uniform sampler2D x; uniform sampler2D kernel; uniform sampler2D bias;
uniform int k; uniform int s; uniform int pad; uniform ivec3 inShape; uniform ivec3 outShape;
uniform int c4i; uniform int c4o; ${ACT}
out vec4 o;
void main() {
  ivec2 t = ivec2(gl_FragCoord.xy);
  int ox = t.x / c4o, q = t.x % c4o, oy = t.y;
  vec4 sum = texelFetch(bias, ivec2(q, 0), 0);
  for (int a = 0; a < k; a++) {
    int ny = oy + pad - a;
    if (ny < 0 || ny % s != 0 || ny / s >= inShape.x) continue;
    int iy = ny / s;
    for (int b = 0; b < k; b++) {
      int nx = ox + pad - b;
      if (nx < 0 || nx % s != 0 || nx / s >= inShape.y) continue;
      int ix = nx / s;
      int row = (a * k + b) * c4o + q;
      for (int qi = 0; qi < c4i; qi++) {
        vec4 v = texelFetch(x, ivec2(ix * c4i + qi, iy), 0);
        sum += vec4(dot(texelFetch(kernel, ivec2(qi * 4, row), 0), v),
                    dot(texelFetch(kernel, ivec2(qi * 4 + 1, row), 0), v),
                    dot(texelFetch(kernel, ivec2(qi * 4 + 2, row), 0), v),
                    dot(texelFetch(kernel, ivec2(qi * 4 + 3, row), 0), v));
      }
    }
  }
  o = activate(sum);
}`;

const ACT_CODE = { linear: 0, relu: 1, leaky_relu: 2, tanh: 3, sigmoid: 4 };

class GLRunner {
  constructor(model) {
    const canvas = document.createElement("canvas");
    const gl = canvas.getContext("webgl2", { antialias: false, preserveDrawingBuffer: false });
    if (!gl || !gl.getExtension("EXT_color_buffer_float")) throw new Error("no WebGL2 floats");
    this.gl = gl;
    this.programs = { dense: this.program(DENSE), convt: this.program(CONVT) };
    const quad = this.quad = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, quad);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    this.passes = this.plan(model);
    this.fb = gl.createFramebuffer();
    this.out = new Float32Array(64 * 64 * 4);
  }

  program(source) {
    const gl = this.gl, prog = gl.createProgram();
    for (const [kind, text] of [[gl.VERTEX_SHADER, VERTEX], [gl.FRAGMENT_SHADER, source]]) {
      const shader = gl.createShader(kind);
      gl.shaderSource(shader, text);
      gl.compileShader(shader);
      if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
      gl.attachShader(prog, shader);
    }
    gl.bindAttribLocation(prog, 0, "p");
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
    return prog;
  }

  texture(width, height, data) {
    const gl = this.gl, tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, width, height, 0, gl.RGBA, gl.FLOAT, data);
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
    for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(gl.TEXTURE_2D, p, gl.CLAMP_TO_EDGE);
    return tex;
  }

  // The passes: each layer with the activation after it, weights packed into textures.
  plan(model) {
    const w = model.weights, ops = model.ops, passes = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      let j = i + 1, shape = null;
      if (op.op === "dense" && ops[j] && ops[j].op === "reshape") shape = ops[j++].shape;
      const act = ops[j] && ops[j].op === "act" ? ops[j++] : { fn: "linear", alpha: 0 };
      if (op.op === "dense") {
        // unit u (pixel u / c, channel u % c) goes to lane u % c % 4 of texel
        // (u / c) * c4 + (u % c) / 4: the image layout, channels padded to texels
        const n = op.units, [h, wd, c] = shape || [1, 1, n], c4 = Math.ceil(c / 4);
        const n4 = h * wd * c4, slot = (u) => Math.floor(u / c) * c4 * 4 + (u % c);
        const kernel = new Float32Array(n4 * 4 * op.inputs), bias = new Float32Array(n4 * 4);
        for (let u = 0; u < n; u++) {
          const at = slot(u);
          bias[at] = w[op.bias + u];
          for (let r = 0; r < op.inputs; r++) kernel[r * n4 * 4 + at] = w[op.kernel + r * n + u];
        }
        passes.push({ kind: "dense", act, inputs: op.inputs, out: [h, wd, c],
                      size: [wd * c4, h], width4: wd * c4,
                      kernel: this.texture(n4, op.inputs, kernel), bias: this.texture(n4, 1, bias) });
      } else if (op.op === "convt") {
        const [, , ci] = op.in, [oh, ow, co] = op.out, k = op.size;
        const c4i = Math.ceil(ci / 4), c4o = Math.ceil(co / 4);
        const kernel = new Float32Array(c4i * 4 * 4 * k * k * c4o);
        for (let t = 0; t < k * k; t++) for (let o = 0; o < co; o++) for (let c = 0; c < ci; c++) {
          const row = t * c4o + (o >> 2), texel = (c >> 2) * 4 + (o & 3);
          kernel[(row * c4i * 4 + texel) * 4 + (c & 3)] = w[op.kernel + (t * co + o) * ci + c];
        }
        const bias = new Float32Array(c4o * 4);
        bias.set(w.subarray(op.bias, op.bias + co));
        passes.push({ kind: "convt", act, op, c4i, c4o, out: [oh, ow, co], size: [ow * c4o, oh],
                      kernel: this.texture(c4i * 4, k * k * c4o, kernel), bias: this.texture(c4o, 1, bias) });
      } else {
        throw new Error(`no WebGL pass for ${op.op}`);
      }
      i = j - 1;
    }
    for (const pass of passes) pass.target = this.texture(pass.size[0], pass.size[1], null);
    const last = passes[passes.length - 1];
    if (last.out.join() !== "64,64,3") throw new Error("the last pass is not the image");
    this.latent = this.texture(Math.ceil(passes[0].inputs / 4), 1, null);
    return passes;
  }

  // z -> (64 * 64 * 3) floats, as forward() returns them.
  run(z) {
    const gl = this.gl;
    const zpad = new Float32Array(Math.ceil(z.length / 4) * 4);
    zpad.set(z);
    gl.bindTexture(gl.TEXTURE_2D, this.latent);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, zpad.length / 4, 1, gl.RGBA, gl.FLOAT, zpad);
    let input = this.latent;
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.fb);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.quad);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    for (const pass of this.passes) {
      const prog = this.programs[pass.kind];
      gl.useProgram(prog);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, pass.target, 0);
      gl.viewport(0, 0, pass.size[0], pass.size[1]);
      const u = (name) => gl.getUniformLocation(prog, name);
      [input, pass.kernel, pass.bias].forEach((tex, unit) => {
        gl.activeTexture(gl.TEXTURE0 + unit);
        gl.bindTexture(gl.TEXTURE_2D, tex);
      });
      gl.uniform1i(u(pass.kind === "dense" ? "z" : "x"), 0);
      gl.uniform1i(u("kernel"), 1);
      gl.uniform1i(u("bias"), 2);
      gl.uniform1i(u("act"), ACT_CODE[pass.act.fn]);
      gl.uniform1f(u("alpha"), pass.act.alpha || 0);
      if (pass.kind === "dense") {
        gl.uniform1i(u("inputs"), pass.inputs);
        gl.uniform1i(u("width4"), pass.width4);
      } else {
        const op = pass.op;
        gl.uniform1i(u("k"), op.size);
        gl.uniform1i(u("s"), op.stride);
        gl.uniform1i(u("pad"), op.pad);
        gl.uniform3i(u("inShape"), op.in[0], op.in[1], op.in[2]);
        gl.uniform3i(u("outShape"), op.out[0], op.out[1], op.out[2]);
        gl.uniform1i(u("c4i"), pass.c4i);
        gl.uniform1i(u("c4o"), pass.c4o);
      }
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      input = pass.target;
    }
    gl.readPixels(0, 0, 64, 64, gl.RGBA, gl.FLOAT, this.out);
    const rgb = new Float32Array(64 * 64 * 3);
    for (let p = 0; p < 64 * 64; p++) {
      rgb[p * 3] = this.out[p * 4];
      rgb[p * 3 + 1] = this.out[p * 4 + 1];
      rgb[p * 3 + 2] = this.out[p * 4 + 2];
    }
    return rgb;
  }
}

// (64 * 64 * 3) floats in [lo, hi] -> RGBA bytes, rounded as dcgan.data.images.to_uint8 rounds.
function toRGBA(x, [lo, hi]) {
  const px = new Uint8ClampedArray(64 * 64 * 4);
  for (let p = 0; p < 64 * 64; p++) {
    for (let ch = 0; ch < 3; ch++) {
      const v = Math.fround(Math.fround(x[p * 3 + ch] - lo) / (hi - lo)) * 255;
      px[p * 4 + ch] = Math.round(v); // clamped to 0..255 by the array type
    }
    px[p * 4 + 3] = 255;
  }
  return px;
}

// The path a model runs on: WebAssembly SIMD (kernel.js) where the browser has it, else
// typed arrays; then, once per model after the first frame (so it never delays it), WebGL2
// is timed against it and kept if faster. A software WebGL (SwiftShader, on machines
// without a GPU) is slower than the CPU. The timing runs as separate tasks, so a slider
// moved meanwhile is not held up by it.
function cpuRunner(model) {
  try {
    const wasm = new WasmRunner(model);
    return { mode: "wasm", runner: wasm, wasm };
  } catch (error) {
    model.why_not_wasm = String((error && error.message) || error);
    return { mode: "cpu", runner: { run: (z) => forward(model, z) } };
  }
}

function typicalLatent(n) { // a typical latent: zeros would be all-ReLU-zero
  const z = new Float32Array(n);
  let seed = 12345;
  const uniform = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) + 1) / 2147483649;
  for (let i = 0; i < n; i++) {
    z[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  return z;
}

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

// Fastest of 3 runs after 2 warm-ups (shaders compile on their first draws), each run a
// task of its own; stops early once a run takes over `enough` ms (no chance of winning).
async function timeRuns(fn, z, enough = Infinity) {
  let fastest = Infinity;
  for (let i = 0; i < 5; i++) {
    await nextTask();
    const t0 = performance.now();
    fn(z);
    const ms = performance.now() - t0;
    if (i >= 2) fastest = Math.min(fastest, ms);
    if (ms > enough && i >= 1) return ms;
  }
  return fastest;
}

async function choosePath(model) {
  const z = typicalLatent(model.latent);
  model.timings[model.mode] = await timeRuns((v) => model.runner.run(v), z);
  try {
    model.glRunner = new GLRunner(model);
    model.timings.webgl2 = await timeRuns((v) => model.glRunner.run(v), z,
                                          3 * model.timings[model.mode]);
    if (model.timings.webgl2 < model.timings[model.mode]) {
      model.runner = model.glRunner;
      model.mode = "webgl2";
    }
  } catch (error) {
    model.why = String((error && error.message) || error);
  }
  model.chosen = true;
}

function run(model, z) {
  return model.runner.run(z);
}

function latentOf(data, amounts) {
  const z = Float32Array.from(data.base);
  data.directions.forEach((d, i) => {
    const a = amounts[i] || 0;
    if (a) for (let j = 0; j < z.length; j++) z[j] += a * d[j];
  });
  return z;
}

function loadModel(data) {
  const key = data.model.digest;
  if (!MODELS.has(key) && data.weights) {
    const column = data.weights.getChild("w").toArray(); // one chunk: a Float32Array view
    const model = { ...data.model, weights: new Float32Array(column) };
    Object.assign(model, cpuRunner(model)); // until WebGL2 has been tried (choosePath)
    model.timings = {};
    MODELS.set(key, model);
    while (MODELS.size > 4) MODELS.delete(MODELS.keys().next().value);
  }
  return MODELS.get(key);
}

const REPORTED = new Set(); // digests whose status was sent (state changes rerun the app)

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const started = performance.now();
  const root = parentElement.querySelector(".live");
  const canvas = root.querySelector("canvas.portrait");
  const model = loadModel(data);
  if (!model) { // the server sent no weights, thinking this page has them: ask for them
    setStateValue("have", []);
    return;
  }
  if (!(data.have || []).includes(model.digest)) {
    setStateValue("have", [model.digest]); // the next runs send the model without weights
  }
  const load_ms = performance.now() - started;
  // What the page keeps between runs of the app: the sliders and their values. Python
  // sets them again only when it bumps `generation` (Reset, another generator).
  let live = root.__live;
  const names = data.names.join("\u0000");
  const resync = live !== undefined && live.generation !== data.generation;
  if (!live || live.generation !== data.generation || live.names !== names) {
    live = root.__live = { generation: data.generation, names, amounts: data.amounts.slice(),
                           frames: [], pending: false, syncTimer: 0, slow: false,
                           small: document.createElement("canvas") };
    live.small.width = live.small.height = 64;
    buildSliders();
    if (resync) setStateValue("amounts", live.amounts.slice()); // after a Reset
  }
  live.data = data;
  live.model = model;

  function draw() {
    live.pending = false;
    const t0 = performance.now();
    const pixels = toRGBA(run(live.model, latentOf(live.data, live.amounts)), model.range);
    live.small.getContext("2d").putImageData(new ImageData(pixels, 64, 64), 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(live.small, 0, 0, canvas.width, canvas.height);
    const end = performance.now(), ms = end - t0;
    if (live.inputAt) { // from the slider's input event to this frame drawn
      root.dataset.latencyMs = (end - live.inputAt).toFixed(2);
      live.inputAt = 0;
    }
    live.frames.push(ms);
    if (live.frames.length > 240) live.frames.shift();
    root.dataset.frames = String(Number(root.dataset.frames || 0) + 1);
    if (live.frames.length === 5 && !live.slow) {
      const median = [...live.frames].sort((x, y) => x - y)[2];
      if (median > live.data.max_frame_ms) {
        live.slow = true; // Python renders on the server from the next run on
        setStateValue("status", { mode: "slow", path: model.mode, frame_ms: median, load_ms });
      }
    }
    return pixels;
  }

  function request() {
    if (!live.pending) {
      live.pending = true;
      requestAnimationFrame(draw);
    }
  }

  // Each report reruns the page's fragment on the server, which competes with the drawing
  // for the machine: reported on release (change) and when a slider has rested SYNC_MS.
  function sync(now) {
    clearTimeout(live.syncTimer);
    if (now) setStateValue("amounts", live.amounts.slice());
    else live.syncTimer = setTimeout(() => sync(true), SYNC_MS);
  }

  function buildSliders() {
    const list = root.querySelector(".sliders");
    list.replaceChildren();
    data.names.forEach((name, i) => {
      const label = document.createElement("label");
      const text = document.createElement("span");
      const value = document.createElement("output");
      const input = document.createElement("input");
      Object.assign(input, { type: "range", min: -3, max: 3, step: 0.1 });
      input.value = String(live.amounts[i] || 0);
      input.setAttribute("aria-label", name);
      text.textContent = name;
      value.textContent = Number(input.value).toFixed(1);
      input.addEventListener("input", () => {
        if (!live.inputAt) live.inputAt = performance.now();
        live.amounts[i] = Number(input.value);
        value.textContent = live.amounts[i].toFixed(1);
        request();
        sync(false);
      });
      input.addEventListener("change", () => sync(true));
      label.append(text, value, input);
      list.append(label);
    });
  }

  // For the tests and the benchmark: any latent's pixels, and the frame times.
  window.dcganLive = {
    pixels: (z) => Array.from(toRGBA(run(live.model, z), model.range)),
    cpuPixels: (z) => Array.from(toRGBA(forward(live.model, z), model.range)),
    wasmPixels: (z) => Array.from(toRGBA(live.model.wasm.run(z), model.range)),
    glPixels: (z) => Array.from(toRGBA(live.model.glRunner.run(z), model.range)),
    get mode() { return live.model.mode; },
    get digest() { return live.model.digest; },
    get timings() { return live.model.timings; },
    get chosen() { return Boolean(live.model.chosen); },
    frames: () => live.frames.slice(),
  };
  draw();
  if (!root.dataset.firstFrameAt) { // ms since the page started loading (the benchmark's)
    root.dataset.firstFrameAt = performance.now().toFixed(0);
  }
  if (!REPORTED.has(model.digest)) {
    REPORTED.add(model.digest);
    choosePath(model).then(() => {
      const now = root.__live;
      now.frames.length = 0; // the slow-frame check starts again on the chosen path
      root.dataset.mode = model.mode;
      const fastest = Math.min(...Object.values(model.timings));
      const status = { mode: model.mode, load_ms, timings: model.timings,
                       why_not_webgl: model.why || null, why_not_wasm: model.why_not_wasm || null };
      if (fastest > now.data.max_frame_ms) { // too slow on every path: the server renders
        now.slow = true;
        setStateValue("status", { ...status, mode: "slow", path: model.mode, frame_ms: fastest });
      } else if (!now.slow) {
        setStateValue("status", status);
      }
    });
  } else {
    root.dataset.mode = model.mode;
  }
}
