// The live portrait's transposed convolutions in WebAssembly SIMD, assembled here in the
// page: a 1.4 KB module written byte by byte below (no compiler, no file, no
// network). V8 does not vectorise JavaScript; this runs four output channels per
// instruction, several times the typed-array loops of live.js.
//
// The convolution is in gather form: each output pixel sums, over the taps that reach it,
// input pixel (ci channels) x kernel slice (ci x co). Which taps reach which output pixel is
// a table JavaScript builds once per layer (`starts`: for each output pixel, where its
// (input offset, kernel offset) pairs begin in `pairs`), so the WebAssembly loop knows
// nothing of sizes, strides or padding. Channels are stored padded to a multiple of 4
// (zeros in the kernels and biases), tensors as height x width x channels, all float32.

const WASM = (() => {
  const uleb = (n) => {
    const out = [];
    do {
      let byte = n & 0x7f;
      n >>>= 7;
      if (n) byte |= 0x80;
      out.push(byte);
    } while (n);
    return out;
  };
  const sleb = (n) => {
    const out = [];
    for (;;) {
      const byte = n & 0x7f;
      n >>= 7;
      if ((n === 0 && !(byte & 0x40)) || (n === -1 && byte & 0x40)) return [...out, byte];
      out.push(byte | 0x80);
    }
  };
  const vec = (items) => [...uleb(items.length), ...items.flat()];
  const text = (s) => vec([...s].map((c) => [c.charCodeAt(0)]));
  const section = (id, bytes) => [id, ...uleb(bytes.length), ...bytes];
  const I32 = 0x7f, V128 = 0x7b;
  const get = (i) => [0x20, ...uleb(i)], set = (i) => [0x21, ...uleb(i)];
  const i32 = (n) => [0x41, ...sleb(n)];
  const [add, shl, geU, ltU] = [[0x6a], [0x74], [0x4f], [0x49]];
  const load = (offset = 0) => [0x28, 2, ...uleb(offset)]; // i32.load, align 4
  const loadF32 = [0x2a, 2, 0];
  const simd = (op) => [0xfd, ...uleb(op)];
  const vload = (offset) => [...simd(0x00), 4, ...uleb(offset)]; // align 16
  const vstore = (offset) => [...simd(0x0b), 4, ...uleb(offset)];
  const [splat, fadd, fmul] = [simd(0x13), simd(0xe4), simd(0xe6)];
  const block = (...body) => [0x02, 0x40, ...body.flat(Infinity), 0x0b];
  const loop = (...body) => [0x03, 0x40, ...body.flat(Infinity), 0x0b];
  const br = (depth) => [0x0c, ...uleb(depth)], brIf = (depth) => [0x0d, ...uleb(depth)];
  const inc = (local, bytes) => [get(local), i32(bytes), add, set(local)];

  // convt(starts, pairs, npix, out, bias, x, kernel, ci, co), all i32 (byte addresses,
  // counts of floats): `vectors` accumulators of 4 channels, co a multiple of 4 * vectors.
  const PARAMS = 9;
  const [STARTS, PAIRS, NPIX, OUT, BIAS, X, KERNEL, CI, CO] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [SP, SEND, OB, Q, QEND, XP, XE, KP, KSTRIDE] = [9, 10, 11, 12, 13, 14, 15, 16, 17];
  const I32_LOCALS = 9, ACC = PARAMS + I32_LOCALS;
  function convt(vectors) {
    const V = ACC + vectors; // the splat input value
    const each = (fn) => Array.from({ length: vectors }, (_, j) => fn(j)).flat();
    const body = [
      get(CO), i32(2), shl, set(KSTRIDE), // one input channel further in the kernel
      get(STARTS), set(SP),
      get(STARTS), get(NPIX), i32(2), shl, add, set(SEND),
      loop( // output pixels
        i32(0), set(OB),
        loop( // blocks of 4 * vectors output channels
          each((j) => [get(BIAS), get(OB), add, vload(16 * j), set(ACC + j)]),
          get(PAIRS), get(SP), load(0), add, set(Q),
          get(PAIRS), get(SP), load(4), add, set(QEND),
          block(loop( // the taps reaching this pixel
            get(Q), get(QEND), geU, brIf(1),
            get(X), get(Q), load(0), add, set(XP),
            get(KERNEL), get(Q), load(4), add, get(OB), add, set(KP),
            get(XP), get(CI), i32(2), shl, add, set(XE),
            loop( // input channels
              get(XP), loadF32, splat, set(V),
              each((j) => [get(ACC + j), get(V), get(KP), vload(16 * j), fmul, fadd,
                           set(ACC + j)]),
              get(KP), get(KSTRIDE), add, set(KP),
              inc(XP, 4),
              get(XP), get(XE), ltU, brIf(0),
            ),
            inc(Q, 8),
            br(0),
          )),
          each((j) => [get(OUT), get(ACC + j), vstore(16 * j)]),
          inc(OUT, 16 * vectors),
          inc(OB, 16 * vectors),
          get(OB), get(KSTRIDE), ltU, brIf(0),
        ),
        inc(SP, 4),
        get(SP), get(SEND), ltU, brIf(0),
      ),
    ].flat(Infinity);
    const locals = vec([[...uleb(I32_LOCALS), I32], [...uleb(vectors + 1), V128]]);
    const code = [...locals, ...body, 0x0b];
    return [...uleb(code.length), ...code];
  }

  const VARIANTS = [8, 4, 2, 1]; // accumulators per block, the widest that divides co first
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec(Array(PARAMS).fill([I32])), 0x00]])),
    ...section(2, vec([[...text("env"), ...text("memory"), 0x02, 0x00, 0x01]])),
    ...section(3, vec(VARIANTS.map(() => [0x00]))),
    ...section(7, vec(VARIANTS.map((v, f) => [...text(`convt${v}`), 0x00, f]))),
    ...section(10, vec(VARIANTS.map(convt))),
  ]);
  let module = null;
  try {
    if (WebAssembly.validate(bytes)) module = new WebAssembly.Module(bytes);
  } catch (error) {
    module = null; // no WebAssembly SIMD here: the typed-array path runs
  }
  return { module, variants: VARIANTS };
})();

const pad4 = (c) => Math.ceil(c / 4) * 4;

// The generator in one WebAssembly memory: for each transposed convolution its kernel
// (taps x ci x co, padded), bias and tap table, then one buffer per tensor. run(z) is
// dcgan.explore.live.forward again: dense and activations in JavaScript (live.js's `dense` and
// `activate`, on views of the memory; a small share of the work), the convolutions in
// WebAssembly.
class WasmRunner {
  constructor(model) {
    if (!WASM.module) throw new Error("this browser has no WebAssembly SIMD");
    const w = model.weights;
    let top = 0;
    const reserve = (floats) => {
      const at = top;
      top += Math.ceil(floats / 4) * 16; // byte address, 16-aligned
      return at;
    };
    const fills = [];
    this.steps = [];
    let shape = null, tensor = 0;
    for (const op of model.ops) {
      if (op.op === "dense") {
        this.steps.push({ kind: "dense", op });
      } else if (op.op === "reshape") {
        shape = op.shape;
        tensor = reserve(shape[0] * shape[1] * pad4(shape[2]));
        this.steps.push({ kind: "reshape", shape, at: tensor });
      } else if (op.op === "act") {
        this.steps.push({ kind: "act", op, at: tensor,
                          floats: shape[0] * shape[1] * pad4(shape[2]) });
      } else if (op.op === "convt") {
        const [h, wi, c] = op.in, [oh, ow, co] = op.out, k = op.size;
        const cs = pad4(c), cos = pad4(co), npix = oh * ow;
        const ys = reaching(op, oh, h), xs = reaching(op, ow, wi), pairs = [], starts = [0];
        for (let oy = 0; oy < oh; oy++) {
          for (let ox = 0; ox < ow; ox++) {
            for (const [a, iy] of ys[oy]) {
              for (const [b, ix] of xs[ox]) {
                pairs.push((iy * wi + ix) * cs * 4, (a * k + b) * cs * cos * 4);
              }
            }
            starts.push(pairs.length * 4);
          }
        }
        const kernel = reserve(k * k * cs * cos), bias = reserve(cos);
        const at = { starts: reserve(npix + 1), pairs: reserve(pairs.length) };
        fills.push((f32, i32) => {
          for (let tap = 0; tap < k * k; tap++) {
            for (let o = 0; o < co; o++) {
              for (let i = 0; i < c; i++) {
                f32[kernel / 4 + (tap * cs + i) * cos + o] = w[op.kernel + (tap * co + o) * c + i];
              }
            }
          }
          f32.set(w.subarray(op.bias, op.bias + co), bias / 4);
          i32.set(starts, at.starts / 4);
          i32.set(pairs, at.pairs / 4);
        });
        const vectors = WASM.variants.find((v) => (cos / 4) % v === 0);
        const input = tensor;
        shape = op.out;
        tensor = reserve(npix * cos);
        this.steps.push({ kind: "convt", fn: `convt${vectors}`,
                          args: [at.starts, at.pairs, npix, tensor, bias, input, kernel, cs, cos] });
      }
    }
    this.shape = shape;
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(top / 65536) + 1 });
    this.f32 = new Float32Array(this.memory.buffer);
    const i32 = new Int32Array(this.memory.buffer);
    fills.forEach((fill) => fill(this.f32, i32));
    this.kernels = new WebAssembly.Instance(WASM.module, { env: { memory: this.memory } }).exports;
    this.weights = w;
    this.out = tensor;
  }

  run(z) {
    const f32 = this.f32, w = this.weights;
    let flat = null;
    for (const step of this.steps) {
      if (step.kind === "dense") {
        flat = dense(z, step.op, w);
      } else if (step.kind === "reshape") {
        const [h, wi, c] = step.shape, cs = pad4(c), at = step.at / 4;
        if (cs === c) f32.set(flat, at);
        else for (let p = 0; p < h * wi; p++) f32.set(flat.subarray(p * c, p * c + c), at + p * cs);
      } else if (step.kind === "act") {
        activate(f32.subarray(step.at / 4, step.at / 4 + step.floats), step.op);
      } else {
        this.kernels[step.fn](...step.args);
      }
    }
    const [oh, ow, co] = this.shape, cs = pad4(co), at = this.out / 4;
    const out = new Float32Array(oh * ow * co);
    for (let p = 0; p < oh * ow; p++) {
      for (let ch = 0; ch < co; ch++) out[p * co + ch] = f32[at + p * cs + ch];
    }
    return out;
  }
}
