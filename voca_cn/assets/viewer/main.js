// voca-cn viewer: plays /data/animation.glb (its "voca_cn" morph-weight animation) with /data/audio.
// The audio element is the clock when there is audio; play/pause/scrub drive it. ?t=SECONDS opens the
// page paused at that time (used by the tests); body[data-ready] is set once that frame is drawn.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';

const canvas = document.getElementById('view');
const playButton = document.getElementById('play');
const scrub = document.getElementById('scrub');
const timeLabel = document.getElementById('time');
const audio = document.getElementById('audio');
// Failures show on the page (and to the tests) instead of a silent 'loading...'.
window.addEventListener('error', (e) => { timeLabel.textContent = `error: ${e.message}`; });
window.addEventListener('unhandledrejection', (e) => { timeLabel.textContent = `error: ${e.reason}`; });

const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(window.devicePixelRatio);
const scene = new THREE.Scene();
scene.background = new THREE.Color(0x292b30);
scene.add(new THREE.HemisphereLight(0xffffff, 0x404040, 1.2));
const key = new THREE.DirectionalLight(0xffffff, 2.0);
key.position.set(0.4, 0.5, 1.0);
scene.add(key);
const camera = new THREE.PerspectiveCamera(20, 1, 0.01, 100);

const info = await (await fetch('/data/info.json')).json();
const gltf = await new GLTFLoader().loadAsync('/data/animation.glb');
if (info.vrm0) gltf.scene.rotation.y = Math.PI;  // VRM 0.x models look down -Z
scene.add(gltf.scene);
scene.updateMatrixWorld(true);
const clip = gltf.animations.find((a) => a.name === 'voca_cn') || gltf.animations[0];
const mixer = new THREE.AnimationMixer(gltf.scene);
const action = mixer.clipAction(clip);
action.setLoop(THREE.LoopOnce);  // the last frame holds instead of wrapping to the first
action.clampWhenFinished = true;
action.play();
const duration = info.duration || clip.duration;
frameFace();

// Clock: the audio's position when there is audio, else wall time while playing.
let silentStart = null, silentOffset = 0;
if (info.audio) audio.src = '/data/audio';
function now() {
  if (info.audio) return audio.currentTime;
  return silentStart === null ? silentOffset : silentOffset + (performance.now() - silentStart) / 1000;
}
function seek(t) {
  t = Math.min(Math.max(t, 0), duration);
  if (info.audio) audio.currentTime = t;
  silentOffset = t;
  if (silentStart !== null) silentStart = performance.now();
}
function playing() { return info.audio ? !audio.paused : silentStart !== null; }
function setPlaying(on) {
  if (info.audio) { on ? audio.play() : audio.pause(); }
  else if (on && silentStart === null) { if (silentOffset >= duration) silentOffset = 0; silentStart = performance.now(); }
  else if (!on && silentStart !== null) { silentOffset = now(); silentStart = null; }
  playButton.textContent = on ? 'Pause' : 'Play';
}
playButton.onclick = () => setPlaying(!playing());
scrub.oninput = () => seek(scrub.value * duration);
audio.onended = () => setPlaying(false);

function frameFace() {
  // Frame the meshes that carry morph targets (the face), seen from the front.
  const box = new THREE.Box3();
  gltf.scene.traverse((o) => { if (o.isMesh && o.morphTargetInfluences) box.expandByObject(o); });
  if (box.isEmpty()) box.setFromObject(gltf.scene);
  const size = box.getSize(new THREE.Vector3()), centre = box.getCenter(new THREE.Vector3());
  const dist = 1.15 * Math.max(size.x, size.y) / (2 * Math.tan(THREE.MathUtils.degToRad(camera.fov / 2)));
  camera.position.set(centre.x, centre.y + 0.05 * dist, centre.z + size.z / 2 + dist);
  camera.near = dist / 20; camera.far = dist * 20;
  camera.lookAt(centre);
}

function resize() {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * renderer.getPixelRatio() || canvas.height !== h * renderer.getPixelRatio()) {
    renderer.setSize(w, h, false);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
  }
}

function draw() {
  let t = now();
  if (!info.audio && t >= duration) { setPlaying(false); silentOffset = t = duration; }
  mixer.setTime(Math.min(t, duration));
  resize();
  renderer.render(scene, camera);
  scrub.value = t / duration;
  timeLabel.textContent = `${t.toFixed(2)} / ${duration.toFixed(2)} s`;
}

const start = new URLSearchParams(location.search).get('t');
if (start !== null) {
  seek(parseFloat(start));
  if (info.audio && audio.readyState < 1) await new Promise((ok) => audio.addEventListener('loadedmetadata', ok, { once: true }));
  seek(parseFloat(start));
  silentOffset = parseFloat(start);
}
playButton.disabled = scrub.disabled = false;
draw();
document.body.dataset.ready = '1';
renderer.setAnimationLoop(draw);
