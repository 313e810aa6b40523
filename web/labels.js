// fer.draw.place_labels for the page: where each face's label goes on a frame analysed on the
// device, by the same rules as on photos and in server mode. A font sized to the face and the frame,
// then the first of above the box, below it, inside its top edge, inside its bottom edge (left- then
// right-aligned, slid sideways into the frame; then further above and below, in steps of half a
// label) that stays inside the frame and clear of the labels placed before it, of every face's eyes
// and, if it can, of the other faces; where nothing is clear the font shrinks, and then the label goes
// wherever nearby it overlaps least. Faces are placed in order (largest first), so the main face gets
// the best place. `measure(text, fontSize)` is the text's ink box, [width, height] in pixels (see
// inkSize), which the label's background pads as fer/draw.py pads Pillow's.

const MIN_FONT = 9; // fer/draw.py

// Python's round(): halves to the even neighbour (round(2.5) is 2), where Math.round goes up
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function faceLabel(face) {
  const confidence = Math.max(...Object.values(face.scores));
  return `${face.label}${face.uncertain ? "?" : ""} ${roundHalfEven(100 * confidence)}%`;
}

export function placeLabels(faces, [width, height], measure) {
  const line = Math.max(2, roundHalfEven(Math.min(width, height) / 250)); // fer.draw._line_width
  const eyes = faces.map(eyeRect);
  const boxes = faces.map((face) => face.box);
  const placed = [];
  return faces.map((face, i) => {
    const text = faceLabel(face);
    const others = boxes.filter((_, j) => j !== i);
    let fontSize = fontFor(face.box, width, height);
    while (fontSize > MIN_FONT && textSize(text, fontSize, measure)[0] > width) fontSize--;
    let best = null;
    while (best === null) {
      const [w, h] = textSize(text, fontSize, measure);
      const candidates = candidateRects(face.box, w, h, line, width, height).filter((r) => inside(r, width, height));
      const taken = [...placed.map((p) => p.rect), ...eyes];
      for (const avoid of [[...taken, ...others], taken]) {
        best = candidates.find((r) => avoid.every((o) => overlap(r, o) === 0)) ?? null;
        if (best) break;
      }
      if (best === null) {
        if (fontSize > MIN_FONT) {
          fontSize = Math.max(MIN_FONT, Math.floor(fontSize * 0.85));
          continue;
        }
        const covered = (r) => taken.reduce((sum, o) => sum + overlap(r, o), 0);
        best = (candidates.length ? candidates : [[0, 0, Math.min(w, width), Math.min(h, height)]])
          .reduce((a, b) => (covered(b) < covered(a) ? b : a));
      }
    }
    placed.push({ text, fontSize, rect: best });
    return { text, fontSize, rect: best };
  });
}

// a seventh of the face's width, within a 60th and a 22nd of the frame's short side
function fontFor([x0, , x1], width, height) {
  const short = Math.min(width, height);
  return roundHalfEven(Math.min(Math.max((x1 - x0) / 7, Math.max(11, short / 60)), Math.max(11, short / 22)));
}

function textSize(text, fontSize, measure) {
  const pad = Math.max(2, Math.floor(fontSize / 5));
  const [w, h] = measure(text, fontSize);
  return [Math.ceil(w) + 2 * pad, Math.ceil(h) + 2 * pad];
}

// a `measure` for placeLabels: the ink box of `text` in a canvas context's font of that size
export function inkSize(ctx, text, fontSize, family = '"DejaVu Sans", sans-serif') {
  ctx.font = `${fontSize}px ${family}`;
  const m = ctx.measureText(text);
  return [m.actualBoundingBoxLeft + m.actualBoundingBoxRight, m.actualBoundingBoxAscent + m.actualBoundingBoxDescent];
}

function candidateRects([x0, y0, x1, y1], w, h, line, width, height) {
  const lefts = [x0, x1 - w];
  const rects = [];
  const add = (tops) => { for (const y of tops) for (const x of lefts) rects.push(slidSideways([x, y, x + w, y + h], width)); };
  add([y0 - line - h, y1 + line, y0 + line, y1 - line - h]); // above, below, inside top, inside bottom
  for (let step = 1; step < 2 * Math.max(1, Math.floor(height / Math.max(h, 1))); step++) {
    add([y0 - line - h - Math.floor((step * h) / 2), y1 + line + Math.floor((step * h) / 2)]);
  }
  return rects;
}

function slidSideways([x0, y0, x1, y1], width) {
  const dx = Math.max(0, -x0) || Math.min(0, width - x1);
  return [x0 + dx, y0, x1 + dx, y1];
}

function inside([x0, y0, x1, y1], width, height) {
  return x0 >= 0 && y0 >= 0 && x1 <= width && y1 <= height;
}

function overlap(a, b) {
  return Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])) * Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
}

// round the detector's eye keypoints (BlazeFace: right eye, left eye first), else where eyes sit in
// a face box (about 30-55% of its height)
function eyeRect(face) {
  const [x0, y0, x1, y1] = face.box;
  const w = x1 - x0, h = y1 - y0;
  if ((face.keypoints ?? []).length >= 2) {
    const [[ax, ay], [bx, by]] = face.keypoints;
    const r = 0.12 * w;
    return [Math.trunc(Math.min(ax, bx) - r), Math.trunc(Math.min(ay, by) - r),
            Math.trunc(Math.max(ax, bx) + r) + 1, Math.trunc(Math.max(ay, by) + r) + 1];
  }
  return [x0 + Math.floor(w / 8), y0 + Math.trunc(0.3 * h), x1 - Math.floor(w / 8), y0 + Math.trunc(0.55 * h)];
}
