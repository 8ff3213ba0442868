"""Every registered model on a tiny CPU input, plus (FAMNet branches) attention, masked multi-task
loss, fusion, checkpoint round trip and local pretrained weights. Nothing is downloaded
(weights=None everywhere). The baselines' structure against their papers: tests/test_baselines.py."""

import functools
import json

import numpy as np
import pytest
import torch
import torchvision

from famnet.models.branch import AttentiveResNet
from famnet.models import (DEFAULT_AUS, RANDOM_INIT, AttentionBlock, ChannelAttention, FAMNetFusion,
                           ModelOutput, SpatialAttention, TemporalAttention, count_parameters, create_model,
                           fuse_scores, list_models, multitask_loss)

MODELS = list_models()
# The FAMNet branches (ResNet + attention + AU head); the rest are the single-task baselines.
AMNET = [name for name in MODELS if name.startswith("amnet")]
N, C = 2, 3


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny inputs: one thread is faster than two on a shared machine (no oversubscription)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def arch(name):
    """The torchvision architecture of a registered model's backbone."""
    return create_model(name, attention=False, aus=[]).arch


def tiny_input(model, seed=0):
    """2×C×64×64 images or 2×3×4×32×32 clips (FAMNet branches: any size), a baseline's own input."""
    if not isinstance(model, AttentiveResNet):
        shape = model.default_input_shape
    elif len(model.default_input_shape) == 4:
        shape = (model.in_channels, 4, 32, 32)
    else:
        shape = (model.in_channels, 64, 64)
    return torch.randn(N, *shape, generator=torch.Generator().manual_seed(seed))


def au_batch(k, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.tensor([0, 2])
    targets = (torch.rand(N, k, generator=g) > 0.5).float()
    mask = torch.tensor([True, False])   # sample 1: AUs unknown (a SMIC sample)
    return labels, targets, mask


def first_conv(model):
    return model.get_submodule(model.first_layer)


TORCHVISION = {"resnet18": torchvision.models.resnet18, "r3d_18": torchvision.models.video.r3d_18}


@pytest.fixture(scope="module")
def torchvision_files(tmp_path_factory):
    """Lazily saved torchvision state dicts, one file per architecture: get(arch) -> (path, state)."""
    folder, files = tmp_path_factory.mktemp("weights"), {}

    def get(arch):
        if arch not in files:
            torch.manual_seed(1)
            state = TORCHVISION[arch](weights=None).state_dict()   # weights=None: nothing downloads
            torch.save(state, folder / f"{arch}.pth")
            files[arch] = (folder / f"{arch}.pth", state)
        return files[arch]
    return get


# --- every registered model -------------------------------------------------------------------

def test_registry():
    assert {"amnet2d", "amnet3d"} <= set(MODELS)
    with pytest.raises(ValueError, match="unknown model 'resnet50'.*amnet2d"):
        create_model("resnet50")
    with pytest.raises(ValueError, match="attenton"):
        create_model("amnet2d", attenton=False)          # a typo never silently becomes a default
    with pytest.raises(ValueError, match="temporal_attention"):
        create_model("amnet2d", temporal_attention=True)  # a 3D-only key


@pytest.mark.parametrize("name", MODELS)
def test_every_model_gives_finite_scores_and_gradients_reach_its_first_layer(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=C)
    assert model.model_name == name and model.pretrained_source == RANDOM_INIT
    out = model(tiny_input(model))
    assert isinstance(out, ModelOutput) and out.emotion.shape == (N, C)
    assert torch.isfinite(out.emotion).all()
    assert out.aus.shape == ((N, len(DEFAULT_AUS)) if name in AMNET else (N, 0))   # baselines: emotion only
    torch.nn.functional.cross_entropy(out.emotion, torch.tensor([0, 2])).backward()
    grad = first_conv(model).weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    with pytest.raises(ValueError, match="expects"):
        model(torch.zeros(N, 1, 8, 8))     # a wrong input is named, never silently broadcast


@pytest.mark.parametrize("name", AMNET)
def test_forward_shapes_finite_and_gradients_reach_first_conv(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=C)
    assert model.config.aus == DEFAULT_AUS
    out = model(tiny_input(model))
    assert isinstance(out, ModelOutput)
    assert out.emotion.shape == (N, C) and out.aus.shape == (N, len(DEFAULT_AUS))
    assert torch.isfinite(out.emotion).all() and torch.isfinite(out.aus).all()
    features = model.forward_features(tiny_input(model))
    assert model.forward_head(features, pre_logits=True).shape == (N, 512)

    labels, targets, mask = au_batch(len(DEFAULT_AUS))
    multitask_loss(out, labels, targets, mask).total.backward()
    grad = first_conv(model).weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert model.head.aus.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", AMNET)
def test_attention_is_hierarchical_and_keeps_shapes(name):
    model = create_model(name)
    blocks = {n: m for n, m in model.named_modules() if isinstance(m, AttentionBlock)}
    assert sorted(blocks) == [f"attention.layer{i}" for i in range(1, 5)]
    is_3d = len(model.default_input_shape) == 4
    assert all((b.temporal is not None) == is_3d for b in blocks.values())
    seen = []
    hooks = [b.register_forward_hook(lambda m, args, out: seen.append((args[0].shape, out.shape, out)))
             for b in blocks.values()]
    model(tiny_input(model))
    for h in hooks:
        h.remove()
    assert len(seen) == 4
    for in_shape, out_shape, out in seen:
        assert in_shape == out_shape and torch.isfinite(out).all()


@pytest.mark.parametrize("name", AMNET)
def test_without_attention_ablation(name):
    full = create_model(name)
    plain = create_model(name, attention=False)
    attention_types = (AttentionBlock, ChannelAttention, SpatialAttention, TemporalAttention)
    assert not any(isinstance(m, attention_types) for m in plain.modules())
    assert count_parameters(plain) < count_parameters(full)
    assert count_parameters(plain.backbone) == count_parameters(full.backbone)
    assert plain(tiny_input(plain)).emotion.shape == (N, 3)
    last_only = create_model(name, attention_stages=[4])
    assert list(last_only.attention) == ["layer4"]


@pytest.mark.parametrize("name", AMNET)
def test_no_au_head(name):
    model = create_model(name, aus=[])
    assert model.head.aus is None
    out = model(tiny_input(model))
    assert out.aus.shape == (N, 0)
    parts = multitask_loss(out, torch.tensor([0, 1]), torch.zeros(N, 0), torch.ones(N, dtype=torch.bool))
    assert parts.aus.item() == 0.0 and torch.equal(parts.total, parts.emotion)


@pytest.mark.parametrize("name", AMNET)
def test_au_mask_removes_masked_samples(name):
    """Changing a masked sample's AU targets changes neither the loss nor any gradient."""
    torch.manual_seed(0)
    model = create_model(name).eval()   # eval: no dropout, so the two passes see the same network
    x = tiny_input(model)
    labels, targets, mask = au_batch(len(DEFAULT_AUS))
    other = targets.clone()
    other[~mask] = 1.0 - other[~mask]
    other[1, 0] = float("nan")           # unknown AUs may be stored as NaN

    def loss_and_grads(au_targets):
        model.zero_grad()
        loss = multitask_loss(model(x), labels, au_targets, mask).total
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    loss_a, grads_a = loss_and_grads(targets)
    loss_b, grads_b = loss_and_grads(other)
    assert torch.equal(loss_a, loss_b)
    assert len(grads_a) == len(grads_b) and all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))


@pytest.mark.parametrize("name", AMNET)
def test_state_dict_round_trip(name, tmp_path):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4, aus=[1, 2, 12], dropout=0.2).eval()
    x = tiny_input(model)
    expected = model(x)
    checkpoint = {"model": model.model_name, "config": model.config.to_dict(), "state_dict": model.state_dict()}
    json.dumps(checkpoint["config"])     # plain types: a checkpoint or a YAML file can carry it
    torch.save(checkpoint, tmp_path / "ckpt.pt")

    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    torch.manual_seed(123)               # different random init: everything must come from the file
    again = create_model(loaded["model"], **loaded["config"])
    again.load_state_dict(loaded["state_dict"])
    again.eval()
    assert again.config == model.config
    out = again(x)
    assert torch.equal(out.emotion, expected.emotion) and torch.equal(out.aus, expected.aus)


@pytest.mark.parametrize("name", AMNET)
def test_wrong_weights_file_gives_its_message(name, tmp_path, torchvision_files):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=f"cannot read {junk}"):
        create_model(name, pretrained=str(junk))
    with pytest.raises(ValueError, match="no such file"):
        create_model(name, pretrained=str(tmp_path / "absent.pth"))

    path, state = torchvision_files(arch(name))
    conv = next(k for k in state if k.startswith("layer2.0.conv1") and k.endswith("weight"))
    stat = next(k for k in state if k.startswith("layer3.0") and k.endswith("running_mean"))
    bad = dict(state)
    bad[conv] = torch.zeros(3, 3)
    del bad[stat]
    bad["extra.weight"] = torch.zeros(1)
    bad_path = tmp_path / "bad.pth"
    torch.save(bad, bad_path)
    with pytest.raises(ValueError) as err:
        create_model(name, pretrained=bad_path)
    message = str(err.value)
    assert str(bad_path) in message
    assert f"shape mismatch: {conv} (file (3, 3)" in message
    assert f"missing keys: {stat}" in message and "unexpected keys: extra.weight" in message


@pytest.mark.parametrize("name", AMNET)
def test_pretrained_torchvision_file_is_loaded(name, torchvision_files):
    path, state = torchvision_files(arch(name))
    model = create_model(name, pretrained=str(path))
    assert model.pretrained_source == str(path) and model.config.pretrained == str(path)
    loaded = model.backbone.state_dict()
    conv_key = model.first_conv.removeprefix("backbone.") + ".weight"
    assert set(loaded) == {k for k in state if not k.startswith("fc.")}   # the classifier is dropped
    for key, value in loaded.items():
        if key != conv_key:
            assert torch.equal(value, state[key]), key
    rgb = state[conv_key]
    conv = loaded[conv_key]
    if model.in_channels == 3:
        assert torch.equal(conv, rgb)
    else:   # documented rule: RGB kernels for channels 0-2, their mean for every extra (flow) channel
        assert torch.equal(conv[:, :3], rgb)
        for c in range(3, model.in_channels):
            assert torch.allclose(conv[:, c], rgb.mean(dim=1))


# --- modules on their own ---------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 16, 8, 8), (2, 16, 3, 8, 8)])
def test_attention_modules_keep_shapes(shape):
    torch.manual_seed(0)
    x = torch.randn(*shape)
    dims = len(shape) - 2
    modules = [ChannelAttention(16, reduction=4), SpatialAttention(7, dims=dims),
               AttentionBlock(16, dims=dims, reduction=4, temporal=dims == 3)]
    if dims == 3:
        modules.append(TemporalAttention(16, reduction=4))
    for module in modules:
        y = module(x)
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert (y.abs() <= x.abs() + 1e-6).all()     # weights in (0, 1) only rescale
    with pytest.raises(ValueError):
        AttentionBlock(16, dims=2, temporal=True)


def test_multitask_loss_masking_and_weights():
    torch.manual_seed(0)
    emotion = torch.randn(4, 3, requires_grad=True)
    aus = torch.randn(4, 5, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 1])
    targets = (torch.rand(4, 5) > 0.5).float()
    mask = torch.tensor([True, False, True, False])
    parts = multitask_loss(ModelOutput(emotion, aus), labels, targets, mask, au_weight=0.7)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(aus[mask], targets[mask])
    ce = torch.nn.functional.cross_entropy(emotion, labels)
    assert torch.allclose(parts.aus, bce) and torch.allclose(parts.emotion, ce)
    assert torch.allclose(parts.total, ce + 0.7 * bce)
    parts.total.backward()
    assert (aus.grad[~mask] == 0).all() and (aus.grad[mask] != 0).any()

    # masked rows: arbitrary logits and targets (even NaN) change nothing
    aus2 = aus.detach().clone()
    aus2[~mask] = 1e3
    targets2 = targets.clone()
    targets2[~mask] = float("nan")
    parts2 = multitask_loss(ModelOutput(emotion, aus2), labels, targets2, mask, au_weight=0.7)
    assert torch.equal(parts2.total, parts.total)

    none_known = multitask_loss(ModelOutput(emotion, aus), labels, targets, torch.zeros(4, dtype=torch.bool))
    assert none_known.aus.item() == 0.0 and torch.equal(none_known.total, none_known.emotion)
    assert torch.isfinite(none_known.total)

    no_au_task = multitask_loss(ModelOutput(emotion, aus), labels, targets, mask, au_weight=0.0)
    assert torch.equal(no_au_task.total, ce) and no_au_task.aus.item() > 0   # still reported

    weights = torch.tensor([1.0, 2.0, 0.5])
    weighted = multitask_loss(ModelOutput(emotion, aus), labels, targets, mask, class_weights=weights)
    assert torch.allclose(weighted.emotion, torch.nn.functional.cross_entropy(emotion, labels, weight=weights))
    with pytest.raises(ValueError, match="AU targets"):
        multitask_loss(ModelOutput(emotion, aus), labels, targets[:, :2], mask)


def test_fusion_of_saved_scores():
    rng = np.random.default_rng(0)
    s2d, s3d = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    softmax = lambda s: np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)   # noqa: E731

    fused = fuse_scores(s2d, s3d)
    assert isinstance(fused, np.ndarray) and fused.shape == (5, 3)
    np.testing.assert_allclose(fused.sum(axis=1), 1.0)
    np.testing.assert_allclose(fused, 0.5 * softmax(s2d) + 0.5 * softmax(s3d))
    np.testing.assert_allclose(fuse_scores(s2d, s3d, weight=1.0), softmax(s2d))
    np.testing.assert_allclose(fuse_scores(s2d, s3d, weight=0.0), softmax(s3d))
    geometric = fuse_scores(s2d, s3d, weight=0.3, mode="logit_mean")
    np.testing.assert_allclose(geometric, softmax(0.3 * s2d + 0.7 * s3d))
    np.testing.assert_allclose(geometric.sum(axis=1), 1.0)

    t2d, t3d = torch.tensor(s2d, dtype=torch.float32), torch.tensor(s3d, dtype=torch.float32)
    module_out = FAMNetFusion(weight=0.5)(t2d, t3d)
    assert isinstance(module_out, torch.Tensor)
    np.testing.assert_allclose(module_out.numpy(), fused, rtol=1e-5)

    with pytest.raises(ValueError, match="weight"):
        fuse_scores(s2d, s3d, weight=1.5)
    with pytest.raises(ValueError, match="mode"):
        FAMNetFusion(mode="max")
    with pytest.raises(ValueError, match="shape"):
        fuse_scores(s2d, s3d[:, :2])


def test_backbone_parameter_counts_match_torchvision():
    # torchvision resnet18 = 11,689,512 parameters, of which fc (512×1000 + 1000) = 513,000
    assert count_parameters(create_model("amnet2d").backbone) == 11_689_512 - 513_000
    assert count_parameters(create_model("amnet3d").backbone) == \
        count_parameters(torchvision.models.video.r3d_18(weights=None)) - (512 * 400 + 400)


def _resnet18_parameters(widths: tuple[int, ...], in_channels: int, kernel: tuple[int, ...]) -> int:
    """Parameters of a ResNet18 backbone (no classifier) from its layer list: stem conv + BN, then
    two BasicBlocks per stage (two k^d convs + BNs, a 1^d conv + BN where the shape changes)."""
    k, stem = int(np.prod(kernel)), widths[0]
    stem_kernel = 7 * 7 * (3 if len(kernel) == 3 else 1)
    total = in_channels * stem * stem_kernel + 2 * stem
    previous = stem
    for stage, width in enumerate(widths):
        for block in range(2):
            first = previous if block == 0 else width
            total += first * width * k + 2 * width + width * width * k + 2 * width
            if block == 0 and (stage > 0 or first != width):
                total += first * width + 2 * width
        previous = width
    return total


def test_width_scales_every_stage_and_width_one_is_torchvision():
    from famnet.models.amnet2d import ScaledResNet18
    from famnet.models.amnet3d import ScaledR3D18

    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}
    # the scaled classes at width 1 are torchvision's networks, tensor for tensor
    assert shapes(ScaledResNet18(1.0)) == shapes(torchvision.models.resnet18(weights=None))
    assert shapes(ScaledR3D18(1.0)) == shapes(torchvision.models.video.r3d_18(weights=None))
    # at the demo's 0.25: 16..128 channels, counted from the layer list
    assert count_parameters(create_model("amnet2d", width=0.25).backbone) == _resnet18_parameters((16, 32, 64, 128), 3, (3, 3))
    assert count_parameters(create_model("amnet2d", width=1.0).backbone) == _resnet18_parameters((64, 128, 256, 512), 3, (3, 3))
    assert count_parameters(create_model("amnet3d", width=0.25).backbone) == \
        _resnet18_parameters((16, 32, 64, 128), 3, (3, 3, 3))
    model = create_model("amnet3d", width=0.25, input="clip_diff").eval()
    features = model.forward_features(torch.randn(N, 3, 4, 32, 32))
    assert features.shape[1] == 128 and model(torch.randn(N, 3, 4, 32, 32)).emotion.shape == (N, 3)
    assert create_model("amnet2d_apex_flow", width=0.5).backbone.conv1.weight.shape == (32, 6, 7, 7)
    with pytest.raises(ValueError, match="fit the standard widths only; width is 0.5"):
        create_model("amnet2d", width=0.5, pretrained="weights.pth")
    with pytest.raises(ValueError, match="width must be in"):
        create_model("amnet3d", width=0)
