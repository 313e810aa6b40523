// tracking.js: fer/tracking.py for the page (the on-device webcam follows faces where the frames
// are): the same matching, velocity, smoothing and timeline, step for step, so a face keeps its id
// and its smoothed label on the device as on the server. tests/test_on_device.py runs one sequence
// of frames through both and compares.

const VELOCITY_SMOOTHING = 0.5;
const UNSEEN_SLOWING = 0.8;

// fer.detect.iou
export function iou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

class Track {
  constructor(id, box, window) {
    this.id = id;
    this.box = box;
    this.history = [];
    this.window = window;
    this.missed = 0;
    this.velocity = [0, 0];
  }

  // Track.expected_box: the last box moved on, each unseen frame's step shorter than the last
  expectedBox() {
    const frames = (1 - UNSEEN_SLOWING ** (this.missed + 1)) / (1 - UNSEEN_SLOWING);
    const [dx, dy] = this.velocity.map((v) => v * frames);
    const [x0, y0, x1, y1] = this.box;
    return [x0 + dx, y0 + dy, x1 + dx, y1 + dy];
  }

  moveTo(box) {
    const frames = this.missed + 1;
    const step = [(box[0] + box[2] - this.box[0] - this.box[2]) / 2 / frames,
      (box[1] + box[3] - this.box[1] - this.box[3]) / 2 / frames];
    this.velocity = this.velocity.map((v, i) => VELOCITY_SMOOTHING * v + (1 - VELOCITY_SMOOTHING) * step[i]);
    this.box = box;
    this.missed = 0;
  }
}

// fer.tracking.FaceTracker: faces matched to tracks by IoU with where each track should be now,
// greedy, best first; each track's last `window` probabilities averaged
export class FaceTracker {
  constructor({ window = 5, minIou = 0.3, maxMissed = 10, uncertainBelow = null } = {}) {
    if (window < 1) throw new Error("window must be at least 1 frame");
    Object.assign(this, { window, minIou, maxMissed, uncertainBelow });
    this.tracks = [];
    this.nextId = 1;
  }

  // faces as web/fer.js's analyze() gives them -> [{id, face}] in the same order, scores smoothed
  update(faces) {
    const pairs = [];
    faces.forEach((face, i) => this.tracks.forEach((track, j) => pairs.push([iou(face.box, track.expectedBox()), i, j])));
    // Python sorts the (overlap, i, j) tuples descending: ties go to the later face, then track
    pairs.sort((a, b) => b[0] - a[0] || b[1] - a[1] || b[2] - a[2]);
    const matched = new Map();
    const used = new Set();
    for (const [overlap, i, j] of pairs) {
      if (overlap < this.minIou) break;
      if (!matched.has(i) && !used.has(j)) {
        matched.set(i, this.tracks[j]);
        used.add(j);
      }
    }
    this.tracks.forEach((track, j) => { if (!used.has(j)) track.missed += 1; });
    const out = faces.map((face, i) => {
      let track = matched.get(i);
      if (!track) {
        track = new Track(this.nextId++, face.box, this.window);
        this.tracks.push(track);
      }
      track.moveTo(face.box);
      const labels = Object.keys(face.scores);
      track.history.push(labels.map((k) => face.scores[k]));
      while (track.history.length > this.window) track.history.shift();
      const mean = labels.map((_, k) => track.history.reduce((s, h) => s + h[k], 0) / track.history.length);
      const scores = Object.fromEntries(labels.map((k, n) => [k, mean[n]]));
      const top = labels[mean.indexOf(Math.max(...mean))];
      const uncertain = this.uncertainBelow === null ? face.uncertain : Math.max(...mean) < this.uncertainBelow;
      return { id: track.id, face: { ...face, label: top, scores, uncertain } };
    });
    this.tracks = this.tracks.filter((t) => t.missed <= this.maxMissed);
    return out;
  }

  setWindow(window) {
    if (window < 1) throw new Error("window must be at least 1 frame");
    this.window = window;
  }
}

// fer.tracking.EmotionTimeline: one tracked face's probabilities over the last `seconds`
export class EmotionTimeline {
  constructor(seconds = 30, patience = 1) {
    Object.assign(this, { seconds, patience });
    this.faceId = null;
    this.samples = [];
    this.seenAt = -Infinity;
  }

  add(now, tracked) {
    let followed = this.followed(tracked);
    if (!followed && tracked.length && now - this.seenAt > this.patience) {
      followed = tracked[0];
      this.faceId = followed.id;
      this.samples = [];
    }
    if (followed) {
      this.seenAt = now;
      this.samples.push([now, followed.face.scores]);
    }
    while (this.samples.length && this.samples[0][0] < now - this.seconds) this.samples.shift();
  }

  followed(tracked) {
    return tracked.find((t) => t.id === this.faceId) ?? null;
  }

  // EmotionTimeline.series: times relative to now and each label's probabilities, thinned evenly
  // to at most maxPoints, always keeping the newest
  series(now, maxPoints = 120) {
    const step = Math.max(1, Math.ceil(this.samples.length / maxPoints));
    const kept = [...this.samples].reverse().filter((_, i) => i % step === 0).reverse();
    const labels = kept.length ? Object.keys(kept[0][1]) : [];
    return { times: kept.map(([t]) => t - now),
             series: Object.fromEntries(labels.map((k) => [k, kept.map(([, s]) => s[k])])) };
  }

  // the label on top in most recorded frames, that share, and the seconds they go back
  mostSeen(now) {
    if (!this.samples.length) return null;
    const counts = new Map();
    for (const [, s] of this.samples) {
      const top = Object.keys(s).reduce((a, b) => (s[b] > s[a] ? b : a));
      counts.set(top, (counts.get(top) || 0) + 1);
    }
    // Counter.most_common: the highest count, the first seen among equals
    let best = null;
    for (const [label, n] of counts) if (best === null || n > best[1]) best = [label, n];
    return [best[0], best[1] / this.samples.length, now - this.samples[0][0]];
  }
}
