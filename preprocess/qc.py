"""QC figure of one subject's artefact: per sample (one row each) the aligned onset and apex crops
with the canonical anchor points marked, |apex - onset|, the flow as colour (hue = direction,
brightness = magnitude up to the face's 99th percentile), the strain (same scaling), and a strip of
clip frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from preprocess.artifact import atomic_write, load_subject
from preprocess.face import canonical_points
from preprocess.flow import face_mask, flow_to_colour

CLIP_SHOWN = 6


def qc_figure(npz_path, out_path, max_samples: int = 12) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = load_subject(npz_path)
    meta = data["meta"]
    if "onset_rgb" not in data:        # a precomputed release: no onset frame, no clip
        return _release_figure(data, meta, npz_path, out_path, max_samples, plt)
    n = min(len(data["sample"]), max_samples)
    columns = 5 + CLIP_SHOWN
    fig, axes = plt.subplots(max(n, 1), columns, figsize=(1.6 * columns, 1.7 * max(n, 1) + 0.6), squeeze=False)
    canonical = None
    for i in range(n):
        onset, apex = data["onset_rgb"][i], data["apex_rgb"][i]
        if canonical is None:
            canonical = canonical_points(onset.shape[0], meta.get("settings", {}).get("canonical"))
        flow = data["flow"][i].astype(np.float32)
        clip = data["clip"][i]  # T, 3, H, W
        diff = np.abs(apex.astype(np.int16) - onset.astype(np.int16)).mean(-1)
        picks = np.linspace(0, clip.shape[0] - 1, CLIP_SHOWN).round().astype(int)
        # Colour and grey scales at the 99th percentile inside the face, so a few border pixels
        # (flow extrapolated past the frame edge) do not darken the rest.
        mask = face_mask(flow.shape[-1])
        top_flow = float(np.quantile(np.hypot(flow[0], flow[1])[mask], 0.99)) or 1.0
        top_strain = float(np.quantile(flow[2][mask], 0.99)) or 1.0
        panels = [(onset, f"onset {data['onset'][i]}"), (apex, f"apex {data['apex'][i]} ({data['apex_source'][i][:3]})"),
                  (diff, "|apex-onset|"), (flow_to_colour(flow[:2], top_flow), f"flow p99 {top_flow:.2f}px"),
                  (np.clip(flow[2] / top_strain, 0, 1), f"strain p99 {top_strain:.3f}")]
        panels += [(clip[t].transpose(1, 2, 0), f"clip {t}") for t in picks]
        for j, (image, title) in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
            ax.set_title(title, fontsize=6)
            ax.set_xticks([])
            ax.set_yticks([])
            if j < 2:
                ax.plot(canonical[:, 0], canonical[:, 1], "+", color="cyan", ms=5, mew=0.8)
        axes[i, 0].set_ylabel(str(data["sample"][i]), fontsize=7)
    skipped = meta.get("skipped", [])
    title = f"{meta.get('subject', Path(npz_path).stem)}: {len(data['sample'])} samples"
    if skipped:
        title += f", {len(skipped)} skipped ({', '.join(s['sample'] for s in skipped)})"
    return _finish(fig, axes, n, columns, title, len(data["sample"]), out_path, plt)


def _finish(fig, axes, n: int, columns: int, title: str, total: int, out_path, plt) -> Path:
    """Blank the unused panels, title the figure and write it atomically."""
    for ax in axes.ravel()[n * columns:] if n else axes.ravel():
        ax.axis("off")
    if total > n:
        title += f" (first {n} shown)"
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    out_path = Path(out_path)
    atomic_write(out_path, lambda tmp: fig.savefig(tmp, dpi=80, format="png"))
    plt.close(fig)
    return out_path


def _release_figure(data: dict, meta: dict, npz_path, out_path, max_samples: int, plt) -> Path:
    """Per sample: the apex crop with its 68 landmarks and face box (red where the face was not
    found on the padded crop: face_source unpadded or crop_box, preprocess/release.py), then the release's u, v and
    strain images as stored (0..255, min-max per image)."""
    n = min(len(data["sample"]), max_samples)
    sources = {m["sample"]: (m.get("face_source", "?"), m.get("face_fallback", False)) for m in meta.get("samples", [])}
    fig, axes = plt.subplots(max(n, 1), 4, figsize=(1.6 * 4, 1.7 * max(n, 1) + 0.6), squeeze=False)
    for i in range(n):
        apex, flow = data["apex_rgb"][i], data["flow"][i].astype(np.float32)
        scale = float(data["align_matrix"][i][0, 0])
        points, box = data["landmarks"][i] * scale, data["face_box"][i] * scale
        source, fallback = sources.get(str(data["sample"][i]), ("?", False))
        colour = "red" if fallback else "cyan"
        panels = [(apex, f"apex crop, face {source}"), (flow[0], "u (0..255)"), (flow[1], "v (0..255)"),
                  (flow[2], "strain (0..255)")]
        for j, (image, title) in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255 if image.ndim == 2 else None)
            ax.set_title(title, fontsize=6)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[i, 0].plot(points[:, 0], points[:, 1], ".", color=colour, ms=1.5)
        axes[i, 0].plot(box[[0, 2, 2, 0, 0]], box[[1, 1, 3, 3, 1]], "-", color=colour, lw=0.6)
        axes[i, 0].set_xlim(-0.5, apex.shape[1] - 0.5)       # the box may reach past the crop
        axes[i, 0].set_ylim(apex.shape[0] - 0.5, -0.5)
        axes[i, 0].set_ylabel(str(data["sample"][i]), fontsize=7)
    title = f"{meta.get('subject', Path(npz_path).stem)}: {len(data['sample'])} samples (release images)"
    fallbacks = sum(f for _, f in sources.values())
    if fallbacks:
        title += f", {fallbacks} face fallback(s)"
    return _finish(fig, axes, n, 4, title, len(data["sample"]), out_path, plt)
