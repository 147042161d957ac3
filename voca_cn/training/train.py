"""``voca-cn train``: the phonetic stage, then the lip-sync network, from a corpus.

Config (JSON; ``default`` and ``small`` ship in voca_cn/configs)::

    seed, ict_identities (ICT heads, besides "templates", whose bases define the vertex loss),
    templates, real_repeat (times each talking-face item counts), augment (share of training
    windows read from a degraded copy of the audio, 0-1), init (optional: a model folder, or
    "shipped", whose networks the training starts from: fine-tuning), base (optional: another
    config whose keys this one changes, ``phonetic`` and ``lipsync`` key by key),
    phonetic: {width, lookahead, window, batch, epochs, lr, front_end ("level", the default, or
        "noise-floor": :class:`voca_cn.audio.features.NoiseFloor` after levelling)},
    lipsync: {conv, lstm, layers, dense, lookahead, window, batch, epochs, lr, velocity}

Multi-condition training: every training item, video items included, is also heard once as a
random real recording (:func:`voca_cn.training.augment.degrade_randomly`: noise, babble, music, rooms,
narrow bands, codecs, levels), sample-aligned, so its phones and (tracked) lip curves stay the
targets; ``augment`` of the windows of both stages are read from it. Stage 2 learns from stage
1's *predicted* probabilities on the training audio, clean and degraded, so it learns to read the
phonetic stage's real mistakes. Stage 1 reads levelled log-mel (:class:`voca_cn.audio.features.Leveller`).
After every epoch the model and ``state.json`` are
written (temp file, then rename); a rerun with the same ``--out`` resumes after the last
finished epoch (the optimizer's moments restart). Same config, corpus and seed: same weights.
TensorFlow places work on a GPU when its CUDA build is installed; the pinned CPU build runs
everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.audio.features import FRAME_RATE, FRONT_ENDS, VISEME_OF_PHONE, frame_labels, levelled, log_mel
from voca_cn.core.files import atomic_path, atomic_write
from voca_cn.core.phones import PHONES
from voca_cn.core.timing import resample_frames
from voca_cn.formats import resolve
from voca_cn.formats.ict import identity_coefficients, import_ict
from voca_cn.motion import lipsync, phonetic
from voca_cn.motion.onnx import MODELS
from voca_cn.training import networks
from voca_cn.training.corpus import load_item, read_manifest, target_curves
from voca_cn.training.to_onnx import convert

CONFIGS = Path(__file__).resolve().parent / "configs"
ICT_TAR = Path(__file__).resolve().parents[3] / "shared" / "assets" / "ict-facekit" / "FaceXModel.tar.xz"


def log(msg: str) -> None:
    print(f"[train {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_config(name_or_path: str, _bases: tuple = ()) -> dict:
    path = Path(name_or_path)
    if not path.is_file():
        path = CONFIGS / f"{name_or_path}.json"
    if not path.is_file():
        known = ", ".join(p.stem for p in CONFIGS.glob("*.json"))
        raise VocaError(f"config {name_or_path!r} not found; give a JSON file or one of: {known}")
    from voca_cn.core.untrusted import expect, read_json

    try:
        raw = path.read_bytes()
    except OSError as e:
        raise VocaError(f"cannot read config {path} ({e.strerror or e})") from None
    config = expect(read_json(raw, f"config {path}", "give a JSON object like configs/small.json"), dict, f"config {path}")
    if "base" not in config:
        return config
    if path.resolve() in _bases:
        raise VocaError(f"config {path}: its base configs lead back to it; make one config the base of the other")
    base = load_config(expect(config.pop("base"), str, f"config {path}: base"), (*_bases, path.resolve()))
    return {k: {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) else v
            for k, v in {**base, **config}.items()}


def training_templates(config: dict) -> list:
    """The heads whose bases define the vertex loss: named templates plus ICT identities."""
    heads = [resolve(name) for name in config.get("templates", ["makehuman"])]
    n_ict = config.get("ict_identities", 0)
    if n_ict and ICT_TAR.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            with tarfile.open(ICT_TAR) as tar:
                tar.extractall(tmp, filter="data")
            folder = next(Path(tmp).rglob("generic_neutral_mesh.obj")).parent
            heads += [import_ict(folder, identity_coefficients(seed), name=f"ict-{seed}")
                      for seed in range(n_ict)]
    elif n_ict:
        log(f"no ICT-FaceKit at {ICT_TAR}: the loss uses {len(heads)} template(s) only")
    return heads


# ----------------------------------------------------------------------------- data
def split_data(corpus: Path, split: str, real_repeat: int = 1, degrade_seed: int | None = None):
    """Per item of a split: (F, 40) raw log-mel, (F,) phone labels, (T, 52) ARKit curves, and
    (``degrade_seed`` given) the (F, 40) raw log-mel of the item heard as a random real recording
    (:func:`voca_cn.training.augment.degrade_randomly`, seeded per item; None otherwise).

    Curves: a talking-face video's tracked jaw and mouth (its items are listed ``real_repeat``
    times, each with its own degraded copy, so real lips weigh more than their share of hours);
    for speech without video, the procedural animator on the item's phones with the poses and
    timing fitted to real lips (so every voice is taught one consistent, real-looking mouth)."""
    from tqdm import tqdm

    rows = read_manifest(corpus, split)
    sources = _augment_sources(corpus, rows, degrade_seed) if degrade_seed is not None else None
    feats, labels, curves, noisy = [], [], [], []
    for k, row in enumerate(tqdm(rows, desc=f"features {split}", file=sys.stderr)):
        item = load_item(corpus, row["id"])
        mel = log_mel(item["audio"])
        repeat = real_repeat if row["source"] == "video" else 1
        feats += [mel] * repeat
        labels += [frame_labels(item["labels"], item["starts"], item["ends"], len(mel))] * repeat
        curves += [target_curves(row, item)] * repeat
        if sources is not None:
            from voca_cn.training.augment import degrade_randomly

            noisy += [log_mel(degrade_randomly(item["audio"], np.random.default_rng([degrade_seed, 5, k, r]), sources))
                      for r in range(repeat)]
    if not feats:
        raise VocaError(f"the corpus {corpus} has no {split} items; rebuild it with voca-cn data build")
    return feats, labels, curves, noisy if sources is not None else None


def _augment_sources(corpus: Path, rows: list[dict], seed: int):
    """Babble voices for augmentation: up to 150 synthetic training items (other items where a
    corpus has none), and the room bank."""
    from voca_cn.training.augment import Sources

    pool = [r for r in rows if r["source"] == "synthetic"] or rows
    pool = pool[:: max(1, len(pool) // 150)][:150]
    return Sources([load_item(corpus, r["id"])["audio"] for r in pool], seed=seed)


def windows(x: np.ndarray, y: np.ndarray, length: int, lookahead: int, rng, count: int | None = None,
            alt: np.ndarray | None = None, p_alt: float = 0.0):
    """Random windows: inputs x[s:s+length], targets y[s-lookahead : s-lookahead+length]; with
    ``alt`` (x's frames as degraded audio gives them), a share ``p_alt`` of the windows read it."""
    count = count or max(1, (len(x) - length) // length)
    starts = rng.integers(lookahead, max(lookahead + 1, len(x) - length), count)
    idx = np.minimum(starts[:, None] + np.arange(length), len(x) - 1)
    xs = x[idx]
    if alt is not None:
        pick = rng.random(count) < p_alt
        xs[pick] = alt[idx[pick]]
    return xs, y[np.minimum(idx - lookahead, len(y) - 1)]


def augment(x: np.ndarray, rng, std: np.ndarray) -> np.ndarray:
    """Speaker and channel variety for (N, W, 40) normalised log-mel windows: vocal-tract length
    perturbation (mel axis warped by 0.88-1.12), gain and spectral tilt, and SpecAugment masks
    (two bands of up to 5 mels, two stretches of up to 12 frames)."""
    n, w, m = x.shape
    pos = np.clip(np.arange(m)[None] * rng.uniform(0.88, 1.12, (n, 1)), 0, m - 1)  # (n, m)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, m - 1)
    f = (pos - lo)[:, None, :]
    take = lambda k: np.take_along_axis(x, np.broadcast_to(k[:, None, :], x.shape), axis=2)  # noqa: E731
    x = (1 - f) * take(lo) + f * take(hi)
    tilt = rng.uniform(-1.5, 1.5, (n, 1, 1)) + rng.uniform(-0.5, 0.5, (n, 1, 1)) * np.linspace(-1, 1, m)
    x = x + tilt / std
    for _ in range(2):
        a, width = rng.integers(0, m, n), rng.integers(0, 6, n)
        band = (np.arange(m)[None] >= a[:, None]) & (np.arange(m)[None] < (a + width)[:, None])
        x = np.where(band[:, None, :], 0.0, x)
        t, span = rng.integers(0, w, n), rng.integers(0, 13, n)
        mask = (np.arange(w)[None] >= t[:, None]) & (np.arange(w)[None] < (t + span)[:, None])
        x[mask] = 0.0
    return x.astype(np.float32)


# ----------------------------------------------------------------------------- training loop
def _fit_epochs(name, model, compile_fn, train_fn, val_fn, cfg, out: Path, state: dict):
    """Epoch loop shared by both stages: cosine learning rate, a checkpoint after each epoch.
    Returns the trained model (reloaded from its checkpoint when resuming)."""
    import keras

    done = state.get(f"{name}_epochs", 0)
    if done:
        model = keras.saving.load_model(out / f"{name}.keras", compile=False)
        log(f"{name}: resuming after epoch {done}")
    compile_fn(model)
    xv, yv = val_fn()
    for epoch in range(done, cfg["epochs"]):
        lr = cfg["lr"] * 0.5 * (1 + np.cos(np.pi * epoch / cfg["epochs"]))
        model.optimizer.learning_rate.assign(lr)
        x, y = train_fn(epoch)
        hist = model.fit(x, y, batch_size=cfg["batch"], epochs=1, verbose=0, shuffle=False)
        val = model.evaluate(xv, yv, batch_size=cfg["batch"], verbose=0, return_dict=True)
        row = {"epoch": epoch + 1, "lr": float(lr), "loss": float(hist.history["loss"][-1]),
               **{f"val_{k}": float(v) for k, v in val.items()}}
        state.setdefault(f"{name}_history", []).append(row)
        log(f"{name} epoch {epoch + 1}/{cfg['epochs']}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                                                                      if k != "epoch"))
        _save_model(model, out / f"{name}.keras")
        state[f"{name}_epochs"] = epoch + 1
        _save_json(out / "state.json", state)
    if not cfg["epochs"]:  # the starting network (config ``init``) is the stage as it is
        _save_model(model, out / f"{name}.keras")
    return model


def _init_file(config: dict, filename: str) -> Path | None:
    """``filename`` in the config's ``init`` model folder ("shipped": voca_cn/models), or None
    without ``init`` (fresh weights)."""
    init = config.get("init")
    if not init:
        return None
    path = (MODELS if init == "shipped" else Path(init)) / filename
    if not path.is_file():
        raise VocaError(f"config init: {path} does not exist; give a trained model folder or \"shipped\"")
    return path


def _start(name: str, config: dict):
    """The network a stage starts from: the ``init`` model folder's (fine-tuning), or None for
    fresh weights."""
    path = _init_file(config, f"{name}.keras")
    if path is None:
        return None
    import keras

    log(f"{name}: starting from {path}")
    return keras.saving.load_model(path, compile=False)


def _normalisation(config: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The phonetic stage's input mean and std (40,): those its ``init`` network learned with,
    else those of the training frames ``x`` (F, 40)."""
    path = _init_file(config, "phonetic.json")
    if path is None:
        return x.mean(0), x.std(0) + 1e-3
    meta = json.loads(path.read_text())
    return np.asarray(meta["mean"]), np.asarray(meta["std"])


def _save_model(model, path: Path) -> None:
    with atomic_path(path) as tmp:
        model.save(tmp)


def _save_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1))


def train(config: dict, corpus: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Train both stages into ``out``; returns the state (histories, baselines)."""
    import keras
    import tensorflow as tf

    corpus, out = Path(corpus), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {"config": config}
    seed = int(config.get("seed", 0))
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    log(f"devices: {[d.device_type for d in tf.config.list_physical_devices()]}")

    # ---- stage 1: phonetic
    pc = config["phonetic"]
    front = pc.get("front_end", "level")
    if front not in FRONT_ENDS:
        raise VocaError(f"phonetic.front_end {front!r} is not one of {', '.join(FRONT_ENDS)}; fix the config")
    p_noisy = float(config.get("augment", 0.0))  # share of training windows from degraded audio
    feats, labels, curves, noisy = split_data(corpus, "train", int(config.get("real_repeat", 1)),
                                              seed if p_noisy else None)
    vfeats, vlabels, vcurves, _ = split_data(corpus, "val")
    x_all = np.concatenate([levelled(m, front) for m in feats])
    mean, std = _normalisation(config, x_all)
    norm = lambda m: (m - mean) / std  # noqa: E731
    x_train, y_train = norm(x_all), np.concatenate(labels)
    del x_all
    x_noisy = norm(np.concatenate([levelled(m, front) for m in noisy])).astype(np.float32) if noisy else None
    x_val, y_val = norm(np.concatenate([levelled(m, front) for m in vfeats])), np.concatenate(vlabels)
    log(f"phonetic: {len(x_train) / FRAME_RATE / 3600:.2f} h train ({p_noisy:.0%} of windows degraded), "
        f"{len(x_val) / FRAME_RATE / 3600:.2f} h val")

    def phon_train(epoch):
        rng = np.random.default_rng([seed, 1, epoch])
        x, y = windows(x_train, y_train, pc["window"], pc["lookahead"], rng, alt=x_noisy, p_alt=p_noisy)
        return augment(x, rng, std), y

    def phon_val():
        return windows(x_val, y_val, pc["window"], pc["lookahead"], np.random.default_rng([seed, 2]), 64)

    def phon_compile(m):
        m.compile(keras.optimizers.Adam(pc["lr"], clipnorm=1.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")])

    pmodel = _start("phonetic", config) or networks.phonetic_network(pc["width"], pc["lookahead"])
    pmodel = _fit_epochs("phonetic", pmodel, phon_compile, phon_train, phon_val, pc, out, state)
    _save_json(out / "phonetic.json", {"classes": list(PHONES), "mean": mean.tolist(), "std": std.tolist(),
                                       "lookahead": pc["lookahead"], "front_end": front})
    convert(out, ["phonetic"])  # stage 2 reads stage 1 through the run-time graph
    stage = phonetic.PhoneticStage.load(out)

    # ---- stage 2: lip-sync on stage 1's predictions
    lc = config["lipsync"]
    vprobs = [stage.probabilities(m) for m in vfeats]
    if lc["epochs"]:
        _train_lipsync(config, feats, noisy, curves, vprobs, vcurves, stage, out, state, p_noisy, seed)
    else:  # no epochs: the starting network (config "init") stays the lip-sync stage, as it is
        _keep_lipsync(config, out)

    # frame accuracies of stage 1 on whole val items (phones and Azure visemes)
    pred = np.concatenate([p.argmax(1) for p in vprobs])
    truth = np.concatenate(vlabels)
    state["phonetic_val_phone_accuracy"] = float((pred == truth).mean())
    state["phonetic_val_viseme_accuracy"] = float((VISEME_OF_PHONE[pred] == VISEME_OF_PHONE[truth]).mean())
    if state.get("lipsync_history"):
        log(f"val: constant-prediction vertex loss {state['lipsync_constant_val_loss']:.4g}, model "
            f"{state['lipsync_history'][-1]['val_loss']:.4g}")
    log(f"val: phone accuracy {state['phonetic_val_phone_accuracy']:.3f}, viseme {state['phonetic_val_viseme_accuracy']:.3f}")
    _save_json(state_path, state)
    return state


def _train_lipsync(config, feats, noisy, curves, vprobs, vcurves, stage, out, state, p_noisy, seed) -> None:
    """Stage 2: the lip-sync network on stage 1's probabilities of the training audio (clean and,
    for a share ``p_noisy`` of the windows, degraded), checkpointed into ``out``."""
    import keras

    lc = config["lipsync"]
    g = networks.gram(training_templates(config))

    log("lip-sync: running the phonetic stage over the corpus")
    probs = [stage.probabilities(m) for m in feats]
    nprobs = [stage.probabilities(m) for m in noisy] if noisy else None

    def lip_data(item_probs, item_curves):
        xs = [resample_frames(p, FRAME_RATE, lipsync.FPS, len(w)) for p, w in zip(item_probs, item_curves)]
        return np.concatenate(xs), np.concatenate(item_curves)

    xl, yl = lip_data(probs, curves)
    xl_noisy = lip_data(nprobs, curves)[0] if nprobs else None
    del probs, nprobs
    xlv, ylv = lip_data(vprobs, vcurves)
    loss = networks.vertex_loss(g, lc["velocity"])

    def lip_train(epoch):
        return windows(xl, yl, lc["window"], lc["lookahead"], np.random.default_rng([seed, 3, epoch]),
                       alt=xl_noisy, p_alt=p_noisy)

    def lip_val():
        return windows(xlv, ylv, lc["window"], lc["lookahead"], np.random.default_rng([seed, 4]), 64)

    def lip_compile(m):
        m.compile(keras.optimizers.Adam(lc["lr"], clipnorm=1.0), loss)

    xv, yv = lip_val()
    const = np.broadcast_to(yl.mean(0), yv.shape).astype(np.float32)
    state["lipsync_constant_val_loss"] = float(loss(yv, const))
    lmodel = _start("lipsync", config) or networks.lipsync_network(lc["conv"], lc["lstm"], lc["layers"], lc["dense"])
    lmodel = _fit_epochs("lipsync", lmodel, lip_compile, lip_train, lip_val, lc, out, state)
    _save_json(out / "lipsync.json", {"lookahead": lc["lookahead"], "fps": lipsync.FPS,
                                      "velocity": lc["velocity"]})
    convert(out, ["lipsync"])


def _keep_lipsync(config: dict, out: Path) -> None:
    """Fine-tuning stage 1 only: the ``init`` model's lip-sync network and its settings into ``out``."""
    model = _start("lipsync", config)
    if model is None:
        raise VocaError("lipsync epochs 0 keeps a trained network: set config init to a model folder or \"shipped\"")
    _save_model(model, out / "lipsync.keras")
    shutil.copy2(_init_file(config, "lipsync.json"), out / "lipsync.json")
    convert(out, ["lipsync"])


def install(model_dir: str | os.PathLike, target: Path | None = None) -> None:
    """Put a trained model folder's networks (without optimizer state, plus their run-time
    graphs) into voca_cn/models."""
    import keras


    target = target or MODELS
    target.mkdir(exist_ok=True)
    convert(model_dir)  # a folder trained before the run-time graphs existed gets them now
    for name in ("phonetic", "lipsync"):
        shutil.copy2(Path(model_dir) / f"{name}.json", target / f"{name}.json")
        shutil.copy2(Path(model_dir) / f"{name}.onnx", target / f"{name}.onnx")
        # loaded uncompiled and saved again: the optimizer's moments (2/3 of the file) stay behind
        model = keras.saving.load_model(Path(model_dir) / f"{name}.keras", compile=False)
        _save_model(model, target / f"{name}.keras")
