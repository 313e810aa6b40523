// The Webcam tab's page side (the js_on_load of app.py's live_webcam component).
//
// The camera's own video plays in the page at the camera's rate; each new camera frame is sent for
// analysis (a JPEG, to app.analyse_live_frame, live_stream.py) while fewer than MAX_IN_FLIGHT are on their way, and
// each answer is drawn over the video: boxes and labels on a canvas, the main face's seven
// probabilities as bars, and about once a second the timeline. Keeping two frames in flight lets the
// camera, the network and the server work at once, where sending the next frame only after the last
// answer (Gradio's streaming webcam) leaves each idle while the others work. A frame that comes
// while both are on their way is skipped, so the boxes lag behind the video by one round trip, never
// more. `element`, `props` and `server` are given by Gradio (gr.HTML).

const MAX_IN_FLIGHT = props.in_flight; // live_stream.LIVE_IN_FLIGHT: the server opens a stream only for its first frames
const JPEG_QUALITY = 0.8;
const emotions = Object.keys(props.colors);
const video = element.querySelector("video");
const overlay = element.querySelector("#webcam-overlay");
const toggle = element.querySelector("#webcam-toggle");
const smoothing = element.querySelector("#webcam-smoothing");
const smoothingValue = element.querySelector("#webcam-smoothing-value");
const message = element.querySelector("#webcam-message");
const bars = element.querySelector("#webcam-label");
const plot = element.querySelector("#webcam-timeline .fer-plot");
const summary = element.querySelector("#webcam-summary");
const capture = document.createElement("canvas");

const ANSWER_TIMEOUT_MS = 10000; // a frame unanswered this long ends the stream: the server is not answering
const CAMERA_START_MS = 10000; // a camera granted but showing no picture this long is taken for no camera
const MUTED_GRACE_MS = 2000; // a camera muted this long (taken by another program, a privacy switch) is paused
let live = null; // the stream from Start to Stop: { id, camera, sent, shown, inFlight, timer, device }

// Where frames are analysed: on this device (web/fer.js: the same models and steps as the server,
// and web/tracking.js for the faces' ids and smoothing), the default wherever the app serves its
// on-device files and the browser runs them; or on the server (app.analyse_live_frame). The
// visitor may choose; a failed load falls back to the server and says so.
const onDevice = props.on_device; // on_device.files() of the default model, or null where npm ci was not run
const modeInputs = [...element.querySelectorAll('input[name="fer-mode"]')];
const modelInputs = [...element.querySelectorAll('input[name="fer-model"]')];
const modeNote = element.querySelector("#webcam-mode-note");
const deviceLoads = {}; // each model's loading, once a page

function chosenMode() {
  return modeInputs.find((input) => input.checked)?.value ?? "server";
}

function chosenModel() { // "Fast" or "Accurate", as the Upload tab names them
  return modelInputs.find((input) => input.checked)?.value ?? props.default_model;
}

function setMode(mode) {
  for (const input of modeInputs) input.checked = input.value === mode;
  modeNote.textContent = mode === "device" ? props.device_note : props.server_note;
}

// the model's files: the default's came with the page; another's are asked of the server
// (app.on_device_files), which then serves the folder of the model it runs for that choice
async function modelFiles(model) {
  if (model === props.default_model) return onDevice;
  const files = await server.on_device_files({ model });
  if (!files) throw new Error(`the server has no on-device files for the ${model} model`);
  return files;
}

function loadDevice(model) {
  deviceLoads[model] ??= (async () => {
    const files = await modelFiles(model);
    const sibling = (name) => import(files.ferModule.replace(/fer\.js$/, name));
    const [fer, tracking, labels] = await Promise.all([import(files.ferModule), sibling("tracking.js"), sibling("labels.js")]);
    return { recognizer: await fer.loadRecognizer(files), tracking, labels };
  })();
  deviceLoads[model].catch(() => { delete deviceLoads[model]; }); // a later Start may try again
  return deviceLoads[model];
}

// the seven bars, built once and updated in place: a fixed order, so bars do not jump about live
bars.innerHTML = emotions.map((e) =>
  `<div class="fer-bar" data-emotion="${e}"><span class="fer-name">${e}</span>` +
  `<span class="fer-track"><span class="fer-fill" style="background:${props.colors[e]}"></span></span>` +
  `<span class="fer-pct"></span></div>`).join("");

function showScores(scores) {
  const top = scores ? emotions.reduce((a, b) => (scores[a] >= scores[b] ? a : b)) : null;
  for (const row of bars.children) {
    const p = scores ? scores[row.dataset.emotion] : 0;
    row.querySelector(".fer-fill").style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector(".fer-pct").textContent = scores ? `${Math.round(100 * p)}%` : "";
    row.classList.toggle("fer-top", row.dataset.emotion === top);
  }
}

function resetTimeline() {
  plot.innerHTML = `<p>${props.placeholder}</p>`;
  summary.innerHTML = "";
}

function draw(answer) {
  const [width, height] = answer.size;
  if (overlay.width !== width || overlay.height !== height) {
    overlay.width = width;
    overlay.height = height;
  }
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const line = Math.max(2, Math.round(Math.min(width, height) / 160));
  ctx.lineWidth = line;
  for (const face of answer.faces) {
    const [x0, y0, x1, y1] = face.box;
    const left = width - x1; // the video is shown mirrored, as a mirror would: so are the boxes
    // an unsure face (its top probability under the model's threshold): "sad? 41%", muted, thinner
    const colour = (face.uncertain ? props.unsure_colors : props.colors)[face.label] || "#ffffff";
    ctx.strokeStyle = colour;
    ctx.lineWidth = face.uncertain ? Math.max(1, Math.round(line / 2)) : line;
    ctx.strokeRect(left, y0, x1 - x0, y1 - y0);
    // the label where the server placed it (fer.draw.place_labels, as on photos), mirrored with the
    // box; the text is shrunk where the browser's font runs wider than the server's
    const [tx0, ty0, tx1, ty1] = face.text_box;
    const pad = Math.max(2, Math.floor(face.font_size / 5));
    // the label's box is its text's ink box plus padding (Pillow's on the server, web/labels.js here):
    // the ink is measured and drawn from its own left edge, as fer/draw.py draws it
    let size = face.font_size;
    const ink = () => { const m = ctx.measureText(face.text); return [m.actualBoundingBoxLeft, m.actualBoundingBoxLeft + m.actualBoundingBoxRight]; };
    ctx.font = `${size}px "DejaVu Sans", sans-serif`;
    while (size > 8 && ink()[1] > tx1 - tx0 - 2 * pad) {
      ctx.font = `${--size}px "DejaVu Sans", sans-serif`;
    }
    ctx.fillStyle = colour;
    ctx.fillRect(width - tx1, ty0, tx1 - tx0, ty1 - ty0);
    ctx.fillStyle = (face.uncertain ? props.unsure_text_colors : props.text_colors)[face.label] || "#000000";
    ctx.textBaseline = "middle";
    ctx.fillText(face.text, width - tx1 + pad + ink()[0], (ty0 + ty1) / 2);
  }
  overlay.dataset.frame = String(answer.seq); // each new value: one more analysed frame on screen
  overlay.dataset.boxes = JSON.stringify(answer.faces.map((face) => face.box)); // as analysed, not mirrored
}

function receive(stream, answer) {
  if (stream !== live) return; // from a stream that has ended
  if (answer.error) {
    stop(answer.error);
    return;
  }
  if (answer.stale || answer.seq <= stream.shown) return; // overtaken by a newer frame's answer
  stream.shown = answer.seq;
  draw(answer);
  showScores(answer.main);
  if (answer.timeline !== undefined) {
    plot.innerHTML = answer.timeline;
    summary.innerHTML = answer.summary;
  }
}

function encode(canvas) { // a JPEG data URL, encoded off the page's main thread (unlike toDataURL)
  return new Promise((resolve, reject) => canvas.toBlob((blob) => {
    if (!blob) return reject(new Error("the frame could not be encoded"));
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  }, "image/jpeg", JPEG_QUALITY));
}

async function send(stream) {
  stream.inFlight++;
  const seq = ++stream.sent; // numbered as captured: two frames encode at once and may finish out of order
  let timer;
  try {
    capture.width = video.videoWidth;
    capture.height = video.videoHeight;
    capture.getContext("2d").drawImage(video, 0, 0);
    const frame = await encode(capture);
    if (stream !== live) return; // stopped meanwhile: the server has closed it
    const request = { stream: stream.id, seq, frame, window: +smoothing.value, model: stream.model };
    // Gradio's client resolves undefined, never rejects, when the server fails
    const timeout = new Promise((resolve) => { timer = setTimeout(resolve, ANSWER_TIMEOUT_MS); });
    const answer = await Promise.race([server.analyse_live_frame(request), timeout]);
    receive(stream, answer ?? { error: "The server did not answer; press Start to try again." });
  } catch (err) {
    receive(stream, { error: `Could not send a camera frame (${err.message}); press Start to try again.` });
  } finally {
    clearTimeout(timer);
    stream.inFlight--;
  }
}

// once per new camera frame, never twice for the same one; where a browser lacks
// requestVideoFrameCallback, at a camera's 30 frames a second
const nextFrame = "requestVideoFrameCallback" in HTMLVideoElement.prototype
  ? (callback) => video.requestVideoFrameCallback(callback)
  : (callback) => setTimeout(callback, 1000 / 30);

function onCameraFrame(stream) {
  if (stream !== live) return;
  nextFrame(() => onCameraFrame(stream));
  if (stream.device) {
    if (!stream.device.busy && video.videoWidth) analyseHere(stream); // one frame at a time, here
  } else if (stream.inFlight < MAX_IN_FLIGHT && video.videoWidth) {
    send(stream);
  }
}

// on-device: the frame through web/fer.js, its faces through the tracker and the timeline, and the
// answer drawn as a server's answer is
async function analyseHere(stream) {
  const device = stream.device;
  device.busy = true;
  try {
    const { faces, size } = await device.recognizer.analyze(video);
    if (stream !== live) return;
    device.tracker.setWindow(+smoothing.value);
    const tracked = device.tracker.update(faces);
    const now = performance.now() / 1000;
    device.timeline.add(now, tracked);
    const main = device.timeline.followed(tracked) ?? tracked[0] ?? null;
    const answer = { seq: ++stream.sent, size, faces: placeLabels(device.labels, tracked, size), main: main ? main.face.scores : null };
    if (now - device.plottedAt >= props.plot_every) {
      device.plottedAt = now;
      answer.timeline = timelineSvg(device.timeline, now);
      answer.summary = timelineSummary(device.timeline, now);
    }
    receive(stream, answer);
  } catch (err) {
    console.warn("on-device analysis failed:", err);
    if (stream === live) stop("On-device analysis failed on this frame; press Start to try again, or choose the server.");
  } finally {
    device.busy = false;
  }
}

// the labels placed by web/labels.js (fer.draw.place_labels' rules), in a server answer's shape
function placeLabels(labels, tracked, size) {
  const ctx = overlay.getContext("2d");
  const placed = labels.placeLabels(tracked.map((t) => t.face), size, (text, fontSize) => labels.inkSize(ctx, text, fontSize));
  return tracked.map(({ id, face }, i) => ({
    id, box: face.box, label: face.label, confidence: Math.max(...Object.values(face.scores)), uncertain: face.uncertain,
    text: placed[i].text, text_box: placed[i].rect, font_size: placed[i].fontSize }));
}

// live_stream.timeline_svg and live_stream.timeline_summary, for the page
function timelineSvg(timeline, now, width = 600, height = 180) {
  const { times, series } = timeline.series(now);
  const [left, right, top, bottom] = [40, width - 10, 24, height - 22];
  const x = (ago) => left + ((ago + props.seconds) / props.seconds) * (right - left);
  const y = (p) => bottom - p * (bottom - top);
  const grid = [0, 0.5, 1].map((p) => `<line x1="${left}" x2="${right}" y1="${y(p)}" y2="${y(p)}" stroke="#ddd"/>` +
    `<text x="${left - 4}" y="${y(p) + 4}" text-anchor="end">${Math.round(p * 100)}%</text>`).join("");
  let ticks = "";
  for (let t = -props.seconds; t <= 0; t += 10) {
    ticks += `<text x="${x(t)}" y="${height - 6}" text-anchor="middle">${t ? `${t} s` : "now"}</text>`;
  }
  const lines = Object.entries(series).map(([label, values]) =>
    `<polyline fill="none" stroke="${props.colors[label] || "#888"}" stroke-width="2" data-emotion="${label}" ` +
    `points="${values.map((p, i) => `${x(times[i]).toFixed(1)},${y(p).toFixed(1)}`).join(" ")}"/>`).join("");
  const legend = Object.keys(series).map((label) =>
    `<span style="color:${props.colors[label] || "#888"}">&#9632;</span> ${label}`).join(" ");
  return `<svg viewBox="0 0 ${width} ${height}" width="100%" role="img" font-size="11" fill="currentColor" ` +
    `aria-label="probability of each emotion over the last ${props.seconds} s">${grid}${ticks}${lines}</svg>` +
    `<div style="font-size:0.85em">${legend}</div>`;
}

function timelineSummary(timeline, now) {
  const seen = timeline.mostSeen(now);
  if (!seen) return "No face in view yet.";
  const [label, share, seconds] = seen;
  return `<strong>${label}</strong> ${Math.round(share * 100)}% of the last ${Math.max(1, Math.round(seconds))} s`;
}

async function start() {
  message.textContent = "";
  if (!navigator.mediaDevices) {
    message.textContent = "This page cannot use a camera: browsers allow it only on https:// pages and on localhost.";
    return;
  }
  toggle.disabled = true; // until the camera plays: one click, one stream
  let camera;
  try {
    camera = await navigator.mediaDevices.getUserMedia({ video: props.constraints, audio: false });
    video.srcObject = camera;
    // a camera that is granted but sends no picture (a virtual camera with nothing on it) never
    // lets play() finish: without a limit, Start would stay disabled until the page is reloaded
    let timer;
    const noPicture = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("the camera sent no picture")), CAMERA_START_MS);
    });
    try {
      await Promise.race([video.play(), noPicture]);
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    camera?.getTracks().forEach((track) => track.stop());
    video.srcObject = null;
    message.textContent = `No camera: ${err.message}. Allow this page to use the camera, or check that one is connected.`;
    return;
  } finally {
    toggle.disabled = false;
  }
  if (document.hidden || element.offsetWidth === 0) { // left while the camera started: nobody is watching
    camera.getTracks().forEach((track) => track.stop());
    video.srcObject = null;
    return;
  }
  const stream = { id: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`, camera, sent: 0, shown: 0,
                   inFlight: 0, model: chosenModel() };
  live = stream;
  if (chosenMode() === "device") {
    try {
      message.textContent = `Loading the ${stream.model.toLowerCase()} model into this page…`;
      const { recognizer, tracking, labels } = await loadDevice(stream.model);
      if (stream !== live) return; // stopped while they loaded
      message.textContent = "";
      stream.device = {
        recognizer, labels, busy: false, plottedAt: -Infinity,
        tracker: new tracking.FaceTracker({ window: +smoothing.value, uncertainBelow: recognizer.uncertainBelow }),
        timeline: new tracking.EmotionTimeline(props.seconds),
      };
    } catch (err) {
      if (stream !== live) return;
      setMode("server");
      console.warn("on-device analysis could not start:", err); // the details, with their URLs, stay in the console
      message.textContent = "On-device analysis could not start in this browser (its files did not load, or the " +
        "browser cannot run them); the frames go to the server instead.";
    }
  }
  // the camera unplugged, taken by another program or its permission withdrawn; or muted (no frames
  // come, and the server would end the quiet stream) for longer than a passing hiccup
  const track = camera.getVideoTracks()[0];
  track?.addEventListener("ended", () => stream === live && stop("The camera stopped; check it and press Start."));
  track?.addEventListener("mute", () => setTimeout(
    () => stream === live && track.muted && stop("The camera paused (another program or a privacy switch?); press Start to go on."),
    MUTED_GRACE_MS));
  if (!stream.device) { // a stream holds one of the server's places: for a while at most
    stream.timer = setTimeout(() => stream === live && stop(`A stream lasts ${props.time_limit} s; press Start to go on.`),
                              props.time_limit * 1000);
  }
  toggle.textContent = "Stop";
  resetTimeline();
  nextFrame(() => onCameraFrame(stream));
}

function stop(why = "") {
  if (!live) return;
  const stream = live;
  live = null; // from here on, its answers are ignored and its frames no longer sent
  if (!stream.device) server.end_live_stream({ stream: stream.id });
  stream.camera.getTracks().forEach((track) => track.stop());
  clearTimeout(stream.timer);
  video.srcObject = null;
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  toggle.textContent = "Start";
  message.textContent = why;
  showScores(null);
  resetTimeline(); // the timeline starts afresh with the next stream
}

// a hidden page gets no camera frames: stop rather than show a frozen picture
document.addEventListener("visibilitychange", () => document.hidden && stop("Paused while the page was hidden; press Start to go on."));
// another of the app's tabs chosen: Gradio keeps this one loaded but hidden (no size), where the
// camera would go on streaming, holding one of the server's places, with nobody watching
new ResizeObserver(() => element.offsetWidth === 0 && stop("Paused while the Webcam tab was hidden; press Start to go on."))
  .observe(element);
// the page reloaded or closed: the camera is let go, and the server is told, though a request sent
// while a page unloads may be cancelled (the server then frees the place after its idle wait)
window.addEventListener("pagehide", () => stop());
toggle.addEventListener("click", () => (live ? stop() : start()));
const deviceInput = modeInputs.find((input) => input.value === "device");
deviceInput.disabled = !onDevice;
if (!onDevice) deviceInput.parentElement.title = "this app was installed without its on-device files (npm ci)";
setMode(onDevice ? "device" : "server");
for (const input of modelInputs) input.checked = input.value === props.default_model;
for (const input of [...modeInputs, ...modelInputs]) {
  input.addEventListener("change", () => { // a running stream goes on in the mode and with the model chosen
    const running = live !== null;
    if (running) stop();
    if (input.name === "fer-mode") setMode(input.value);
    if (running) start();
  });
}
smoothing.addEventListener("input", () => { smoothingValue.textContent = smoothing.value; });
showScores(null);
resetTimeline();
