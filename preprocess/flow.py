"""Optical flow (TV-L1 or Farneback), global-motion removal, optical strain and normalisation.

Flow is computed on aligned grey crops of side ``flow_size``; u is the horizontal, v the vertical
displacement in pixels of that grid (a feature at (x, y) in the first image is at (x + u, y + v) in
the second). Optical strain is the magnitude of the infinitesimal strain tensor of the flow:

    strain = sqrt(ux^2 + vy^2 + 1/2 (uy + vx)^2)

with spatial derivatives by central differences (``np.gradient``, one-sided at the border), in
pixels per pixel (dimensionless). It is invariant to translation and to small rotations, so head
drift hardly shows in it.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

TVL1_DEFAULTS = dict(tau=0.25, lambda_=0.15, theta=0.3, nscales=5, warps=5, epsilon=0.01,
                     inner_iterations=30, outer_iterations=10, scale_step=0.8, median_filtering=5)
FARNEBACK_DEFAULTS = dict(pyr_scale=0.5, levels=3, winsize=9, iterations=3, poly_n=5, poly_sigma=1.1)


@functools.lru_cache(maxsize=8)
def _tvl1(params: tuple):
    p = dict(params)
    return cv2.optflow.DualTVL1OpticalFlow_create(
        tau=p["tau"], lambda_=p["lambda_"], theta=p["theta"], nscales=int(p["nscales"]), warps=int(p["warps"]),
        epsilon=p["epsilon"], innnerIterations=int(p["inner_iterations"]),
        outerIterations=int(p["outer_iterations"]), scaleStep=p["scale_step"],
        medianFiltering=int(p["median_filtering"]))


def optical_flow(first: np.ndarray, second: np.ndarray, method: str = "tvl1", params: dict | None = None) -> np.ndarray:
    """(2, H, W) float32 flow (u, v) from grey uint8 ``first`` to ``second``."""
    if first.shape != second.shape or first.ndim != 2:
        raise ValueError(f"flow needs two grey images of one shape, got {first.shape} and {second.shape}")
    if method == "tvl1":
        p = {**TVL1_DEFAULTS, **(params or {})}
        flow = _tvl1(tuple(sorted(p.items()))).calc(first, second, None)
    elif method == "farneback":
        p = {**FARNEBACK_DEFAULTS, **(params or {})}
        flow = cv2.calcOpticalFlowFarneback(first, second, None, p["pyr_scale"], int(p["levels"]), int(p["winsize"]),
                                            int(p["iterations"]), int(p["poly_n"]), p["poly_sigma"], 0)
    else:
        raise ValueError(f"unknown flow method {method!r}; expected 'tvl1' or 'farneback'")
    return np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)


def face_mask(size: int, margin: float = 0.0) -> np.ndarray:
    """(size, size) bool ellipse covering the face in the canonical crop (eyes 0.38, mouth 0.78 of the side)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) / size
    cx, cy, rx, ry = 0.5, 0.55, 0.42 - margin, 0.45 - margin
    return ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0


def _design(height: int, width: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack([np.ones(height * width), xs.ravel(), ys.ravel()], axis=1)


def fit_affine(flow: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(3, 2) coefficients of the affine field (u, v) = c0 + c1 x + c2 y fitted by least squares to
    ``flow`` inside ``mask`` (robust: two passes, the second without the 20 % of pixels that fit
    worst, which is where local motion is)."""
    _, height, width = flow.shape
    design = _design(height, width)
    target = flow.reshape(2, -1).T.astype(np.float64)
    keep = np.ones(height * width, bool) if mask is None else mask.ravel().copy()
    for _ in range(2):
        coef, *_ = np.linalg.lstsq(design[keep], target[keep], rcond=None)
        residual = np.linalg.norm(target - design @ coef, axis=1)
        cut = np.quantile(residual[keep], 0.8)
        keep = keep & (residual <= cut)
    return coef


def fit_affine_motion(flow: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(2, H, W) affine flow field fitted to ``flow`` inside ``mask`` (fit_affine)."""
    _, height, width = flow.shape
    return (_design(height, width) @ fit_affine(flow, mask)).T.reshape(2, height, width).astype(np.float32)


def motion_matrix(coef: np.ndarray) -> np.ndarray:
    """(3, 3) map p -> p + (u, v)(p) of an affine field's coefficients (fit_affine)."""
    (u0, v0), (ux, vx), (uy, vy) = coef
    return np.array([[1.0 + ux, uy, u0], [vx, 1.0 + vy, v0], [0.0, 0.0, 1.0]])


def remove_global_motion(flow: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``flow`` minus its fitted affine (head) motion; local (AU) motion stays."""
    return flow - fit_affine_motion(flow, mask)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """(H, W) float32 strain magnitude sqrt(ux^2 + vy^2 + 1/2 (uy + vx)^2) of a (2, H, W) flow."""
    u, v = flow[0].astype(np.float64), flow[1].astype(np.float64)
    uy, ux = np.gradient(u)
    vy, vx = np.gradient(v)
    return np.sqrt(ux ** 2 + vy ** 2 + 0.5 * (uy + vx) ** 2).astype(np.float32)


def normalise(field: np.ndarray, method: str = "none") -> np.ndarray:
    """(3, H, W) u, v, strain -> normalised copy.

    ``none``: unchanged (u, v in pixels of the flow grid, strain dimensionless).
    ``max``: u and v divided by the sample's largest flow magnitude, strain by its largest value,
    so each sample lies in [-1, 1] (u, v) and [0, 1] (strain) whatever the motion's size.
    """
    if method == "none":
        return field
    if method != "max":
        raise ValueError(f"unknown flow normalisation {method!r}; expected 'none' or 'max'")
    out = field.astype(np.float32).copy()
    peak = float(np.sqrt(out[0] ** 2 + out[1] ** 2).max())
    if peak > 0:
        out[:2] /= peak
    top = float(out[2].max())
    if top > 0:
        out[2] /= top
    return out


def flow_with_strain(first: np.ndarray, second: np.ndarray, method: str = "tvl1", params: dict | None = None,
                     remove_global: bool = True, normalisation: str = "none") -> np.ndarray:
    """(3, H, W) float32: u, v (global motion removed if asked) and strain, normalised as asked."""
    flow = optical_flow(first, second, method, params)
    if remove_global:
        flow = remove_global_motion(flow, face_mask(flow.shape[1]))
    return normalise(np.concatenate([flow, optical_strain(flow)[None]], axis=0), normalisation)


def flow_to_colour(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """RGB uint8 picture of a (2, H, W) flow: hue = direction, value = magnitude."""
    u, v = flow[0], flow[1]
    magnitude, angle = cv2.cartToPolar(u.astype(np.float32), v.astype(np.float32), angleInDegrees=True)
    top = max_magnitude or float(magnitude.max()) or 1.0
    hsv = np.zeros((*u.shape, 3), np.uint8)
    hsv[..., 0] = (angle / 2).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude / top * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
