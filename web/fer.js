// fer.js: facial emotion recognition in the browser, on the device, with the library's own models
// and steps: BlazeFace (the two models fer/detect.py runs) through MediaPipe Tasks for Web, the
// model folder's model.tflite through LiteRT.js, and every setting from that folder's config.json
// (crop, alignment, grey, size, scale, class offsets, temperature, the unsure threshold), so the page
// and the Python library cannot drift apart. Each step names the Python function it mirrors; the
// browser tests check the two give the same faces, boxes and probabilities.
//
//   const fer = await loadRecognizer(urls);       // urls: see DEFAULT_FILES below, all on this origin
//   const {faces} = await fer.analyze(imageOrVideoOrCanvas);   // as /analyze: box, score, label, scores, uncertain
//
// analyze() is predict(image, tiles=1) of fer.EmotionRecognizer: the live-video path (no tiles).

// fer/detect.py's settings, the same numbers
const SHORT_RANGE_SCORE = 0.55;
const FULL_RANGE_SCORE = 0.5;
const MAX_OVERLAP = 0.5;
const LARGE_FACE_FRACTION = 0.25;
const RETRY_SIDE = 512;
const RETRY_CANVAS = 2.0;
const RETRY_INSIDE = 0.5;
const RETRY_BELOW_SCORE = 0.8;
const FLAT_LEVELS = 4;
const FLAT_SHARE = 0.6;
const MAX_ANALYSIS_PIXELS = 2048 * 2048; // fer/predictor.py

let litertLoaded = null;

export async function loadRecognizer(files) {
  const started = performance.now();
  const vision = await import(files.visionModule);
  const litert = await import(files.litertModule);
  const fileset = await vision.FilesetResolver.forVisionTasks(files.visionWasm);
  const detector = (model, score) => vision.FaceDetector.createFromOptions(fileset, {
    baseOptions: { modelAssetPath: model, delegate: "CPU" },
    runningMode: "IMAGE",
    minDetectionConfidence: score,
  });
  const [shortRange, fullRange, config] = await Promise.all([
    detector(files.shortRange, SHORT_RANGE_SCORE),
    detector(files.fullRange, FULL_RANGE_SCORE),
    fetch(files.config).then((r) => { if (!r.ok) throw new Error(`config.json: HTTP ${r.status}`); return r.json(); }),
  ]);
  // LiteRT.js loads its WASM once a page: a second recognizer (another model) shares it
  litertLoaded ??= litert.loadLiteRt(files.litertWasm);
  await litertLoaded;
  const model = await litert.loadAndCompile(files.model, { accelerator: "wasm" });
  const classifier = new Classifier(litert, model, config);
  return new Recognizer(shortRange, fullRange, classifier, config, performance.now() - started);
}

class Recognizer {
  constructor(shortRange, fullRange, classifier, config, loadMs) {
    this.shortRange = shortRange;
    this.fullRange = fullRange;
    this.classifier = classifier;
    this.config = config;
    this.labels = config.labels;
    this.uncertainBelow = config.uncertain_below ?? null;
    this.loadMs = loadMs;
    // made once, reused every frame: a face-less webcam frame takes the padded retry each time
    [this.canvas, this.retryCanvas, this.sourceCanvas] = [0, 1, 2].map(() => document.createElement("canvas"));
  }

  // fer.EmotionRecognizer.predict(image, tiles=1): every face, largest first
  async analyze(source) {
    const { rgba, factor, size } = this.pixels(source);
    const { width, height } = rgba;
    const grey = toGrey(rgba);
    const detections = this.detect(rgba, grey);
    const pre = this.config.preprocessing;
    const crops = detections.map((d) => cropFace(grey, width, height, d, pre));
    const probabilities = await this.classifier.probabilities(crops);
    const faces = detections.map((d, i) => {
      const p = probabilities[i];
      const top = p.indexOf(Math.max(...p));
      return {
        box: d.box.map((v) => Math.round(v / factor)), // in the source's pixels, as fer/predictor.py gives them
        score: d.score,
        label: this.labels[top],
        scores: Object.fromEntries(this.labels.map((label, k) => [label, p[k]])),
        uncertain: this.uncertainBelow !== null && p[top] < this.uncertainBelow,
        keypoints: d.keypoints.map(([x, y]) => [x / factor, y / factor]),
      };
    });
    const area = (f) => (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]);
    faces.sort((a, b) => area(b) - area(a));
    return { faces, size };
  }

  // an image, video or canvas as RGBA pixels, shrunk past MAX_ANALYSIS_PIXELS as fer/predictor.py
  // does, and the factor applied (analyze() divides the boxes by it: they are in the source's pixels)
  pixels(source) {
    if (source instanceof ImageData) return { rgba: source, factor: 1, size: [source.width, source.height] };
    const width = source.videoWidth || source.naturalWidth || source.width;
    const height = source.videoHeight || source.naturalHeight || source.height;
    if (!width || !height) throw new Error("the image or video has no pixels yet");
    const factor = Math.min(1, Math.sqrt(MAX_ANALYSIS_PIXELS / (width * height)));
    this.canvas.width = Math.max(1, Math.floor(width * factor));
    this.canvas.height = Math.max(1, Math.floor(height * factor));
    const ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(source, 0, 0, this.canvas.width, this.canvas.height);
    return { rgba: ctx.getImageData(0, 0, this.canvas.width, this.canvas.height), factor, size: [width, height] };
  }

  // fer.detect.FaceDetector.detect(image, tiles=1): the short-range model first (a webcam films one
  // close face), the full-range one while no large face is found, then the padded retry when nothing
  // or nothing sure was found; flat boxes dropped; overlaps suppressed
  detect(rgba, grey) {
    const { width, height } = rgba;
    let found = [];
    for (const model of [this.shortRange, this.fullRange]) {
      if (hasLargeFace(found, width, height)) break;
      found = found.concat(textured(grey, width, height, run(model, rgba)));
    }
    if (!found.length || Math.max(...found.map((d) => d.score)) < RETRY_BELOW_SCORE) {
      found = found.concat(this.padded(rgba, grey));
    }
    return nonMaxSuppression(found, MAX_OVERLAP);
  }

  // FaceDetector._padded: the image shrunk to RETRY_SIDE and centred on a black square canvas
  // RETRY_CANVAS times its side, for a face that fills the frame; boxes back in the image's pixels
  padded(rgba, grey) {
    const { width, height } = rgba;
    const factor = Math.min(1, RETRY_SIDE / Math.max(width, height));
    const w = Math.max(1, Math.round(width * factor)), h = Math.max(1, Math.round(height * factor));
    const side = Math.floor(Math.max(w, h) * RETRY_CANVAS);
    const top = Math.floor((side - h) / 2), left = Math.floor((side - w) / 2);
    const canvas = this.retryCanvas, source = this.sourceCanvas;
    canvas.width = canvas.height = side;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, side, side);
    source.width = width;
    source.height = height;
    source.getContext("2d").putImageData(rgba, 0, 0);
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(source, left, top, w, h);
    const found = [];
    for (const det of run(this.shortRange, ctx.getImageData(0, 0, side, side))) {
      const [x0, y0, x1, y1] = det.box.map((v, i) => (v - (i % 2 ? top : left)) / factor);
      const inside = (Math.min(x1, width) - Math.max(x0, 0)) * (Math.min(y1, height) - Math.max(y0, 0));
      if (x1 <= 0 || y1 <= 0 || x0 >= width || y0 >= height || inside < RETRY_INSIDE * (x1 - x0) * (y1 - y0)) continue;
      found.push({
        box: [Math.max(0, x0), Math.max(0, y0), Math.min(width, x1), Math.min(height, y1)],
        score: det.score,
        keypoints: det.keypoints.map(([x, y]) => [(x - left) / factor, (y - top) / factor]),
      });
    }
    return textured(grey, width, height, found); // on the image's own pixels: the canvas is flat
  }

  close() {
    this.shortRange.close();
    this.fullRange.close();
    this.classifier.close();
  }
}

// fer/detect.py's _run and _to_detection: MediaPipe's boxes clipped to the image, keypoints in pixels
function run(model, image) {
  const { width, height } = image;
  return model.detect(image).detections.map((d) => {
    const b = d.boundingBox;
    const x0 = Math.max(0, b.originX), y0 = Math.max(0, b.originY);
    const x1 = Math.min(width, b.originX + b.width), y1 = Math.min(height, b.originY + b.height);
    return {
      box: [x0, y0, x1, y1],
      score: d.categories[0].score,
      keypoints: d.keypoints.map((k) => [k.x * width, k.y * height]),
    };
  });
}

function hasLargeFace(found, width, height) {
  return found.some((d) => Math.max(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= LARGE_FACE_FRACTION * Math.min(width, height));
}

// fer.detect.flat_share: the share of a box's grey pixels within FLAT_LEVELS of their median
export function flatShare(grey, width, height, box) {
  const [x0, y0, x1, y1] = box.map((v) => Math.round(v));
  const values = [];
  for (let y = Math.max(0, y0); y < Math.min(height, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(width, x1); x++) values.push(grey[y * width + x]);
  }
  if (!values.length) return 1;
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return values.filter((v) => Math.abs(v - median) <= FLAT_LEVELS).length / values.length;
}

function textured(grey, width, height, detections) {
  return detections.filter((d) => flatShare(grey, width, height, d.box) <= FLAT_SHARE);
}

// fer.detect.overlap and non_max_suppression: intersection over the smaller box
function overlap(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const smaller = Math.min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]));
  return smaller > 0 ? (w * h) / smaller : 0;
}

function nonMaxSuppression(detections, maxOverlap) {
  const kept = [];
  for (const d of [...detections].sort((a, b) => b.score - a.score)) {
    if (kept.every((k) => overlap(d.box, k.box) <= maxOverlap)) kept.push(d);
  }
  return kept;
}

// OpenCV's RGB -> grey (cv2.COLOR_RGB2GRAY): its fixed-point weights and rounding
export function toGrey({ data, width, height }) {
  const grey = new Uint8Array(width * height);
  for (let i = 0, j = 0; i < grey.length; i++, j += 4) {
    grey[i] = (data[j] * 4899 + data[j + 1] * 9617 + data[j + 2] * 1868 + 8192) >> 14;
  }
  return grey;
}

// fer.preprocess.alignment_matrix: the 2x3 map from image pixels to the out x out crop
export function alignmentMatrix(det, pre, out) {
  const [x0, y0, x1, y1] = det.box;
  const side = pre.crop_scale * Math.max(x1 - x0, y1 - y0, 1);
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2 + pre.center_shift * (y1 - y0);
  let angle = 0;
  if (pre.align && det.keypoints.length >= 2) {
    const [[rx, ry], [lx, ly]] = det.keypoints;
    angle = Math.atan2(ly - ry, lx - rx);
  }
  // cv2.getRotationMatrix2D((cx, cy), degrees(angle), out / side), then centred on the crop
  const a = (out / side) * Math.cos(angle), b = (out / side) * Math.sin(angle);
  return [a, b, (1 - a) * cx - b * cy + out / 2 - cx, -b, a, b * cx + (1 - a) * cy + out / 2 - cy];
}

// fer.preprocess.crop_face: warp (bilinear, edges replicated) to a few times the size, then
// average down (cv2.INTER_AREA at a whole factor)
export function cropFace(grey, width, height, det, pre) {
  const size = pre.input_size;
  const side = pre.crop_scale * Math.max(det.box[2] - det.box[0], det.box[3] - det.box[1], 1);
  const k = Math.floor(Math.min(4, Math.max(1, Math.floor(side / size))));
  const work = size * k;
  const [a, b, c, d, e, f] = alignmentMatrix(det, pre, work);
  const det2 = a * e - b * d; // the inverse map: crop pixel -> image pixel
  const ia = e / det2, ib = -b / det2, id = -d / det2, ie = a / det2;
  const ic = -(ia * c + ib * f), iff = -(id * c + ie * f);
  const warped = new Float32Array(work * work);
  const at = (x, y) => grey[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))];
  for (let v = 0; v < work; v++) {
    for (let u = 0; u < work; u++) {
      const x = ia * u + ib * v + ic, y = id * u + ie * v + iff;
      const x0 = Math.floor(x), y0 = Math.floor(y), fx = x - x0, fy = y - y0;
      const top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx;
      const bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx;
      warped[v * work + u] = Math.round(top * (1 - fy) + bottom * fy); // uint8, as warpAffine gives
    }
  }
  const crop = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let sum = 0;
      for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) sum += warped[(y * k + dy) * work + x * k + dx];
      crop[y * size + x] = Math.round(sum / (k * k));
    }
  }
  return crop;
}

// fer.classifier.EmotionClassifier.predict_proba: the network's logits, then
// softmax((logits + class offsets) / temperature)
class Classifier {
  constructor(litert, model, config) {
    this.litert = litert;
    this.model = model;
    this.config = config;
    // the logits are the output with two dimensions (batch, classes), as LiteRTRunner.RANKS says
    this.logitsAt = model.getOutputDetails().findIndex((o) => o.shape.length === 2);
  }

  async probabilities(crops) {
    const { input_size: size, scale } = this.config.preprocessing;
    const offsets = this.config.class_offsets || this.config.labels.map(() => 0);
    const temperature = this.config.temperature || 1;
    const out = [];
    for (const crop of crops) { // one at a time: the compiled model takes a batch of one
      const input = new this.litert.Tensor(Float32Array.from(crop, (v) => v * scale), [1, size, size, 1]);
      const outputs = await this.model.run(input);
      const logits = Array.from(outputs[this.logitsAt].toTypedArray());
      input.delete();
      outputs.forEach((t) => t.delete());
      const z = logits.map((v, i) => (v + offsets[i]) / temperature);
      const max = Math.max(...z);
      const e = z.map((v) => Math.exp(v - max));
      const total = e.reduce((s, v) => s + v, 0);
      out.push(e.map((v) => v / total));
    }
    return out;
  }

  close() {
    this.model.delete?.();
  }
}
