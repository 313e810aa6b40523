// The Webcam tab's page side (the js_on_load of app.py's live_webcam component).
//
// The camera's own video plays in the page at the camera's rate; each new camera frame is sent for
// analysis (a JPEG, to app.analyse_live_frame) while fewer than MAX_IN_FLIGHT are on their way, and
// each answer is drawn over the video: boxes and labels on a canvas, the main face's seven
// probabilities as bars, and about once a second the timeline. Keeping two frames in flight lets the
// camera, the network and the server work at once, where sending the next frame only after the last
// answer (Gradio's streaming webcam) leaves each idle while the others work. A frame that comes
// while both are on their way is skipped, so the boxes lag behind the video by one round trip, never
// more. `element`, `props` and `server` are given by Gradio (gr.HTML).

const MAX_IN_FLIGHT = 2;
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

let camera = null; // the MediaStream while streaming
let streamId = null; // a new one on every Start: the server keeps each stream's tracks and timeline
let sent = 0; // frames sent in this stream (their sequence numbers)
let shown = 0; // the newest frame whose answer is drawn
let inFlight = 0;
let stopTimer = null;

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
  const fontSize = Math.max(12, Math.round(Math.min(width, height) / 24));
  ctx.font = `${fontSize}px sans-serif`;
  ctx.lineWidth = line;
  for (const face of answer.faces) {
    const [x0, y0, x1, y1] = face.box;
    const left = width - x1; // the video is shown mirrored, as a mirror would: so are the boxes
    const colour = props.colors[face.label] || "#ffffff";
    ctx.strokeStyle = colour;
    ctx.strokeRect(left, y0, x1 - x0, y1 - y0);
    const text = `${face.label} ${Math.round(100 * face.confidence)}%`;
    const pad = Math.max(2, Math.round(fontSize / 5));
    const top = Math.max(0, y0 - fontSize - 2 * pad);
    ctx.fillStyle = colour;
    ctx.fillRect(left, top, ctx.measureText(text).width + 2 * pad, fontSize + 2 * pad);
    ctx.fillStyle = props.text_colors[face.label] || "#000000";
    ctx.fillText(text, left + pad, top + pad + fontSize * 0.85);
  }
  overlay.dataset.frame = String(answer.seq); // each new value: one more analysed frame on screen
}

function receive(id, answer) {
  if (id !== streamId) return; // from a stream that has ended
  if (answer.error) {
    stop(answer.error);
    return;
  }
  if (answer.seq <= shown) return; // overtaken by a newer frame's answer
  shown = answer.seq;
  draw(answer);
  showScores(answer.main);
  if (answer.timeline !== undefined) {
    plot.innerHTML = answer.timeline;
    summary.innerHTML = answer.summary;
  }
}

function send() {
  const id = streamId;
  const seq = ++sent;
  inFlight++;
  capture.width = video.videoWidth;
  capture.height = video.videoHeight;
  capture.getContext("2d").drawImage(video, 0, 0);
  capture.toBlob((blob) => { // encoded off the page's main thread, unlike toDataURL
    const reader = new FileReader();
    reader.onload = () => server.analyse_live_frame({ stream: id, seq, frame: reader.result, window: +smoothing.value })
      .then((answer) => receive(id, answer))
      .catch(() => receive(id, { error: "The server did not answer; press Start to try again." }))
      .finally(() => inFlight--);
    reader.readAsDataURL(blob);
  }, "image/jpeg", JPEG_QUALITY);
}

function onCameraFrame() { // once per new camera frame, never twice for the same one
  if (!camera) return;
  video.requestVideoFrameCallback(onCameraFrame);
  if (inFlight < MAX_IN_FLIGHT && video.videoWidth) send();
}

async function start() {
  message.textContent = "";
  try {
    camera = await navigator.mediaDevices.getUserMedia({ video: props.constraints, audio: false });
  } catch (err) {
    message.textContent = `No camera: ${err.message}. Allow this page to use the camera, or check that one is connected.`;
    return;
  }
  streamId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  sent = shown = 0;
  video.srcObject = camera;
  await video.play();
  toggle.textContent = "Stop";
  resetTimeline();
  video.requestVideoFrameCallback(onCameraFrame);
  stopTimer = setTimeout(() => stop(`A stream lasts ${props.time_limit} s; press Start to go on.`), props.time_limit * 1000);
}

function stop(why = "") {
  if (streamId) server.end_live_stream({ stream: streamId }).catch(() => {});
  camera?.getTracks().forEach((track) => track.stop());
  camera = streamId = null;
  video.srcObject = null;
  clearTimeout(stopTimer);
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  toggle.textContent = "Start";
  message.textContent = why;
  showScores(null);
  resetTimeline(); // the timeline starts afresh with the next stream
}

toggle.addEventListener("click", () => (camera ? stop() : start()));
smoothing.addEventListener("input", () => { smoothingValue.textContent = smoothing.value; });
showScores(null);
resetTimeline();
